// Data-parallel pieces without MPI: shares, the gradient buckets (against two identical ranks whose
// sum doubles), sharded inputs, and evaluation counts summed as arrays. mpirun runs: test_mpi.cpp.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>

#include "parallel/communicator.hpp"
#include "data/inputs.hpp"
#include "engine/train_net.hpp"
#include "metrics/topk.hpp"
#include "model/weights.hpp"
#include "test_util.hpp"
#include "parallel/gradient_reducer.hpp"

using namespace alexnet;
using test::random_vector;
using test::TempDir;

namespace {

// Two ranks holding the same gradients: a sum doubles them, at once. Records what was started.
class TwinRanks : public Communicator {
public:
    int rank() const override { return 0; }
    int size() const override { return 2; }
    int local_size() const override { return 2; }
    Ticket start_sum(float* data, int64_t n) override {
        started.push_back({data, n});
        for (int64_t i = 0; i < n; ++i) data[i] *= 2;
        return Ticket(started.size());
    }
    void wait(Ticket t) override { waited.push_back(t); }
    void sum(double*, int64_t) override {}
    void sum(int64_t*, int64_t) override {}
    void max(double*, int64_t) override {}
    void broadcast(void*, int64_t) override {}
    std::vector<std::string> gather(const std::string& mine) override { return {mine, mine}; }
    bool same_everywhere(uint64_t) override { return true; }
    [[noreturn]] void abort(int code) override { throw std::runtime_error("abort " + std::to_string(code)); }

    std::vector<std::pair<float*, int64_t>> started;
    std::vector<Ticket> waited;
};

}  // namespace

TEST_CASE("shares: contiguous, sizes differing by at most one, lower ranks larger") {
    std::vector<Share> s;
    for (int r = 0; r < 3; ++r) s.push_back(share_of(8, r, 3));
    CHECK(s[0].offset == 0);
    CHECK(s[0].count == 3);
    CHECK(s[1].offset == 3);
    CHECK(s[1].count == 3);
    CHECK(s[2].offset == 6);
    CHECK(s[2].count == 2);
    CHECK(share_of(8, 0, 1).count == 8);
    CHECK(share_of(2, 2, 3).count == 0);
    CHECK_THROWS(share_of(8, 3, 3));
}

TEST_CASE("gradient buckets: started during the backward pass, last layer first, each range once") {
    const ModelSpec spec = make_preset("alexnet-28");
    const Weights w = random_weights(spec, 1, 0.05f);
    const int N = 4;
    const std::vector<float> x = random_vector(size_t(N) * spec.input.size(), 2, 1.f);
    const std::vector<int> labels{0, 1, 2, 3};
    TrainNet plain(spec, N, 0.f);
    plain.set_weights(w);
    plain.train_step(x.data(), labels.data(), 1, nullptr);
    const int64_t total = plain.layout().total;

    TwinRanks twins;
    TrainNet net(spec, N, 0.f);
    net.set_weights(w);
    GradientReducer reducer(twins, net, 0.1);  // 0.1 MB: several buckets for this small net
    REQUIRE(reducer.buckets() > 3);
    net.train_step(x.data(), labels.data(), 1, nullptr);
    CHECK(int(twins.started.size()) == reducer.buckets());  // all of them before the step returned
    int64_t end = total;
    for (const auto& [data, n] : twins.started) {  // downwards through the arena, without gaps
        CHECK(data + n == net.grads() + end);
        end -= n;
    }
    CHECK(end == 0);
    reducer.finish();
    CHECK(twins.waited.size() == twins.started.size());
    for (int64_t i = 0; i < total; ++i)
        if (net.grads()[i] != 2 * plain.grads()[i]) FAIL("gradient " << i << ": " << net.grads()[i] << " != 2 x " << plain.grads()[i]);

    // Twice in a row: every bucket starts again in the next step.
    twins.started.clear();
    net.train_step(x.data(), labels.data(), 1, nullptr);
    CHECK(int(twins.started.size()) == reducer.buckets());
    reducer.finish();

    // bucket_mb 0: one sum of everything, after the backward pass.
    TwinRanks after;
    TrainNet net2(spec, N, 0.f);
    GradientReducer one(after, net2, 0);
    CHECK(one.buckets() == 1);
    net2.train_step(x.data(), labels.data(), 1, nullptr);
    CHECK(after.started.empty());
    one.finish();
    REQUIRE(after.started.size() == 1);
    CHECK(after.started[0].first == net2.grads());
    CHECK(after.started[0].second == total);

    // A rank without a readable item adds zeros, and still takes part in every sum.
    TwinRanks idle;
    TrainNet net3(spec, N, 0.f);
    GradientReducer zero(idle, net3, 0.1);
    net3.train_step(x.data(), labels.data(), 1, nullptr);
    zero.finish();
    idle.started.clear();
    zero.reduce_zero();
    CHECK(int(idle.started.size()) == zero.buckets());
    for (int64_t i = 0; i < total; ++i)
        if (net3.grads()[i] != 0.f) FAIL("gradient " << i << " is " << net3.grads()[i]);

    // One process: no buckets, nothing to do.
    struct Single final : TwinRanks {
        int size() const override { return 1; }
    } single;
    TrainNet net4(spec, N, 0.f);
    GradientReducer none(single, net4);
    CHECK(none.buckets() == 0);
    net4.train_step(x.data(), labels.data(), 1, nullptr);
    none.finish();
    CHECK(single.started.empty());
}

