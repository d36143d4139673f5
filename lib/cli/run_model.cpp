#include "cli/run_model.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include "io/json_lines.hpp"
#include "core/error.hpp"
#include "data/batch_loader.hpp"
#include "engine/inference_net.hpp"
#include "model/summary.hpp"

namespace alexnet {

using clock_type = std::chrono::steady_clock;

void print_summary(const CommonOptions& o) {
    const ModelSpec spec = o.weights.empty() ? make_preset(o.arch.empty() ? "alexnet" : o.arch) : load_tool_model(o).spec;
    JsonLines().write(to_json(summarize(spec)));
}

int run_images(const CommonOptions& o, LoadedModel& model, const std::string& layer, const ResultFn& emit) {
    set_num_threads(o.threads);
    const auto t0 = clock_type::now();
    const CropMode mode = parse_crop_mode(o.crop);
    const int crops = crops_per_image(mode);
    const std::string tool = program_invocation_short_name;
    PathSource source(o.inputs, o.null_separated);
    int images_per_batch = std::max(1, o.batch / crops);
    const std::optional<size_t> known = source.known_count();
    if (known) {
        if (*known == 0) throw Error("", "no images among the inputs (" + source.emptiness() + ")");
        images_per_batch = int(std::min<size_t>(size_t(images_per_batch), *known));
    }
    const Precision precision = resolve_precision(o, model);
    // Decoding starts first, so it overlaps with the weight reorders of the network build.
    BatchLoader loader(source, model.spec.preprocessing, mode, images_per_batch, o.loader_threads);
    InferenceNet net(model.spec, model.weights, images_per_batch * crops, layer, /*release_weights=*/true, precision);
    if (precision != Precision::fp32) log_info(o.quiet, tool + ": " + net.plan());
    const int dim = int(net.output_shape().size());
    std::vector<float> out(size_t(net.batch()) * dim), mean(dim);
    int failed = 0, done = 0;
    const bool tty = isatty(2) && !o.quiet;
    auto t_report = t0;
    auto rate = [&] { return done / std::max(std::chrono::duration<double>(clock_type::now() - t0).count(), 1e-9); };
    while (std::optional<Batch> batch = loader.next()) {
        if (batch->decoded > 0) net.forward(batch->data.data(), out.data());
        for (const auto& item : batch->items) {
            if (!item.error.empty()) {
                ++failed;
                emit(item.path, item.error, nullptr, dim);
                continue;
            }
            const float* rows = out.data() + size_t(item.image) * crops * dim;
            if (crops == 1) {
                emit(item.path, "", rows, dim);
                continue;
            }
            std::fill(mean.begin(), mean.end(), 0.f);
            for (int c = 0; c < crops; ++c)
                for (int i = 0; i < dim; ++i) mean[i] += rows[size_t(c) * dim + i];
            for (auto& v : mean) v /= float(crops);
            emit(item.path, "", mean.data(), dim);
        }
        done += int(batch->items.size());
        loader.recycle(std::move(*batch));
        if (tty && clock_type::now() - t_report > std::chrono::milliseconds(200)) {  // progress, in place
            t_report = clock_type::now();
            std::cerr << "\r" << tool << ": " << done << (known ? "/" + std::to_string(*known) : std::string())
                      << " images, " << failed << " failed, " << fixed(rate(), 1) << " images/s   " << std::flush;
        }
    }
    if (tty && t_report != t0) std::cerr << '\n';
    if (done == 0) throw Error("", "no images among the inputs (" + source.emptiness() + ")");
    for (const std::string& note : source.notes()) log_info(o.quiet, tool + ": " + note);
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    log_info(o.quiet, tool + ": " + std::to_string(done) + " images (" + std::to_string(failed) + " failed) in " +
                          fixed(s, 2) + " s, " + fixed(rate(), 1) + " images/s");
    return failed;
}

}  // namespace alexnet
