#include "formats/onnx.hpp"

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
};

Graph read_graph(const MappedFile& file, const std::string& path) {
    ProtoReader model(file.data(), file.size(), path);
    Graph graph;
    bool has_graph = false;
    while (model.next()) {
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
    return t;
}

// What the walk over the nodes finds besides the weights: the layers counted, the first LRN node
// and where it and the first pooling stand, the max-pooling nodes and each Conv's geometry, checked
// once the family (Caffe's or torchvision's) is known.
struct ConvGeometry {
    const Node* node;
    int64_t stride, pad;
};
struct GraphLayers {
    int convs = 0, fcs = 0, first_pool = -1, first_lrn = -1;
    const Node* lrn = nullptr;
    std::vector<const Node*> max_pools;
    std::vector<ConvGeometry> conv_geometry;
};

void add_conv(Weights& w, GraphLayers& found, const std::string& path, Graph& graph, const Node& n) {
    const std::string where = node_where(n);
    const std::string canon = "conv" + std::to_string(++found.convs);
    Initializer& wt = float_input(path, graph, n, 1, "weights");
    Initializer& b = float_input(path, graph, n, 2, "a bias");
    const auto dil = n.ints("dilations");
    for (int64_t d : dil) check(d == 1, path, where, "dilation 1", std::to_string(d));
    w.add(canon + ".weight", wt.dims, std::move(wt.data));
    w.add(canon + ".bias", b.dims, std::move(b.data));
    const auto strides = n.ints("strides"), pads = n.ints("pads");
    found.conv_geometry.push_back({&n, strides.empty() ? 1 : strides[0], pads.empty() ? 0 : pads[0]});
}

void add_gemm(Weights& w, GraphLayers& found, const std::string& path, Graph& graph, const Node& n) {
    const std::string where = node_where(n);
    const std::string canon = "fc" + std::to_string(5 + ++found.fcs);
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

// Every node in order: Conv and Gemm weights into `w`, the rest noted or let through as plumbing.
GraphLayers read_layers(Weights& w, const std::string& path, Graph& graph) {
    static const std::set<std::string> plumbing{"Flatten", "Reshape", "Dropout", "Softmax", "Identity", "Constant",
                                                "Shape", "Gather", "Unsqueeze", "Concat", "Relu"};
    GraphLayers found;
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
        const Node& n = graph.nodes[i];
        if (n.op == "Conv") {
            add_conv(w, found, path, graph, n);
        } else if (n.op == "Gemm") {
            add_gemm(w, found, path, graph, n);
        } else if (n.op == "LRN") {
            if (found.first_lrn < 0) found.first_lrn = int(i), found.lrn = &n;
        } else if (n.op == "MaxPool") {
            if (found.first_pool < 0) found.first_pool = int(i);
            found.max_pools.push_back(&n);
        } else if (n.op == "AveragePool" || n.op == "GlobalAveragePool") {
            // torchvision's adaptive pooling: the preset has it
        } else if (!plumbing.count(n.op)) {
            throw Error(path, node_where(n) + " is not part of an AlexNet; supported: Conv, Relu, LRN, MaxPool, "
                                              "AveragePool, Gemm, Flatten, Reshape, Dropout, Softmax");
        }
    }
    check(found.convs == 5 && found.fcs == 3, path, "graph", "5 Conv and 3 Gemm nodes (an AlexNet)",
          std::to_string(found.convs) + " and " + std::to_string(found.fcs));
    return found;
}

// The architecture (and the LRN constants of a Caffe-family graph) into the metadata.
void add_family_metadata(Weights& w, const GraphLayers& found, const std::string& path) {
    const Node* lrn = found.lrn;
    if (lrn) {
        check(lrn->i("size", 0) == 5, path, "node '" + lrn->name + "' (LRN)", "size 5", std::to_string(lrn->i("size", 0)));
        w.metadata["arch"] = found.first_pool < found.first_lrn ? "caffenet" : "alexnet";
        const float alpha = lrn->f("alpha", 1e-4f), beta = lrn->f("beta", 0.75f), k = lrn->f("bias", 1.f);
        w.metadata["lrn_alpha"] = metadata_floats(&alpha, 1);
        w.metadata["lrn_beta"] = metadata_floats(&beta, 1);
        w.metadata["lrn_k"] = metadata_floats(&k, 1);
    } else {
        w.metadata["arch"] = "alexnet-tv";
    }
}

// Strides and padding the presets use: conv1 stride 4 (pad 0 in Caffe's, 2 in torchvision's),
// conv2 pad 2, conv3..5 pad 1.
void check_conv_geometry(const GraphLayers& found, bool caffe_family, const std::string& path) {
    for (size_t k = 0; k < found.conv_geometry.size(); ++k) {
        const int64_t stride = k == 0 ? 4 : 1, pad = k == 0 ? (caffe_family ? 0 : 2) : k == 1 ? 2 : 1;
        const ConvGeometry& g = found.conv_geometry[k];
        check(g.stride == stride && g.pad == pad, path, "node '" + g.node->name + "' (Conv)",
              "stride " + std::to_string(stride) + " and padding " + std::to_string(pad) + " (conv" + std::to_string(k + 1) + ")",
              "stride " + std::to_string(g.stride) + " and padding " + std::to_string(g.pad));
    }
}

// Caffe-family pooling rounds up (ceil_mode, or end padding doing the same); torchvision's down.
void check_pool_rounding(const GraphLayers& found, bool caffe_family, const std::string& path) {
    for (const Node* p : found.max_pools) {
        const auto pads = p->ints("pads");
        bool end_pad = false;
        for (size_t k = pads.size() / 2; k < pads.size(); ++k) end_pad = end_pad || pads[k] > 0;
        const bool rounds_up = p->i("ceil_mode", 0) == 1 || end_pad;
        check(rounds_up == caffe_family, path, "node '" + p->name + "' (MaxPool)",
              caffe_family ? "ceil_mode 1 (Caffe's rounding)" : "floor rounding (torchvision's)",
              rounds_up ? "rounding up" : "rounding down");
    }
}

// The input size from the graph's image input (not an initializer: some exporters list those too).
void add_input_metadata(Weights& w, const Graph& graph) {
    for (size_t k = 0; k < graph.input_names.size(); ++k)
        if (!graph.inits.count(graph.input_names[k]) && graph.input_dims[k].size() == 4 && graph.input_dims[k][2] > 0) {
            w.metadata["input_size"] = std::to_string(graph.input_dims[k][2]);
            // ImageNet crops (224 in the ONNX zoo's Caffe models, 227 in Caffe's) come from 256
            if (graph.input_dims[k][2] == 224 || graph.input_dims[k][2] == 227) w.metadata["resize"] = "256";
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
    const GraphLayers found = read_layers(w, path, graph);
    const bool caffe_family = found.lrn != nullptr;
    add_family_metadata(w, found, path);
    check_conv_geometry(found, caffe_family, path);
    check_pool_rounding(found, caffe_family, path);
    add_input_metadata(w, graph);
    w.metadata["source_format"] = "onnx";
    return w;
}

}  // namespace alexnet
