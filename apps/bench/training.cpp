// Training steps, like `caffe time` for training, and their data-parallel costs under mpirun.
#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>

#include "bench/bench.hpp"
#include "core/error.hpp"
#include "engine/train_net.hpp"
#include "parallel/communicator.hpp"
#include "parallel/gradient_reducer.hpp"
#include "train/solver.hpp"

namespace alexnet::bench {

namespace {

// `count` labels cycling through the classes, from item `first` on.
std::vector<int> cycling_labels(int count, int first, int classes) {
    std::vector<int> labels(size_t(count), 0);
    for (int i = 0; i < count; ++i) labels[size_t(i)] = (first + i) % classes;
    return labels;
}

}  // namespace

// Training steps (forward, loss, backward, SGD update) per second at --train-batch, dropout on:
// fp32, and bf16 where --precisions names it and the CPU runs it (a "skipped" line where it does
// not). The precisions' steps alternate, so both see the same machine; bf16's line carries its
// speed-up over fp32.
void training(const Settings& s, const ModelSpec& spec, Lines& out) {
    const int batch = s.train_batch, warmup = std::max(s.warmup, 1);
    std::vector<Precision> precisions{Precision::fp32};
    if (std::find(s.precisions.begin(), s.precisions.end(), "bf16") != s.precisions.end()) {
        if (precision_supported(Precision::bf16)) {
            precisions.push_back(Precision::bf16);
        } else {
            try {
                require_precision_support(Precision::bf16);
            } catch (const Error& e) {
                out.write({{"bench", "training"}, {"arch", spec.arch}, {"precision", "bf16"}, {"skipped", e.what()}});
            }
        }
    }
    struct Run {
        std::unique_ptr<TrainNet> net;
        std::unique_ptr<Sgd> sgd;
        std::vector<double> step_ms, update_ms;
    };
    std::vector<Run> runs;
    for (Precision p : precisions) {
        Run r{std::make_unique<TrainNet>(spec, batch, 0.5f, p), nullptr, {}, {}};
        initialise(spec, r.net->layout(), r.net->params(), "caffe", 1);
        r.sgd = std::make_unique<Sgd>(r.net->layout(), 0.9f, 5e-4f, true);
        runs.push_back(std::move(r));
    }
    const std::vector<float> in = random_input(size_t(batch) * spec.input.size());
    const std::vector<int> labels = cycling_labels(batch, 0, spec.num_classes());
    uint64_t step = 0;
    for (int i = 0; i < warmup + s.runs; ++i, ++step)
        for (Run& r : runs) {
            const double forward_backward =
                time_ms(0, 1, [&] { r.net->train_step(in.data(), labels.data(), step, nullptr); })[0];
            const double update = time_ms(0, 1, [&] { r.sgd->update(r.net->params(), r.net->grads(), 0.001f); })[0];
            if (i < warmup) continue;
            r.step_ms.push_back(forward_backward);
            r.update_ms.push_back(update);
        }
    double fp32_rate = 0;
    for (size_t k = 0; k < runs.size(); ++k) {
        const Run& r = runs[k];
        std::vector<double> total;
        for (size_t i = 0; i < r.step_ms.size(); ++i) total.push_back(r.step_ms[i] + r.update_ms[i]);
        const Stats st = stats(total);
        const double rate = batch * 1000.0 / st.median;
        if (k == 0) fp32_rate = rate;
        nlohmann::ordered_json line{{"bench", "training"}, {"arch", spec.arch}, {"precision", to_string(precisions[k])},
                                    {"batch", batch}, {"images_per_sec", json_float(float(rate))},
                                    {"ms_per_step", to_json(st)},
                                    {"forward_backward_ms_median", json_float(float(stats(r.step_ms).median))},
                                    {"update_ms_median", json_float(float(stats(r.update_ms).median))},
                                    {"runs", s.runs}};
        if (k > 0) line["speedup_vs_fp32"] = json_float(float(rate / fp32_rate));
        out.write(line);
    }
}

// Data-parallel costs, under mpirun: one allreduce of every gradient of `spec`, and a training step
// at the global --train-batch (this rank's share of it) without any sum, with one sum after the
// backward pass, and with buckets summed during it. The ranks start each timed run together; rank
// 0 reports.
void allreduce(const Settings& s, const ModelSpec& spec, Lines& out) {
    Communicator& comm = world();
    const int N = comm.size(), global_batch = s.train_batch, warmup = std::max(s.warmup, 1);
    const Share share = share_of(global_batch, comm.rank(), N);
    check(share.count > 0, "--train-batch", "", "at least one image per process", std::to_string(global_batch));
    TrainNet net(spec, share.count, 0.5f);
    net.set_share(share.offset, global_batch);
    initialise(spec, net.layout(), net.params(), "caffe", 1);
    comm.broadcast(net.params(), net.layout().total * int64_t(sizeof(float)));
    Sgd sgd(net.layout(), 0.9f, 5e-4f, true);
    const auto together = [&comm] {
        double x = 0;
        comm.sum(&x, 1);
    };
    auto timed = [&](const std::function<void()>& run) { return stats(time_ms(warmup, s.runs, run, together)); };

    const int64_t n = net.layout().total;
    const double bytes = double(n) * sizeof(float);
    std::vector<float> buffer(size_t(n), 1.f);
    const Stats sum = timed([&] { comm.wait(comm.start_sum(buffer.data(), n)); });
    out.write({{"bench", "allreduce"}, {"arch", spec.arch}, {"processes", N}, {"floats", n},
               {"megabytes", json_float(float(bytes / 1e6))}, {"ms", to_json(sum)},
               {"algorithm_gb_per_s", json_float(float(bytes / (sum.median * 1e6)))},
               {"bus_gb_per_s", json_float(float(2.0 * (N - 1) / N * bytes / (sum.median * 1e6)))}, {"runs", s.runs}});

    const std::vector<float> in = random_input(size_t(share.count) * spec.input.size());
    const std::vector<int> labels = cycling_labels(share.count, share.offset, spec.num_classes());
    int64_t step = 0;
    auto step_with = [&](GradientReducer* reducer) {
        return timed([&] {
            net.train_step(in.data(), labels.data(), uint64_t(step++), nullptr);
            if (reducer) reducer->finish();
            sgd.update(net.params(), net.grads(), 1e-6f);
        });
    };
    const Stats compute = step_with(nullptr);
    GradientReducer after(comm, net, 0);
    const Stats sum_after = step_with(&after);
    GradientReducer overlapped(comm, net, s.bucket_mb);
    const Stats sum_during = step_with(&overlapped);
    const double exposed_after = sum_after.median - compute.median, exposed_during = sum_during.median - compute.median;
    out.write({{"bench", "data_parallel_step"}, {"arch", spec.arch}, {"processes", N}, {"global_batch", global_batch},
               {"batch_per_process", share.count}, {"ms_compute_only", to_json(compute)},
               {"ms_sum_after_backward", to_json(sum_after)}, {"ms_sum_during_backward", to_json(sum_during)},
               {"buckets", overlapped.buckets()}, {"bucket_mb", s.bucket_mb},
               {"allreduce_share_of_step", json_float(float(exposed_after / sum_after.median))},
               {"overlap_saves_ms", json_float(float(sum_after.median - sum_during.median))},
               {"overlap_hides", json_float(float(exposed_after > 0 ? 1 - exposed_during / exposed_after : 0))},
               {"runs", s.runs}});
}

}  // namespace alexnet::bench
