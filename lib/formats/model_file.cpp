#include "formats/model_file.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "core/regular_file.hpp"
#include "io/bounded_json.hpp"
#include "io/json_lines.hpp"
#include "formats/caffe.hpp"
#include "formats/onnx.hpp"
#include "formats/pth.hpp"
#include "formats/safetensors.hpp"
#include "model/quantization.hpp"

namespace alexnet {

namespace fs = std::filesystem;

namespace {

const std::pair<const char*, const char*> kTorchvisionNames[] = {
    {"features.0.", "conv1."},   {"features.3.", "conv2."},   {"features.6.", "conv3."},
    {"features.8.", "conv4."},   {"features.10.", "conv5."},  {"classifier.1.", "fc6."},
    {"classifier.4.", "fc7."},   {"classifier.6.", "fc8."}};

// `count` comma-separated numbers into out[0..count).
void parse_floats(const std::string& path, const std::string& field, const std::string& text, float* out, int count) {
    const std::string expected = std::to_string(count) + " comma-separated number" + (count > 1 ? "s" : "");
    std::stringstream s(text);
    std::string item;
    int i = 0;
    while (std::getline(s, item, ',')) {
        float v = 0;
        size_t used = 0;
        try {
            v = std::stof(item, &used);
        } catch (const std::exception&) {
        }
        if (used == 0 || item.find_first_not_of(" ", used) != std::string::npos || !std::isfinite(v))
            throw Error(path, "__metadata__." + field, expected, "'" + text + "'");
        if (i < count) out[i] = v;
        ++i;
    }
    check(i == count, path, "__metadata__." + field, expected, "'" + text + "'");
}

int parse_int(const std::string& path, const std::string& field, const std::string& text) {
    try {
        size_t used = 0;
        const int v = std::stoi(text, &used);
        if (used == text.size() && v > 0) return v;
    } catch (const std::exception&) {
    }
    throw Error(path, "__metadata__." + field, "a positive integer", "'" + text + "'");
}

// An image side in pixels: what --resize and --crop-size accept.
constexpr int kMaxSide = 100000;

int parse_side(const std::string& path, const std::string& field, const std::string& text) {
    try {
        size_t used = 0;
        const int v = std::stoi(text, &used);
        if (used == text.size() && v > 0 && v <= kMaxSide) return v;
    } catch (const std::exception&) {
    }
    throw Error(path, "__metadata__." + field, "a whole number of pixels from 1 to " + std::to_string(kMaxSide),
                "'" + text + "'");
}

const std::string* find_meta(const Weights& w, const std::string& key) {
    auto it = w.metadata.find(key);
    return it == w.metadata.end() ? nullptr : &it->second;
}

void apply_preprocessing_metadata(const std::string& path, const Weights& w, Preprocessing& p) {
    if (auto* v = find_meta(w, "resize")) p.resize = parse_side(path, "resize", *v);
    if (auto* v = find_meta(w, "resize_mode")) {
        check(*v == "warp" || *v == "shorter", path, "__metadata__.resize_mode", "warp or shorter", "'" + *v + "'");
        p.resize_shorter = *v == "shorter";
    }
    if (auto* v = find_meta(w, "crop_size")) p.crop = parse_side(path, "crop_size", *v);
    if (auto* v = find_meta(w, "channel_order")) {
        check(*v == "bgr" || *v == "rgb", path, "__metadata__.channel_order", "bgr or rgb", "'" + *v + "'");
        p.bgr = *v == "bgr";
    }
    if (auto* v = find_meta(w, "pixel_scale")) parse_floats(path, "pixel_scale", *v, &p.pixel_scale, 1);
    if (auto* v = find_meta(w, "mean")) parse_floats(path, "mean", *v, p.mean, p.channels);
    if (auto* v = find_meta(w, "std")) parse_floats(path, "std", *v, p.std, p.channels);
    check(p.pixel_scale > 0, path, "__metadata__.pixel_scale", "a positive number", fixed(p.pixel_scale, 4));
    for (int c = 0; c < p.channels; ++c)
        check(p.std[c] > 0, path, "__metadata__.std", "positive numbers", fixed(p.std[c], 4));
}

// The preprocessing must make what the network takes: crops of its input size, cut from an image
// resized at least that large (a crop of another size would be read as the wrong number of floats).
void check_preprocessing(const std::string& path, const ModelSpec& spec) {
    const Preprocessing& p = spec.preprocessing;
    check(p.crop == spec.input.h && p.crop == spec.input.w, path, "__metadata__.crop_size",
          "the network's input size " + std::to_string(spec.input.h) + " (__metadata__.input_size)",
          std::to_string(p.crop));
    check(p.crop <= p.resize, path, "__metadata__.resize", "at least the crop size " + std::to_string(p.crop),
          std::to_string(p.resize));
}

bool starts_with(const std::string& s, const char* prefix, size_t n) { return s.compare(0, n, prefix, n) == 0; }

// Printable UTF-8 text with tabs and line ends only (a character cut at the end is fine).
bool looks_like_text(const std::string& head) {
    for (size_t i = 0; i < head.size();) {
        const auto c = static_cast<unsigned char>(head[i]);
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
            if (c == 0x7f) return false;
            ++i;
            continue;
        }
        const size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (len == 0) return false;
        for (size_t k = 1; k < len && i + k < head.size(); ++k)
            if ((static_cast<unsigned char>(head[i + k]) & 0xc0) != 0x80) return false;
        i += len;
    }
    return true;
}

// Architecture: from the metadata, torchvision's names or the tensors' shapes. --arch settles only
// what those cannot tell: alexnet or caffenet (the same shapes, LRN and pooling swapped) when
// nothing names it; any other contradiction would run a hybrid or fail deep in a layer.
std::string model_arch(const std::string& path, const Weights& w, bool torchvision_names,
                       const std::string& arch_override) {
    check(w.contains("conv1.weight"), path, "conv1.weight (or features.0.weight)",
          "a 4-dimensional conv weight tensor", "none");
    const Tensor& conv1 = w.at("conv1.weight");
    check(conv1.shape.size() == 4, path, "conv1.weight", "4 dimensions", shape_string(conv1.shape));
    std::string arch, told_by;
    if (auto* v = find_meta(w, "arch")) arch = *v, told_by = "its metadata";
    else if (torchvision_names) arch = "alexnet-tv", told_by = "torchvision's tensor names";
    // convnet-4 (the activation experiment's network): three convs and fc4
    else if (!w.contains("conv4.weight") && w.contains("fc4.weight")) arch = "convnet-4", told_by = "its tensors";
    // convnet-18pct (the paper's Figure 1 network): the same three convs and fc10
    else if (!w.contains("conv4.weight") && w.contains("fc10.weight")) arch = "convnet-18pct", told_by = "its tensors";
    else {
        arch = conv1.shape[1] == 1 ? "alexnet-28"
               : conv1.shape[2] == 5 ? "alexnet-32"
               : conv1.shape[0] == 64 ? "alexnet-tv"
                                      : "alexnet";
        told_by = "its tensors' shapes";
    }
    if (!arch_override.empty() && arch_override != arch) {
        const bool order_only = told_by == "its tensors' shapes" && arch == "alexnet" && arch_override == "caffenet";
        check(order_only, "--arch", "",
              arch + " or no --arch (" + path + " holds " + arch + " weights, by " + told_by +
                  "; --arch only settles what weights cannot tell: alexnet or caffenet, whose tensors have the same "
                  "shapes)",
              arch_override);
        arch = arch_override;
    }
    return arch;
}

// The preset's widths and classes from the tensors' shapes (and the input size from the metadata).
PresetOptions preset_options(const std::string& path, const Weights& w, const std::string& arch) {
    const Tensor& conv1 = w.at("conv1.weight");
    const bool convnet4 = arch == "convnet-4" || arch == "convnet-18pct";
    const int convs = convnet4 ? 3 : 5;
    const std::string classifier = arch == "convnet-18pct" ? "fc10.weight" : convnet4 ? "fc4.weight" : "fc8.weight";
    PresetOptions opt;
    for (int i = 1; i <= convs; ++i) {
        const std::string name = "conv" + std::to_string(i) + ".weight";
        check(w.contains(name), path, name, "a conv weight tensor", "none");
        opt.conv_channels.push_back(int(w.at(name).shape.at(0)));
    }
    std::vector<std::string> fcs{classifier};
    if (!convnet4) fcs.insert(fcs.begin(), "fc6.weight");
    for (const std::string& name : fcs) {
        check(w.contains(name), path, name, "an fc weight tensor [out, in]", "none");
        check(w.at(name).shape.size() == 2, path, name, "2 dimensions", shape_string(w.at(name).shape));
    }
    if (!convnet4) opt.fc_width = int(w.at("fc6.weight").shape[0]);
    if (convnet4) opt.input_channels = int(conv1.shape[1]) == 1 ? 1 : 3;
    opt.num_classes = int(w.at(classifier).shape[0]);
    if (auto* v = find_meta(w, "input_size")) opt.input_size = parse_int(path, "input_size", *v);
    if (auto* v = find_meta(w, "num_classes"))
        check(parse_int(path, "num_classes", *v) == opt.num_classes, path, "__metadata__.num_classes",
              std::to_string(opt.num_classes) + " (the classifier's rows)", *v);
    return opt;
}

// Groups from the weights (in_channels / weight dim 1) and the LRN constants from the metadata.
void apply_layer_metadata(const std::string& path, const Weights& w, ModelSpec& spec) {
    Shape in = spec.input;
    for (auto& l : spec.layers) {
        if (l.kind == LayerKind::conv) {
            const Tensor& t = w.at(l.name + ".weight");
            check(t.shape.size() == 4 && t.shape[1] > 0 && in.c % t.shape[1] == 0, path, l.name + ".weight",
                  "[out, in/groups, k, k] with in = " + std::to_string(in.c), shape_string(t.shape));
            l.groups = int(in.c / t.shape[1]);
        }
        if (l.kind == LayerKind::lrn) {
            if (auto* v = find_meta(w, "lrn_alpha")) parse_floats(path, "lrn_alpha", *v, &l.lrn.alpha, 1);
            if (auto* v = find_meta(w, "lrn_beta")) parse_floats(path, "lrn_beta", *v, &l.lrn.beta, 1);
            if (auto* v = find_meta(w, "lrn_k")) parse_floats(path, "lrn_k", *v, &l.lrn.k, 1);
        }
        in = output_shape(l, in);
    }
}

// The class names of the metadata (a JSON array of one string per class); none when it has none.
std::vector<std::string> metadata_labels(const std::string& path, const Weights& w, int num_classes) {
    std::vector<std::string> names;
    if (auto* v = find_meta(w, "labels")) {
        const nlohmann::json labels = parse_bounded_json(*v, path, "__metadata__.labels");
        check(labels.is_array() && int(labels.size()) == num_classes, path, "__metadata__.labels",
              "a JSON array of " + std::to_string(num_classes) + " strings",
              labels.is_array() ? std::to_string(labels.size()) + " entries" : labels.type_name());
        for (auto& s : labels) {
            if (!s.is_string()) throw Error(path, "__metadata__.labels", "strings", json_excerpt(s));
            names.push_back(s.get<std::string>());
        }
    }
    return names;
}

}  // namespace