TEST_CASE("sharded inputs: process r of N takes blocks r, r + N, ... of the paths") {
    TempDir dir;
    std::vector<std::string> files;
    for (int i = 0; i < 10; ++i) {
        files.push_back(dir / ("img" + std::to_string(i) + ".png"));
        std::ofstream(files.back()) << "x";
    }
    auto paths = [&](int index) {
        PathSource s({dir.path.string()});
        s.keep_share(3, index, 2);
        std::vector<std::string> out;
        while (auto p = s.next()) out.push_back(*p);
        return out;
    };
    CHECK(paths(0) == std::vector<std::string>{files[0], files[1], files[2], files[6], files[7], files[8]});
    CHECK(paths(1) == std::vector<std::string>{files[3], files[4], files[5], files[9]});
}

TEST_CASE("evaluation counts: the parts' arrays summed are the whole's counts") {
    const std::vector<std::vector<float>> scores{{0.1f, 0.7f, 0.2f}, {0.5f, 0.3f, 0.2f}, {0.2f, 0.2f, 0.6f}, {0.3f, 0.4f, 0.3f}};
    const std::vector<int> labels{1, 2, 2, 0};
    Evaluation whole(3, 2), a(3, 2), b(3, 2);
    for (size_t i = 0; i < scores.size(); ++i) {
        whole.add(scores[i].data(), labels[i]);
        (i < 2 ? a : b).add(scores[i].data(), labels[i]);
    }
    std::vector<int64_t> sum = a.counts();
    const std::vector<int64_t> more = b.counts();
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += more[i];
    CHECK(sum == whole.counts());
    Evaluation merged(3, 2);
    merged.set_counts(sum);
    CHECK(merged.total().images == 4);
    CHECK(merged.total().top1 == 2);
    CHECK(merged.confusion(2, 0) == 1);
    CHECK(merged.per_class()[2].topk == 1);
    CHECK_THROWS(merged.set_counts({1, 2, 3}));
}

TEST_CASE("hash_bytes: order, every byte and the length count") {
    const std::string a = "gradients", b = "gradientz", c = "stneidarg";
    CHECK(hash_bytes(a.data(), a.size()) == hash_bytes(a.data(), a.size()));
    CHECK(hash_bytes(a.data(), a.size()) != hash_bytes(b.data(), b.size()));
    CHECK(hash_bytes(a.data(), a.size()) != hash_bytes(c.data(), c.size()));
    const char zero[2] = {0, 0};
    CHECK(hash_bytes(zero, 1) != hash_bytes(zero, 2));
    CHECK(hash_bytes(zero, 0) != hash_bytes(zero, 1));
    // An empty vector's data() may be null (a data set with no labels under mpirun): UBSan
    // reported memcpy from a null pointer here under make sanitize.
    const std::vector<int> none;
    CHECK(hash_bytes(none.data(), 0) == hash_bytes(zero, 0));
}
