#include "cli/run_model.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <iostream>
#include <unistd.h>

#include "io/json_lines.hpp"
#include "parallel/communicator.hpp"
#include "core/error.hpp"
#include "data/batch_loader.hpp"
#include "engine/inference_net.hpp"
#include "model/summary.hpp"

namespace alexnet {

using clock_type = std::chrono::steady_clock;

void print_summary(const CommonOptions& o, bool ensemble) {
    if (o.weights.empty()) {
        JsonLines().write(to_json(summarize(make_preset(o.arch.empty() ? "alexnet" : o.arch))));
        return;
    }
    if (!ensemble || o.members.size() <= 1) {
        JsonLines().write(to_json(summarize(load_tool_model(o).spec)));  // (refuses several --weights)
        return;
    }
    for (const LoadedModel& m : load_tool_models(o)) {  // a line per member, named
        nlohmann::ordered_json line{{"weights", m.path}};
        line.update(to_json(summarize(m.spec)));
        JsonLines().write(line);
    }
}

namespace {

// Why `item` is far from the images `spec` was made for ("" when it is not): colour into a grey
// model, or a shorter side 50 times the resize target or a fiftieth of it. Such inputs get
// confident answers that mean little (a night landscape into the Fashion-MNIST model: "Bag", 0.98).
std::string unlike_training(const Batch::Item& item, const ModelSpec& spec) {
    const Preprocessing& p = spec.preprocessing;
    const int shorter = std::min(item.source.width, item.source.height), target = std::max(1, p.resize);
    const bool colour = item.colour && p.channels == 1;
    const bool size = shorter >= 50 * target || 50 * shorter <= target;
    if (!colour && !size) return "";
    return item.path + " is a " + std::to_string(item.source.width) + "x" + std::to_string(item.source.height) + " " +
           (item.colour ? "colour" : "grey") + " image; " + spec.arch + " takes " + (p.channels == 1 ? "grey " : "") +
           "images resized to " + std::to_string(p.resize) + " pixels" +
           (colour ? " (colour is dropped)" : "") +
           ", and its answers for inputs this far from what it was trained on mean little (ImageNet weights: "
           "README, \"ImageNet weights\")";
}

// One rank's results of a batch, for rank 0 to emit: per item its path, error and (when it has no
// error) dim floats, each string preceded by its length.
void put_string(std::string& out, const std::string& s) {
    const uint64_t n = s.size();
    out.append(reinterpret_cast<const char*>(&n), sizeof n).append(s);
}

std::string take_string(const std::string& in, size_t& at) {
    uint64_t n = 0;
    std::memcpy(&n, in.data() + at, sizeof n);
    at += sizeof n;
    std::string s = in.substr(at, size_t(n));
    at += size_t(n);
    return s;
}

// Item `image`'s values in `out`: its row, or the mean of its rows over the crops (into `mean`).
const float* item_values(const std::vector<float>& out, int image, int crops, int dim, std::vector<float>& mean) {
    const float* rows = out.data() + size_t(image) * crops * dim;
    if (crops == 1) return rows;
    std::fill(mean.begin(), mean.end(), 0.f);
    for (int c = 0; c < crops; ++c)
        for (int i = 0; i < dim; ++i) mean[size_t(i)] += rows[size_t(c) * dim + i];
    for (auto& v : mean) v /= float(crops);
    return mean.data();
}

// Several processes: every rank's results of a round (`mine`: path, error and values of each item),
// in rank order, through `count` on rank 0.
void count_gathered(Communicator& comm, const std::string& mine, int dim,
                    const std::function<void(const std::string&, const std::string&, const float*)>& count) {
    std::vector<float> row(static_cast<size_t>(dim));
    for (const std::string& part : comm.gather(mine))
        for (size_t at = 0; at < part.size();) {
            const std::string path = take_string(part, at), error = take_string(part, at);
            if (!error.empty()) {
                count(path, error, nullptr);
                continue;
            }
            std::memcpy(row.data(), part.data() + at, row.size() * sizeof(float));
            at += row.size() * sizeof(float);
            count(path, error, row.data());
        }
}

// Images per batch (the batch size over the crops, at most the inputs' count when known) and, for
// several processes, the rounds each rank runs, its share of the inputs kept in `source`.
int64_t plan_batches(const CommonOptions& o, int crops, Communicator& comm, PathSource& source, int& images_per_batch) {
    images_per_batch = std::max(1, o.batch / crops);
    const std::optional<size_t> known = source.known_count();
    if (known) {
        if (*known == 0) throw Error("", "no images among the inputs (" + source.emptiness() + ")");
        images_per_batch = int(std::min<size_t>(size_t(images_per_batch), *known));
    }
    const int processes = comm.size();
    if (processes == 1) return -1;
    if (!known) throw UsageError("paths from stdin ('-') need one process; under mpirun give the files or folders");
    source.keep_share(images_per_batch, comm.rank(), processes);
    return int64_t((*known + size_t(images_per_batch) * processes - 1) / (size_t(images_per_batch) * processes));
}

// The networks of a run, one per member, and their outputs. Members read their own block of the
// batch (InputBlocks), run one after another, and share a workspace.
class MemberNets {
public:
    // The members' distinct preprocessings and each member's block, for the loader (which starts
    // before the nets are built).
    static InputBlocks blocks_of(const std::vector<LoadedModel*>& members, CropMode mode, std::vector<size_t>& block_of) {
        std::vector<Preprocessing> each;
        for (const LoadedModel* m : members) each.push_back(m->spec.preprocessing);
        return input_blocks_of(each, mode, block_of);
    }