std::string describe_content(const std::string& head) {
    struct Magic {
        const char* bytes;
        size_t n;
        const char* what;
    };
    static const Magic kMagic[] = {
        {"\xff\xd8\xff", 3, "a JPEG image"},
        {"\x89PNG\r\n\x1a\n", 8, "a PNG image"},
        {"GIF87a", 6, "a GIF image"},
        {"GIF89a", 6, "a GIF image"},
        {"II*\0", 4, "a TIFF image"},
        {"MM\0*", 4, "a TIFF image"},
        {"%PDF", 4, "a PDF document"},
        {"\x1f\x8b", 2, "gzip-compressed data (decompress it first)"},
        {"BZh", 3, "bzip2-compressed data (decompress it first)"},
        {"\xfd" "7zXZ\0", 6, "xz-compressed data (decompress it first)"},
        {"7z\xbc\xaf\x27\x1c", 6, "a 7-Zip archive"},
        {"\x89HDF\r\n\x1a\n", 8, "an HDF5 file (e.g. Keras weights; not supported)"},
        {"\x93NUMPY", 6, "a NumPy .npy array"},
        {"\x7f" "ELF", 4, "an executable (ELF)"},
    };
    if (head.empty()) return "an empty file";
    for (const auto& m : kMagic)
        if (starts_with(head, m.bytes, m.n)) return m.what;
    if (head.size() >= 12 && starts_with(head, "RIFF", 4) && head.compare(8, 4, "WEBP") == 0) return "a WebP image";
    // Pickle protocol 2-5 (a torch .pth is a zip archive, or a legacy stream read before this)
    if (head.size() >= 2 && uint8_t(head[0]) == 0x80 && head[1] >= 2 && head[1] <= 5)
        return "a Python pickle without a state dict (torch.save(model.state_dict(), FILE) writes one)";
    if (!looks_like_text(head)) return "";
    std::string lower;  // from the first visible character
    for (size_t i = std::min(head.find_first_not_of(" \t\r\n"), head.size()); i < head.size(); ++i)
        lower += char(std::tolower(static_cast<unsigned char>(head[i])));
    if (lower.rfind("<!doctype html", 0) == 0 || lower.rfind("<html", 0) == 0)
        return "an HTML page (a failed download?)";
    if (lower.rfind("version https://git-lfs", 0) == 0) return "a Git LFS pointer (the file itself was not downloaded)";
    if (lower.rfind("layer", 0) == 0 || lower.rfind("name:", 0) == 0 || lower.rfind("input:", 0) == 0)
        return "a Caffe prototxt (text; --weights takes the .caffemodel)";
    return "text";
}

