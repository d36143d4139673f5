#include "cli/quantize_options.hpp"

#include "cli/options.hpp"
#include "engine/inference_net.hpp"

namespace alexnet {

void add_quantize_options(CLI::App& app, QuantizeCli& cli) {
    add_common_options(app, cli.common, false);
    QuantizeOptions& o = cli.quantize;
    for (const char* unused : {"--crop", "--summary", "--precision"}) app.remove_option(app.get_option(unused));
    app.add_option("--calibrate", o.calibrate,
                   "Calibration images: a folder of images, a path-label list, an IDX file or folder, CIFAR-10 binaries")
        ->required();
    app.add_option("--split", o.split, "Which part of an IDX or CIFAR-10 folder")
        ->check(one_of({"train", "test"}))->capture_default_str();
    app.add_option("--images", o.images, "Calibration images (drawn by a seeded shuffle)")
        ->check(in_range(1, 1000000))->capture_default_str();
    app.add_option("--check-images", o.check_images,
                   "Further images on which each method's int8 network is compared with fp32 (0: the calibration images)")
        ->check(in_range(0, 1000000))->capture_default_str();
    app.add_option("--method", o.method,
                   "auto (try each, keep the best top-1 agreement) | minmax | percentile-P (e.g. percentile-99.99) | entropy")
        ->capture_default_str();
    app.add_option("--keep-float", o.keep_float, "conv/fc layers to leave in f32, e.g. conv1,fc8")->delimiter(',');
    app.add_option("--seed", o.seed, "Which images are drawn")->capture_default_str();
    app.add_option("-o,--output", o.output, "The int8 model to write (safetensors)")->required();
}

int run_quantize(const QuantizeCli& o, JsonLines& out) {
    require_precision_support(Precision::int8);
    set_num_threads(o.common.threads);
    QuantizeOptions q = o.quantize;
    q.weights_arg = o.common.weights, q.batch = o.common.batch, q.loader_threads = o.common.loader_threads;
    q.quiet = o.common.quiet;
    return quantize(q, load_tool_model(o.common), out);
}

}  // namespace alexnet
