#include "cli/tool_model.hpp"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/executable.hpp"
#include "io/json_lines.hpp"

namespace alexnet {

namespace fs = std::filesystem;

void apply_overrides(const CommonOptions& o, ModelSpec& spec) {
    Preprocessing& p = spec.preprocessing;
    const std::string per_channel = std::to_string(p.channels) + " value" + (p.channels > 1 ? "s" : "") +
                                    " (one per input channel of " + spec.arch + ")";
    if (!o.mean.empty()) {
        check(int(o.mean.size()) == p.channels, "--mean", "", per_channel, std::to_string(o.mean.size()));
        for (int i = 0; i < p.channels; ++i) {
            check(std::isfinite(o.mean[i]), "--mean", "", "finite values", fixed(o.mean[i], 4));
            p.mean[i] = o.mean[i];
        }
    }
    if (!o.std.empty()) {
        check(int(o.std.size()) == p.channels, "--std", "", per_channel, std::to_string(o.std.size()));
        for (int i = 0; i < p.channels; ++i) {
            check(o.std[i] > 0 && std::isfinite(o.std[i]), "--std", "", "positive values", fixed(o.std[i], 4));
            p.std[i] = o.std[i];
        }
    }
    if (o.rgb) p.bgr = false;
    if (o.bgr) p.bgr = true;
    if (o.resize) p.resize = o.resize;
    if (o.crop_size) {
        p.crop = o.crop_size;
        spec.input.h = spec.input.w = o.crop_size;
        infer_shapes(spec);
    }
    check(p.crop <= p.resize, "--crop-size", "", "at most the resize target " + std::to_string(p.resize),
          std::to_string(p.crop));
}

std::string installed_default_model(bool int8) {
    const std::string exe_dir = executable_dir();
    if (exe_dir.empty()) return "";
    std::error_code ec;
    const fs::path model = fs::path(exe_dir).parent_path() / "share" / "alexnet" /
                           (int8 ? "alexnet-28-fmnist-int8.safetensors" : "alexnet-28-fmnist.safetensors");
    return fs::is_regular_file(model, ec) ? model.string() : "";
}

namespace {

bool has_overrides(const CommonOptions& o) {
    return !o.mean.empty() || !o.std.empty() || o.rgb || o.bgr || o.resize || o.crop_size;
}

// Two members' class names, in one line: the first place they differ.
void check_same_classes(const LoadedModel& first, const LoadedModel& other) {
    const int a = first.spec.num_classes(), b = other.spec.num_classes();
    if (a != b)
        throw UsageError("ensemble members disagree on the classes: " + first.path + " has " + std::to_string(a) +
                         ", " + other.path + " has " + std::to_string(b));
    if (first.labels.empty() || other.labels.empty()) {
        if (first.labels.size() != other.labels.size())
            throw UsageError("ensemble members disagree on the classes: " +
                             (first.labels.empty() ? first.path : other.path) + " names none, " +
                             (first.labels.empty() ? other.path : first.path) + " names them");
        return;
    }
    for (size_t c = 0; c < first.labels.size() && c < other.labels.size(); ++c)
        if (first.labels[c] != other.labels[c])
            throw UsageError("ensemble members disagree on the classes: class " + std::to_string(c) + " is \"" +
                             first.labels[c] + "\" in " + first.path + ", \"" + other.labels[c] + "\" in " + other.path);
}

}  // namespace

std::vector<LoadedModel> load_tool_models(const CommonOptions& o) {
    std::vector<LoadedModel> models;
    if (o.members.size() <= 1) {
        models.push_back(load_tool_model(o));
        return models;
    }
    if (has_overrides(o))
        throw UsageError("--mean, --std, --rgb, --bgr, --resize and --crop-size apply to one model; with several "
                         "--weights each member preprocesses as its own metadata says");
    for (const std::string& path : o.members) {
        CommonOptions one = o;
        one.weights = path, one.members = {path};
        models.push_back(load_tool_model(one));
        check_same_classes(models.front(), models.back());
    }
    return models;
}

LoadedModel load_tool_model(const CommonOptions& o) {
    if (o.members.size() > 1)
        throw UsageError("--weights given " + std::to_string(o.members.size()) + " times: only alexnet-classify and " +
                         "alexnet-eval take several (an ensemble); " + program_invocation_short_name + " takes one");
    std::string path = o.weights;
    if (path.empty()) {
        const bool int8 = o.precision == "int8";
        path = installed_default_model(int8);
        if (path.empty())
            throw UsageError(
                "no weights given: pass --weights FILE or set ALEXNET_WEIGHTS. Pretrained AlexNet weights from "
                "torchvision (alexnet-owt-7be5be79.pth), the Caffe model zoo (bvlc_alexnet.caffemodel) and the ONNX "
                "model zoo (bvlcalexnet-12.onnx) are read directly (alexnet-convert FILE -o OUT.safetensors makes "
                "later loads faster), or train your own with alexnet-train");
        log_info(o.quiet, std::string(program_invocation_short_name) + ": no --weights given; using the installed " +
                              "default model " + path + " (Fashion-MNIST, 10 classes" + (int8 ? ", int8" : "") + ")");
    }
    LoadedModel m = load_model(path, o.arch);
    if (m.weights.metadata.count("random"))
        log_info(o.quiet, std::string(program_invocation_short_name) + ": " + path +
                              " holds random weights (alexnet-bench random-weights), not a trained model: "
                              "its answers mean nothing");
    apply_overrides(o, m.spec);
    return m;
}

Precision resolve_precision(const CommonOptions& o, LoadedModel& model) {
    const bool quantized = model.weights.metadata.count(kQuantizationKey) != 0;
    const Precision p = o.precision.empty() ? (quantized ? Precision::int8 : Precision::fp32)
                                            : parse_precision("--precision", o.precision);
    require_precision_support(p);
    if (p == Precision::int8 && !quantized)
        throw Error("--precision int8", "", "a quantized model (alexnet-quantize -w " + model.path +
                    " --calibrate IMAGES -o MODEL-int8.safetensors)", "float weights in " + model.path);
    if (p != Precision::int8 && quantized) {
        log_info(o.quiet, std::string(program_invocation_short_name) + ": " + model.path + ": an int8 model run in " + to_string(p) + " on its dequantized weights");
        dequantize_weights(model.spec, model.weights);
    }
    return p;
}

}  // namespace alexnet