std::string canonical_param_name(const std::string& name) {
    for (const auto& [tv, canon] : kTorchvisionNames)
        if (name.rfind(tv, 0) == 0) return canon + name.substr(std::string(tv).size());
    return name;
}

std::string torchvision_param_name(const std::string& name) {
    for (const auto& [tv, canon] : kTorchvisionNames)
        if (name.rfind(canon, 0) == 0) return tv + name.substr(std::string(canon).size());
    return "";
}

Weights read_weights_file(const std::string& path) {
    const std::string head = read_file_head(path, 512);  // only regular files: a FIFO would block the sniffing
    if (looks_like_safetensors(path)) return read_safetensors(path);
    if (looks_like_pth(path)) return read_pth(path);
    // ONNX and Caffe files are recognised by their extension too, so first what they clearly are not
    const std::string ext = fs::path(path).extension().string();
    const std::string expected = ext == ".caffemodel" ? "a Caffe model (a binary NetParameter, as its extension says)"
                                 : ext == ".onnx"     ? "an ONNX model (a binary ModelProto, as its extension says)"
                                                      : "safetensors, a PyTorch .pth (zip), a Caffe .caffemodel or an ONNX model";
    const std::string other = describe_content(head);
    if (!other.empty()) throw Error(path, "weights format", expected, other);
    if (looks_like_onnx(path)) return read_onnx(path);
    if (looks_like_caffemodel(path)) return read_caffemodel(path);
    throw Error(path, "weights format", expected, "other content");
}

