// alexnet-convert: weights between formats, and exports to ONNX and PyTorch; one JSON line saying
// what was written.
#include "cli/convert_options.hpp"
#include "cli/options.hpp"
#include "convert/convert.hpp"
#include "io/json_lines.hpp"

using namespace alexnet;

int main(int argc, char** argv) {
    CLI::App app{"Convert AlexNet weights: safetensors, ONNX (opset 13), PyTorch state dicts with torchvision's names",
                 "alexnet-convert"};
    ConvertCli o;
    add_convert_options(app, o);
    return run_tool(app, argc, argv, [&] {
        const ExportFormat format = export_format(o.output, o.names);  // before the model loads
        const LoadedModel model = load_convert_input(o);
        JsonLines().write(convert_model(model, o.output, format));
        return 0;
    });
}
