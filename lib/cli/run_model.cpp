#include "cli/run_model.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/output.hpp"
#include "core/error.hpp"
#include "data/batch_loader.hpp"
#include "engine/inference_net.hpp"
#include "model/summary.hpp"

namespace alexnet {

std::string no_weights_message() {
    return "no weights given: pass --weights FILE or set ALEXNET_WEIGHTS. Pretrained AlexNet weights from "
           "torchvision (alexnet-owt-7be5be79.pth), the Caffe model zoo (bvlc_alexnet.caffemodel) and the ONNX "
           "model zoo (bvlcalexnet-12.onnx) are read directly (alexnet-embed --convert OUT.safetensors makes "
           "later loads faster), or train your own with alexnet-train";
}

LoadedModel load_tool_model(const CommonOptions& o) {
    if (o.weights.empty()) throw UsageError(no_weights_message());
    LoadedModel m = load_model(o.weights, o.arch);
    apply_overrides(o, m.spec);
    return m;
}

void print_summary(const CommonOptions& o) {
    const ModelSpec spec = o.weights.empty() ? make_preset(o.arch.empty() ? "alexnet" : o.arch) : load_tool_model(o).spec;
    JsonLines().write(to_json(summarize(spec)));
}

int run_images(const CommonOptions& o, LoadedModel& model, const std::string& layer, const ResultFn& emit) {
    set_num_threads(o.threads);
    const auto t0 = std::chrono::steady_clock::now();
    const CropMode mode = parse_crop_mode(o.crop);
    const int crops = crops_per_image(mode);
    PathSource source(o.inputs);
    int images_per_batch = std::max(1, o.batch / crops);
    if (auto n = source.known_count()) {
        if (*n == 0) {
            log_info(o.quiet, "no images among the inputs");
            return 0;
        }
        images_per_batch = int(std::min<size_t>(size_t(images_per_batch), *n));
    }
    // Decoding starts first, so it overlaps with the weight reorders of the network build.
    BatchLoader loader(source, model.spec.preprocessing, mode, images_per_batch);
    InferenceNet net(model.spec, model.weights, images_per_batch * crops, layer, /*release_weights=*/true);
    const int dim = int(net.output_shape().size());
    std::vector<float> out(size_t(net.batch()) * dim), mean(dim);
    int failed = 0, done = 0;
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
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char summary[160];
    std::snprintf(summary, sizeof summary, "%d images (%d failed) in %.2f s, %.1f images/s", done, failed, s,
                  done / std::max(s, 1e-9));
    log_info(o.quiet, summary);
    return failed;
}

}  // namespace alexnet