LoadedModel load_model(const std::string& path, const std::string& arch_override) {
    std::error_code missing;
    if (!std::filesystem::exists(path, missing))
        throw Error(path, "cannot open weights file: " +
                              (missing ? missing.message() : std::make_error_code(std::errc::no_such_file_or_directory).message()));
    Weights raw = read_weights_file(path);

    // Canonical names, each tensor renamed where it lies (views keep pointing into the mapping the
    // Weights keep alive; owned values are not copied).
    LoadedModel m;
    m.path = path;
    const bool torchvision_names = raw.contains("features.0.weight");
    for (const auto& name : raw.names()) raw.rename(name, canonical_param_name(name));
    m.weights = std::move(raw);
    const Weights& w = m.weights;

    const std::string arch = model_arch(path, w, torchvision_names, arch_override);
    const PresetOptions opt = preset_options(path, w, arch);
    m.spec = make_preset(arch, opt);
    apply_layer_metadata(path, w, m.spec);
    if (auto* v = find_meta(w, "activation"))
        set_hidden_activation(m.spec, parse_activation(path + ": __metadata__.activation", *v));
    infer_shapes(m.spec);
    validate_weights(m.spec, w, path);
    apply_preprocessing_metadata(path, w, m.spec.preprocessing);
    check_preprocessing(path, m.spec);
    m.labels = metadata_labels(path, w, opt.num_classes);
    return m;
}

