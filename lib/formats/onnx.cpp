#include "formats/onnx.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "core/checked_size.hpp"
#include "core/error.hpp"
#include "core/regular_file.hpp"
#include "io/mapped_file.hpp"
#include "formats/protobuf.hpp"
#include "formats/safetensors.hpp"
#include "model/model.hpp"

namespace alexnet {

namespace {

struct Attr {
    float f = 0;
    int64_t i = 0;
    std::vector<int64_t> ints;
    bool has_f = false, has_i = false;
};

struct Node {
    std::string name, op;
    std::vector<std::string> inputs;
    std::map<std::string, Attr> attrs;
    int64_t i(const std::string& k, int64_t def) const {
        auto it = attrs.find(k);
        return it != attrs.end() && it->second.has_i ? it->second.i : def;
    }
    float f(const std::string& k, float def) const {
        auto it = attrs.find(k);
        return it != attrs.end() && it->second.has_f ? it->second.f : def;
    }
    std::vector<int64_t> ints(const std::string& k) const {
        auto it = attrs.find(k);
        return it == attrs.end() ? std::vector<int64_t>{} : it->second.ints;
    }
};

struct Initializer {
    std::vector<int64_t> dims;
    std::vector<float> data;
    bool is_float = false;  // float or float16: weights; other types are shape constants and the like
};

Initializer read_tensor(ProtoReader r, std::string& name) {
    Initializer t;
    int64_t type = 1;
    std::pair<const uint8_t*, size_t> raw{nullptr, 0};
    bool external = false;
    while (r.next()) {
        switch (r.field()) {
            case 1: r.ints(t.dims); break;
            case 2: type = int64_t(r.varint()); break;
            case 4: r.floats(t.data); break;
            case 8: name = r.bytes(); break;
            case 9: raw = r.span(); break;
            case 14: external = r.varint() == 1; break;
            default: r.skip();
        }
    }
    check(!external, r.where(), "initializer " + name, "data inside the .onnx file", "external data");
    if (type != 1 && type != 10) return t;  // int64 shape constants and the like: not weights
    t.is_float = true;
    const uint64_t n = checked_numel(t.dims, r.where(), "initializer " + name + " dims");
    if (raw.first) {
        const uint64_t elem = type == 1 ? 4 : 2;
        check(raw.second / elem == n && raw.second % elem == 0, r.where(), "initializer " + name,
              std::to_string(n) + " values", std::to_string(raw.second / elem));
        t.data.resize(size_t(n));
        for (uint64_t k = 0; k < n; ++k) {
            if (type == 1) {
                std::memcpy(&t.data[size_t(k)], raw.first + 4 * k, 4);
            } else {
                uint16_t h;
                std::memcpy(&h, raw.first + 2 * k, 2);
                t.data[size_t(k)] = half_to_float(h);
            }
        }
    }
    check(t.data.size() == n, r.where(), "initializer " + name, std::to_string(n) + " values",
          std::to_string(t.data.size()));
    return t;
}

Node read_node(ProtoReader r) {
    Node n;
    while (r.next()) {
        switch (r.field()) {
            case 1: n.inputs.push_back(r.bytes()); break;
            case 3: n.name = r.bytes(); break;
            case 4: n.op = r.bytes(); break;
            case 5: {
                ProtoReader a = r.message("attribute");
                std::string key;
                Attr v;
                while (a.next()) {
                    if (a.field() == 1) key = a.bytes();
                    else if (a.field() == 2) v.f = a.fixed32_float(), v.has_f = true;
                    else if (a.field() == 3) v.i = int64_t(a.varint()), v.has_i = true;
                    else if (a.field() == 8) a.ints(v.ints);
                    else a.skip();
                }
                n.attrs[key] = v;
                break;
            }
            default: r.skip();
        }
    }
    return n;
}

// ValueInfoProto: its name (field 1) and the dims of type (2) -> tensor_type (1) -> shape (2) ->
// dim (1, repeated) -> dim_value (1); 0 for a symbolic dimension.
std::vector<int64_t> value_info_dims(ProtoReader v, std::string& name) {
    std::vector<int64_t> dims;
    // Calls `fn` with each nested message of field `field` in `r`, skipping the other fields.
    auto each = [](ProtoReader r, int field, const char* what, const auto& fn) {
        while (r.next()) r.field() == field ? fn(r.message(what)) : r.skip();
    };
    while (v.next()) {
        if (v.field() == 1) {
            name = v.bytes();
            continue;
        }
        if (v.field() != 2) {
            v.skip();
            continue;
        }
        each(v.message("type"), 1, "tensor_type", [&](ProtoReader tensor) {
            each(tensor, 2, "shape", [&](ProtoReader shape) {
                each(shape, 1, "dim", [&](ProtoReader dim) {
                    int64_t value = 0;
                    while (dim.next()) dim.field() == 1 ? void(value = int64_t(dim.varint())) : dim.skip();
                    dims.push_back(value);
                });
            });
        });
    }
    return dims;
}

// What read_onnx uses of a ModelProto: the graph's nodes in order, its initializers by name, and
// its inputs' names and dims.
struct Graph {
    std::vector<Node> nodes;
    std::map<std::string, Initializer> inits;
    std::vector<std::vector<int64_t>> input_dims;
    std::vector<std::string> input_names;
    std::map<std::string, std::string> metadata;  // ModelProto.metadata_props
};

// StringStringEntryProto: key (1), value (2).
void read_metadata_entry(ProtoReader e, std::map<std::string, std::string>& out) {
    std::string key, value;
    while (e.next()) {
        if (e.field() == 1) key = e.bytes();
        else if (e.field() == 2) value = e.bytes();
        else e.skip();
    }
    out[key] = value;
}

Graph read_graph(const MappedFile& file, const std::string& path) {
    ProtoReader model(file.data(), file.size(), path);
    Graph graph;
    bool has_graph = false;
    while (model.next()) {
        if (model.field() == 14) {
            read_metadata_entry(model.message("metadata_props"), graph.metadata);
            continue;
        }
        if (model.field() != 7) {
            model.skip();
            continue;
        }
        has_graph = true;
        ProtoReader g = model.message("graph");
        while (g.next()) {
            if (g.field() == 1) {
                graph.nodes.push_back(read_node(g.message("node")));
            } else if (g.field() == 5) {
                std::string name;
                Initializer t = read_tensor(g.message("initializer"), name);
                graph.inits[name] = std::move(t);
            } else if (g.field() == 11) {
                std::string name;
                graph.input_dims.push_back(value_info_dims(g.message("input"), name));
                graph.input_names.push_back(name);
            } else {
                g.skip();
            }
        }
    }
    check(has_graph && !graph.nodes.empty(), path, "ModelProto.graph", "a graph with nodes (an ONNX model)", "none");
    return graph;
}

std::string node_where(const Node& n) { return "node '" + n.name + "' (" + n.op + ")"; }

// Input `k` of node `n`: an initializer of float or float16 values.
Initializer& float_input(const std::string& path, Graph& graph, const Node& n, size_t k, const std::string& what) {
    const std::string where = node_where(n);
    check(n.inputs.size() > k && graph.inits.count(n.inputs[k]), path, where, what + " as an initializer",
          n.inputs.size() > k ? "'" + n.inputs[k] + "', computed at run time" : "none");
    Initializer& t = graph.inits.at(n.inputs[k]);
    check(t.is_float, path, where, what + " as float or float16 values", "another type");
    // Its values are moved into the weights once taken: a second node naming it finds none.
    size_t numel = 1;
    for (int64_t d : t.dims) numel *= size_t(d);  // checked when the initializer was read
    check(t.data.size() == numel, path, where, what + " of its own", "'" + n.inputs[k] + "', taken by an earlier node");
    return t;
}

// What the walk over the nodes finds: the Conv and Gemm nodes in order, the first LRN node and
// where it and the first pooling stand, the max-pooling nodes and the activation functions, checked
// once the architecture is known.
struct GraphLayers {
    std::vector<const Node*> convs, gemms, max_pools;
    int first_pool = -1, first_lrn = -1;
    const Node* lrn = nullptr;
    std::set<std::string> activations;  // Relu, Tanh, ...
};

// ONNX activation nodes and the names the metadata gives them (model.hpp's to_string(Activation)).
const std::map<std::string, std::string> kActivations{
    {"Relu", "relu"}, {"Tanh", "tanh"}, {"Sigmoid", "sigmoid"}, {"LeakyRelu", "leaky-relu"}, {"Elu", "elu"}};

// Every node in order: Conv, Gemm, LRN and pooling noted, the rest let through as plumbing.
GraphLayers read_layers(const std::string& path, const Graph& graph) {
    static const std::set<std::string> plumbing{"Flatten", "Reshape", "Dropout", "Softmax", "Identity", "Constant",
                                                "Shape", "Gather", "Unsqueeze", "Concat"};
    GraphLayers found;
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
        const Node& n = graph.nodes[i];
        if (n.op == "Conv") {
            found.convs.push_back(&n);
        } else if (n.op == "Gemm") {
            found.gemms.push_back(&n);
        } else if (n.op == "LRN") {
            if (found.first_lrn < 0) found.first_lrn = int(i), found.lrn = &n;
        } else if (n.op == "MaxPool") {
            if (found.first_pool < 0) found.first_pool = int(i);
            found.max_pools.push_back(&n);
        } else if (n.op == "AveragePool" || n.op == "GlobalAveragePool") {
            // torchvision's adaptive pooling (or convnet-18pct's average pooling): the preset has it
        } else if (kActivations.count(n.op)) {
            found.activations.insert(n.op);
        } else if (!plumbing.count(n.op)) {
            throw Error(path, node_where(n) + " is not part of an AlexNet; supported: Conv, Relu, LRN, MaxPool, "
                                              "AveragePool, Gemm, Flatten, Reshape, Dropout, Softmax");
        }
    }
    return found;
}

// The metadata alexnet-convert writes (metadata_props with format "alexnet-suite": arch,
// preprocessing, labels...; docs/formats.md), taken as a safetensors file's __metadata__. Other
// files' metadata_props mean something else and are left alone.
void add_suite_metadata(Weights& w, const Graph& graph, const std::string& path) {
    auto format = graph.metadata.find("format");
    if (format == graph.metadata.end() || format->second != "alexnet-suite") return;
    // Only what model_metadata writes: a key such as "quantization" would make a float graph
    // claim to be an int8 model.
    static const char* const kKeys[] = {"format", "arch", "num_classes", "input_size", "activation", "resize",
                                        "resize_mode", "crop_size", "channel_order", "pixel_scale", "mean", "std",
                                        "lrn_alpha", "lrn_beta", "lrn_k", "labels"};
    for (const char* key : kKeys)
        if (auto it = graph.metadata.find(key); it != graph.metadata.end()) w.metadata[key] = it->second;
    auto arch = w.metadata.find("arch");
    if (arch == w.metadata.end()) return;
    const auto& known = preset_names();
    std::string listed;
    for (const auto& n : known) listed += (listed.empty() ? "" : ", ") + n;
    check(std::find(known.begin(), known.end(), arch->second) != known.end(), path, "metadata_props.arch",
          "one of " + listed, "'" + arch->second + "'");
}

// The architecture: the metadata's, else the family the graph shows (alexnet-tv without LRN;
// caffenet when pooling precedes LRN; else alexnet); and the LRN constants of the graph.
std::string add_family_metadata(Weights& w, const GraphLayers& found, const std::string& path) {
    const Node* lrn = found.lrn;
    const std::string family = !lrn ? "alexnet-tv" : found.first_pool < found.first_lrn ? "caffenet" : "alexnet";
    if (!w.metadata.count("arch")) w.metadata["arch"] = family;
    if (lrn) {
        check(lrn->i("size", 0) == 5, path, "node '" + lrn->name + "' (LRN)", "size 5", std::to_string(lrn->i("size", 0)));
        const float alpha = lrn->f("alpha", 1e-4f), beta = lrn->f("beta", 0.75f), k = lrn->f("bias", 1.f);
        w.metadata["lrn_alpha"] = metadata_floats(&alpha, 1);
        w.metadata["lrn_beta"] = metadata_floats(&beta, 1);
        w.metadata["lrn_k"] = metadata_floats(&k, 1);
    }
    if (found.activations.size() > 1) {
        std::string ops;
        for (const auto& op : found.activations) ops += (ops.empty() ? "" : ", ") + op;
        throw Error(path, "activations", "one kind of activation node", ops);
    }
    if (!found.activations.empty()) w.metadata["activation"] = kActivations.at(*found.activations.begin());
    return w.metadata.at("arch");
}

void add_conv(Weights& w, const std::string& canon, const std::string& path, Graph& graph, const Node& n) {
    Initializer& wt = float_input(path, graph, n, 1, "weights");
    Initializer& b = float_input(path, graph, n, 2, "a bias");
    for (int64_t d : n.ints("dilations")) check(d == 1, path, node_where(n), "dilation 1", std::to_string(d));
    w.add(canon + ".weight", wt.dims, std::move(wt.data));
    w.add(canon + ".bias", b.dims, std::move(b.data));
}

void add_gemm(Weights& w, const std::string& canon, const std::string& path, Graph& graph, const Node& n) {
    const std::string where = node_where(n);
    check(n.f("alpha", 1.f) == 1.f && n.f("beta", 1.f) == 1.f && n.i("transA", 0) == 0, path, where,
          "alpha 1, beta 1, no transA", "other values");
    Initializer& wt = float_input(path, graph, n, 1, "weights");
    Initializer& b = float_input(path, graph, n, 2, "a bias");
    check(wt.dims.size() == 2, path, where, "2-D weights", shape_string(wt.dims));
    if (n.i("transB", 0) == 1) {
        w.add(canon + ".weight", wt.dims, std::move(wt.data));
    } else {  // [in, out] -> [out, in]
        const int64_t in = wt.dims[0], out = wt.dims[1];
        std::vector<float> t(wt.data.size());
        for (int64_t r = 0; r < in; ++r)
            for (int64_t c = 0; c < out; ++c) t[size_t(c * in + r)] = wt.data[size_t(r * out + c)];
        w.add(canon + ".weight", {out, in}, std::move(t));
    }
    const int64_t out_features = int64_t(b.data.size());
    w.add(canon + ".bias", {out_features}, std::move(b.data));
}

// LRN where the preset has it, before or after pooling as the preset orders them.
void check_lrn_order(const GraphLayers& found, const ModelSpec& preset, const std::string& path) {
    int first_lrn = -1, first_pool = -1;
    for (size_t i = 0; i < preset.layers.size(); ++i) {
        if (preset.layers[i].kind == LayerKind::lrn && first_lrn < 0) first_lrn = int(i);
        if (preset.layers[i].kind == LayerKind::max_pool && first_pool < 0) first_pool = int(i);
    }
    check((first_lrn >= 0) == (found.lrn != nullptr), path, "graph",
          first_lrn >= 0 ? "LRN nodes (" + preset.arch + ")" : "no LRN node (" + preset.arch + ")",
          found.lrn ? "node '" + found.lrn->name + "' (LRN)" : "none");
    if (found.lrn)
        check((first_pool < first_lrn) == (found.first_pool < found.first_lrn), path, "node '" + found.lrn->name + "' (LRN)",
              first_pool < first_lrn ? "after the first pooling (" + preset.arch + ")" : "before the first pooling (" + preset.arch + ")",
              found.first_pool < found.first_lrn ? "after it" : "before it");
}

// The weights under the preset's names: the k-th Conv node is its k-th conv layer, the k-th Gemm
// its k-th fc layer; each Conv's stride and padding checked against the layer's.
void add_weights(Weights& w, const GraphLayers& found, const ModelSpec& preset, const std::string& path, Graph& graph) {
    std::vector<const LayerSpec*> convs, fcs;
    for (const auto& l : preset.layers)
        if (l.kind == LayerKind::conv) convs.push_back(&l);
        else if (l.kind == LayerKind::fc) fcs.push_back(&l);
    check(found.convs.size() == convs.size() && found.gemms.size() == fcs.size(), path, "graph",
          std::to_string(convs.size()) + " Conv and " + std::to_string(fcs.size()) + " Gemm nodes (an " + preset.arch + ")",
          std::to_string(found.convs.size()) + " and " + std::to_string(found.gemms.size()));
    for (size_t k = 0; k < convs.size(); ++k) {
        const Node& n = *found.convs[k];
        const LayerSpec& l = *convs[k];
        const auto strides = n.ints("strides"), pads = n.ints("pads");
        const int64_t stride = strides.empty() ? 1 : strides[0], pad = pads.empty() ? 0 : pads[0];
        check(stride == l.stride && pad == l.pad, path, node_where(n),
              "stride " + std::to_string(l.stride) + " and padding " + std::to_string(l.pad) + " (" + l.name + ")",
              "stride " + std::to_string(stride) + " and padding " + std::to_string(pad));
        add_conv(w, l.name, path, graph, n);
    }
    for (size_t k = 0; k < fcs.size(); ++k) add_gemm(w, fcs[k]->name, path, graph, *found.gemms[k]);
}

// Pooling rounds as the preset's does: up in Caffe's family (ceil_mode, or end padding doing the
// same), down in torchvision's.
void check_pool_rounding(const GraphLayers& found, const ModelSpec& preset, const std::string& path) {
    bool ceil_mode = false;
    for (const auto& l : preset.layers)
        if (l.kind == LayerKind::max_pool) ceil_mode = l.ceil_mode;
    for (const Node* p : found.max_pools) {
        const auto pads = p->ints("pads");
        bool end_pad = false;
        for (size_t k = pads.size() / 2; k < pads.size(); ++k) end_pad = end_pad || pads[k] > 0;
        const bool rounds_up = p->i("ceil_mode", 0) == 1 || end_pad;
        check(rounds_up == ceil_mode, path, "node '" + p->name + "' (MaxPool)",
              ceil_mode ? "ceil_mode 1 (Caffe's rounding)" : "floor rounding (torchvision's)",
              rounds_up ? "rounding up" : "rounding down");
    }
}

// The input size from the graph's image input (not an initializer: some exporters list those too).
void add_input_metadata(Weights& w, const Graph& graph) {
    for (size_t k = 0; k < graph.input_names.size(); ++k)
        if (!graph.inits.count(graph.input_names[k]) && graph.input_dims[k].size() == 4 && graph.input_dims[k][2] > 0) {
            w.metadata["input_size"] = std::to_string(graph.input_dims[k][2]);
            // ImageNet crops (224 in the ONNX zoo's Caffe models, 227 in Caffe's) come from 256
            if ((graph.input_dims[k][2] == 224 || graph.input_dims[k][2] == 227) && !w.metadata.count("resize"))
                w.metadata["resize"] = "256";
        }
}

}  // namespace

bool looks_like_onnx(const std::string& path) {
    if (std::filesystem::path(path).extension() == ".onnx") return true;
    return read_file_head(path, 1) == "\x08";  // ModelProto.ir_version, a varint in field 1
}

Weights read_onnx(const std::string& path) {
    const MappedFile file(path);
    Graph graph = read_graph(file, path);
    Weights w;
    add_suite_metadata(w, graph, path);
    const GraphLayers found = read_layers(path, graph);
    const ModelSpec preset = make_preset(add_family_metadata(w, found, path));  // its layers, not its widths
    check_lrn_order(found, preset, path);
    add_weights(w, found, preset, path, graph);
    check_pool_rounding(found, preset, path);
    add_input_metadata(w, graph);
    w.metadata["source_format"] = "onnx";
    return w;
}

}  // namespace alexnet