    MemberNets(const CommonOptions& o, const std::vector<LoadedModel*>& members, const InputBlocks& blocks,
               std::vector<size_t> block_of, int images_per_batch, int crops, const std::string& layer, bool quiet)
        : block_of_(std::move(block_of)), blocks_(blocks) {
        for (LoadedModel* m : members) {
            const Precision precision = resolve_precision(o, *m);
            check(blocks.image_floats(block_of_[nets_.size()]) == size_t(crops) * size_t(m->spec.input.size()), m->path,
                  "preprocessing", "crops of the network's input size", "another size");
            nets_.push_back(std::make_unique<InferenceNet>(m->spec, m->weights, images_per_batch * crops, layer,
                                                           /*release_weights=*/true, precision, &workspace_));
            if (precision != Precision::fp32)
                log_info(quiet, std::string(program_invocation_short_name) + ": " +
                                    (members.size() > 1 ? m->path + ": " : "") + nets_.back()->plan());
            check(int(nets_.back()->output_shape().size()) == int(nets_[0]->output_shape().size()), m->path, layer,
                  std::to_string(nets_[0]->output_shape().size()) + " values like " + members[0]->path + "'s",
                  std::to_string(nets_.back()->output_shape().size()));
        }
        dim_ = int(nets_[0]->output_shape().size());
        for (size_t i = 0; i < nets_.size(); ++i) outs_.emplace_back(size_t(nets_[0]->batch()) * dim_);
        mean_.resize(size_t(dim_)), sum_.resize(size_t(dim_));
    }
    int dim() const { return dim_; }