// (The ONNX importer reads back exactly these keys: keep its list, onnx.cpp add_suite_metadata, in step.)
std::map<std::string, std::string> model_metadata(const ModelSpec& spec, const std::vector<std::string>& labels,
                                                  const std::string& where) {
    std::map<std::string, std::string> md;
    const Preprocessing& pp = spec.preprocessing;
    md["format"] = "alexnet-suite";
    md["arch"] = spec.arch;
    md["num_classes"] = std::to_string(spec.num_classes());
    md["input_size"] = std::to_string(spec.input.h);
    md["activation"] = to_string(hidden_activation(spec));
    md["resize"] = std::to_string(pp.resize);
    md["resize_mode"] = pp.resize_shorter ? "shorter" : "warp";
    md["crop_size"] = std::to_string(pp.crop);
    md["channel_order"] = pp.bgr ? "bgr" : "rgb";
    md["pixel_scale"] = metadata_floats(&pp.pixel_scale, 1);
    md["mean"] = metadata_floats(pp.mean, pp.channels);
    md["std"] = metadata_floats(pp.std, pp.channels);
    for (const auto& l : spec.layers)
        if (l.kind == LayerKind::lrn) {
            md["lrn_alpha"] = metadata_floats(&l.lrn.alpha, 1);
            md["lrn_beta"] = metadata_floats(&l.lrn.beta, 1);
            md["lrn_k"] = metadata_floats(&l.lrn.k, 1);
            break;
        }
    if (!labels.empty()) {
        check(int(labels.size()) == spec.num_classes(), where, "labels",
              std::to_string(spec.num_classes()) + " names", std::to_string(labels.size()));
        md["labels"] = dump_utf8(nlohmann::json(labels));
    }
    return md;
}

void save_model(const std::string& path, const ModelSpec& spec, const Weights& weights,
                const std::vector<std::string>& labels, const Weights* extra) {
    validate_weights(spec, weights, path);
    Weights out;
    for (const auto& p : param_specs(spec)) out.add_view(p.name, weights.at(p.name));
    // A quantized model's steps travel with its s8 weights, so it stays one.
    for (const auto& l : spec.layers)
        if (l.has_params() && weights.contains(l.name + ".weight_scale"))
            out.add_view(l.name + ".weight_scale", weights.at(l.name + ".weight_scale"));
    if (auto* q = find_meta(weights, kQuantizationKey)) out.metadata[kQuantizationKey] = *q;
    for (auto& [k, v] : model_metadata(spec, labels, path)) out.metadata[k] = v;
    auto& md = out.metadata;
    if (extra) {
        for (const auto& name : extra->names()) out.add_view(name, extra->at(name));
        for (const auto& [k, v] : extra->metadata) md[k] = v;
    }
    write_safetensors(path, out);
}

}  // namespace alexnet
