#include "cli/convert_options.hpp"

#include "cli/options.hpp"
#include "io/json_lines.hpp"

namespace alexnet {

void add_convert_options(CLI::App& app, ConvertCli& o) {
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later flag overrides
    app.add_option("input", o.input,
                   "Weights: safetensors, PyTorch .pth, Caffe .caffemodel (+ prototxt beside it) or ONNX")
        ->required();
    app.add_option("-o,--output", o.output,
                   "OUT.safetensors (ours, full metadata), OUT.onnx (opset 13, preprocessing and labels in "
                   "metadata_props), or with --names torchvision OUT.pth / OUT.safetensors (PyTorch's state dict)")
        ->required();
    app.add_option("--arch", o.arch,
                   "alexnet | caffenet | alexnet-tv | alexnet-28 | alexnet-32 | convnet-4 | convnet-18pct: settles what "
                   "weights cannot tell (caffenet's pool-before-LRN order)");
    app.add_option("--names", o.names,
                   "ours | torchvision: tensor names and file of the output (torchvision: features.0.weight ... "
                   "classifier.6.bias, for alexnet-tv models)")
        ->check(one_of({"ours", "torchvision"}))
        ->capture_default_str();
    add_quiet_option(app, o.quiet);
}

LoadedModel load_convert_input(const ConvertCli& o) { return load_model(o.input, o.arch); }

}  // namespace alexnet