    void forward(const Batch& batch, int images_per_batch) {
        for (size_t i = 0; i < nets_.size(); ++i)
            nets_[i]->forward(batch.data.data() + blocks_.block_offset(block_of_[i], images_per_batch), outs_[i].data());
    }
    // Item `image`'s values: averaged over its crops, then over the members.
    const float* values(int image, int crops) {
        if (nets_.size() == 1) return item_values(outs_[0], image, crops, dim_, mean_);
        std::fill(sum_.begin(), sum_.end(), 0.f);
        for (const auto& out : outs_) {
            const float* v = item_values(out, image, crops, dim_, mean_);
            for (int i = 0; i < dim_; ++i) sum_[size_t(i)] += v[i];
        }
        for (auto& v : sum_) v /= float(nets_.size());
        return sum_.data();
    }

private:
    NetWorkspace workspace_;  // outlives the nets (declared first)
    std::vector<std::unique_ptr<InferenceNet>> nets_;
    std::vector<size_t> block_of_;
    const InputBlocks& blocks_;
    std::vector<std::vector<float>> outs_;
    std::vector<float> mean_, sum_;
    int dim_ = 0;
};

int run_members(const CommonOptions& o, const std::vector<LoadedModel*>& members, const std::string& layer,
                const ResultFn& emit) {
    // Under mpirun rank r of N takes batches r, r + N, ... of the batches one process makes (the
    // same batches, so the same numbers); after each round rank 0 emits every rank's results in
    // rank order, which is input order.
    Communicator& comm = world();
    const int processes = comm.size();
    const bool quiet = o.quiet || comm.rank() != 0;
    set_num_threads(threads_per_process(o.threads));
    const auto t0 = clock_type::now();
    const CropMode mode = parse_crop_mode(o.crop);
    const int crops = crops_per_image(mode);
    const std::string tool = program_invocation_short_name;
    PathSource source(o.inputs, o.null_separated);
    const std::optional<size_t> known = source.known_count();
    int images_per_batch = 1;
    const int64_t rounds = plan_batches(o, crops, comm, source, images_per_batch);  // per rank (several processes)
    // Decoding starts first, so it overlaps with the weight reorders of the network build.
    std::vector<size_t> block_of;
    const InputBlocks blocks = MemberNets::blocks_of(members, mode, block_of);
    BatchLoader loader(source, blocks, images_per_batch, o.loader_threads);
    MemberNets nets(o, members, blocks, block_of, images_per_batch, crops, layer, quiet);
    const int dim = nets.dim();
    const ModelSpec& spec = members[0]->spec;
    int64_t failed = 0, done = 0;  // every rank's (rank 0 counts what it emits)
    const bool tty = isatty(2) && !quiet;
    auto t_report = t0;
    auto rate = [&] { return done / std::max(std::chrono::duration<double>(clock_type::now() - t0).count(), 1e-9); };
    auto count = [&](const std::string& path, const std::string& error, const float* values) {
        ++done;
        failed += !error.empty();
        emit(path, error, values, dim);
    };
    std::string mine;  // this rank's results of a round (several processes)
    bool warned = false;  // about an input unlike the model's training images
    for (int64_t round = 0; processes == 1 || round < rounds; ++round) {
        std::optional<Batch> batch = loader.next();
        if (!batch && processes == 1) break;
        if (batch && batch->decoded > 0) nets.forward(*batch, images_per_batch);
        mine.clear();
        static const std::vector<Batch::Item> none;  // a rank past the end of the inputs
        for (const auto& item : batch ? batch->items : none) {
            const float* v = item.error.empty() ? nets.values(item.image, crops) : nullptr;
            if (v && !warned && lead_process()) {  // once a run
                const std::string why = unlike_training(item, spec);
                if (!why.empty()) log_info(quiet, tool + ": warning: " + why), warned = true;
            }
            if (processes == 1) {
                count(item.path, item.error, v);
                continue;
            }
            put_string(mine, item.path);
            put_string(mine, item.error);
            if (v) mine.append(reinterpret_cast<const char*>(v), size_t(dim) * sizeof(float));
        }
        if (batch) loader.recycle(std::move(*batch));
        if (processes > 1) count_gathered(comm, mine, dim, count);
        if (tty && clock_type::now() - t_report > std::chrono::milliseconds(200)) {  // progress, in place
            t_report = clock_type::now();
            std::cerr << "\r" << tool << ": " << done << (known ? "/" + std::to_string(*known) : std::string())
                      << " images, " << failed << " failed, " << fixed(rate(), 1) << " images/s   " << std::flush;
        }
    }
    if (tty && t_report != t0) std::cerr << '\n';
    int64_t totals[2] = {done, failed};  // rank 0's, so every rank returns the same
    comm.broadcast(totals, sizeof totals);
    done = totals[0], failed = totals[1];
    if (done == 0) throw Error("", "no images among the inputs (" + source.emptiness() + ")");
    for (const std::string& note : source.notes()) log_info(quiet, tool + ": " + note);
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    log_info(quiet, tool + ": " + count_of(done, "image") + " (" + std::to_string(failed) + " failed) in " +
                        fixed(s, 2) + " s, " + fixed(rate(), 1) + " images/s");
    return int(std::min<int64_t>(failed, INT32_MAX));
}

}  // namespace

int run_images(const CommonOptions& o, LoadedModel& model, const std::string& layer, const ResultFn& emit) {
    return run_members(o, {&model}, layer, emit);
}

int run_images(const CommonOptions& o, std::vector<LoadedModel>& members, const std::string& layer,
               const ResultFn& emit) {
    std::vector<LoadedModel*> all;
    for (LoadedModel& m : members) all.push_back(&m);
    return run_members(o, all, layer, emit);
}

}  // namespace alexnet
