#include "convert/convert.hpp"

#include <filesystem>

#include "convert/onnx_export.hpp"
#include "convert/torchvision_names.hpp"
#include "core/error.hpp"
#include "formats/pth.hpp"
#include "formats/safetensors.hpp"
#include "model/quantization.hpp"

namespace alexnet {

namespace {

const char* format_name(ExportFormat f) {
    switch (f) {
        case ExportFormat::safetensors: return "safetensors";
        case ExportFormat::onnx: return "onnx";
        case ExportFormat::torchvision_safetensors: return "safetensors";
        case ExportFormat::torchvision_pth: return "pth";
    }
    return "?";
}

bool torchvision(ExportFormat f) { return f == ExportFormat::torchvision_safetensors || f == ExportFormat::torchvision_pth; }

}  // namespace

ExportFormat export_format(const std::string& output, const std::string& names) {
    check(names == "ours" || names == "torchvision", "--names", "", "ours or torchvision", "'" + names + "'");
    const std::string ext = std::filesystem::path(output).extension().string();
    const bool tv = names == "torchvision";
    if (ext == ".safetensors") return tv ? ExportFormat::torchvision_safetensors : ExportFormat::safetensors;
    if (ext == ".pth" && tv) return ExportFormat::torchvision_pth;
    if (ext == ".onnx" && !tv) return ExportFormat::onnx;
    if (ext == ".pth")
        throw Error("--output", "", "--names torchvision with a .pth file (a PyTorch state dict has PyTorch's names)", output);
    if (ext == ".onnx")
        throw Error("--names", "", "ours (the default) with an .onnx file (ONNX has no tensor names to choose)", "torchvision");
    throw Error("--output", "", "a file ending in .safetensors, .onnx or .pth (.pth with --names torchvision)",
                "'" + output + "'");
}

nlohmann::ordered_json convert_model(const LoadedModel& model, const std::string& output, ExportFormat format) {
    const ModelSpec& spec = model.spec;
    const bool quantized = model.weights.metadata.count(kQuantizationKey) != 0;
    if (quantized && format != ExportFormat::safetensors)
        throw Error(model.path, "int8 models cannot be exported yet: convert the float model it was made from");
    if (torchvision(format)) check_torchvision_layers(spec);
    nlohmann::ordered_json line{{"input", model.path}, {"output", output}, {"format", format_name(format)},
                                {"arch", spec.arch}, {"num_classes", spec.num_classes()},
                                {"names", torchvision(format) ? "torchvision" : "ours"}};
    switch (format) {
        case ExportFormat::safetensors: save_model(output, spec, model.weights, model.labels); break;
        case ExportFormat::onnx: write_onnx(output, spec, model.weights, model.labels); break;
        case ExportFormat::torchvision_safetensors: {
            std::vector<std::string> names;
            Weights tv = torchvision_state_dict(spec, model.weights, names);
            tv.metadata = model_metadata(spec, model.labels, output);  // PyTorch ignores it; our reader uses it
            write_safetensors(output, tv);
            break;
        }
        case ExportFormat::torchvision_pth: {
            std::vector<std::string> names;
            const Weights tv = torchvision_state_dict(spec, model.weights, names);
            write_pth(output, tv, names);
            break;
        }
    }
    if (torchvision(format)) line["torchvision_widths"] = has_torchvision_widths(spec);
    return line;
}

}  // namespace alexnet
