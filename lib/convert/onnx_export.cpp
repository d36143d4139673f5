#include "convert/onnx_export.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <map>

#include "core/error.hpp"
#include "formats/model_file.hpp"
#include "io/atomic_file.hpp"

namespace alexnet {

namespace {

constexpr int64_t kOpset = 13;
constexpr const char* kInput = "input";
constexpr const char* kLogits = "logits";
constexpr const char* kProb = "prob";
constexpr const char* kBatchDim = "N";  // the symbolic batch dimension of input and outputs

void set_ints(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> values) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) a->add_ints(v);
}

void set_int(onnx::NodeProto* n, const std::string& name, int64_t value) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
}

void set_float(onnx::NodeProto* n, const std::string& name, float value) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(value);
}

// A float tensor value: `dims` after the symbolic batch dimension.
void set_value_info(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
    v->set_name(name);
    auto* tensor = v->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(onnx::TensorProto::FLOAT);
    auto* shape = tensor->mutable_shape();
    shape->add_dim()->set_dim_param(kBatchDim);
    for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

// The graph as it grows: each node reads the value the previous one wrote (`current`), and each
// layer's output value is noted for the shape check.
class GraphBuilder {
public:
    GraphBuilder(onnx::GraphProto* graph, const std::string& path, const ModelSpec& spec, const Weights& weights)
        : graph_(graph), path_(path), spec_(spec), weights_(weights), shapes_(infer_shapes(spec)) {}

    void add(size_t i);
    const std::map<std::string, size_t>& layer_values() const { return layer_values_; }
    const std::vector<Shape>& shapes() const { return shapes_; }

private:
    onnx::NodeProto* node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
                          const std::string& output) {
        auto* n = graph_->add_node();
        n->set_op_type(op);
        n->set_name(name);
        for (const auto& in : inputs) n->add_input(in);
        n->add_output(output);
        current_ = output;
        return n;
    }
    void initializer(const std::string& name) {
        const Tensor& t = weights_.at(name);
        auto* init = graph_->add_initializer();
        init->set_name(name);
        init->set_data_type(onnx::TensorProto::FLOAT);
        for (int64_t d : t.shape) init->add_dims(d);
        init->set_raw_data(t.floats(), t.bytes());  // ONNX's raw data is little-endian, as this CPU's floats
    }
    [[noreturn]] void refuse(const LayerSpec& l, const std::string& expected, const std::string& found) const {
        throw Error(path_, spec_.arch + " layer " + l.name, expected, found);
    }
    // The value a conv or fc layer's node writes: its own name when no activation follows.
    std::string linear_output(const LayerSpec& l) const {
        const std::string name = l.name == spec_.classifier() ? kLogits : l.name;
        return l.activation == Activation::none ? name : name + "_linear";
    }
    void add_activation(const LayerSpec& l);
    void add_conv(const LayerSpec& l);
    void add_pool(const LayerSpec& l);
    void add_lrn(const LayerSpec& l);
    void add_adaptive_pool(const LayerSpec& l, const Shape& in);
    void add_fc(const LayerSpec& l);

    onnx::GraphProto* graph_;
    const std::string& path_;
    const ModelSpec& spec_;
    const Weights& weights_;
    const std::vector<Shape> shapes_;
    std::string current_ = kInput;
    bool flat_ = false;  // `current_` is (N, features), after Flatten
    std::map<std::string, size_t> layer_values_;  // value name -> index of the layer it is the output of
};

void GraphBuilder::add_activation(const LayerSpec& l) {
    const std::string out = l.name == spec_.classifier() ? kLogits : l.name;
    switch (l.activation) {
        case Activation::none: return;
        case Activation::relu: node("Relu", l.name + "_relu", {current_}, out); return;
        case Activation::tanh: node("Tanh", l.name + "_tanh", {current_}, out); return;
        case Activation::sigmoid: node("Sigmoid", l.name + "_sigmoid", {current_}, out); return;
        case Activation::leaky_relu:
            set_float(node("LeakyRelu", l.name + "_leaky_relu", {current_}, out), "alpha", kLeakyReluSlope);
            return;
        case Activation::elu: set_float(node("Elu", l.name + "_elu", {current_}, out), "alpha", kEluAlpha); return;
    }
}

void GraphBuilder::add_conv(const LayerSpec& l) {
    initializer(l.name + ".weight");
    initializer(l.name + ".bias");
    auto* n = node("Conv", l.name, {current_, l.name + ".weight", l.name + ".bias"}, linear_output(l));
    set_ints(n, "kernel_shape", {l.kernel, l.kernel});
    set_ints(n, "strides", {l.stride, l.stride});
    set_ints(n, "pads", {l.pad, l.pad, l.pad, l.pad});
    set_int(n, "group", l.groups);
    add_activation(l);
}

// Caffe's rounding up is ONNX's ceil_mode 1 (the shape check below holds both to infer_shapes).
void GraphBuilder::add_pool(const LayerSpec& l) {
    const bool max = l.kind == LayerKind::max_pool;
    auto* n = node(max ? "MaxPool" : "AveragePool", l.name, {current_}, l.name);
    set_ints(n, "kernel_shape", {l.kernel, l.kernel});
    set_ints(n, "strides", {l.stride, l.stride});
    set_ints(n, "pads", {l.pad, l.pad, l.pad, l.pad});
    if (l.ceil_mode) set_int(n, "ceil_mode", 1);
    if (!max) set_int(n, "count_include_pad", 0);  // the mean over the pixels inside the image
}

void GraphBuilder::add_lrn(const LayerSpec& l) {
    if (l.lrn.within_map)
        refuse(l, "LRN across channels (ONNX's only kind)", "LRN within a map (cuda-convnet's rnorm)");
    auto* n = node("LRN", l.name, {current_}, l.name);
    set_int(n, "size", l.lrn.size);
    set_float(n, "alpha", l.lrn.alpha);  // ONNX divides alpha by size, as Caffe and oneDNN do
    set_float(n, "beta", l.lrn.beta);
    set_float(n, "bias", l.lrn.k);
}

// torchvision's AdaptiveAvgPool2d((6, 6)): nothing when its input is already 6x6 (224 inputs), an
// AveragePool when the input is a whole multiple of it; other sizes have no opset 13 form.
void GraphBuilder::add_adaptive_pool(const LayerSpec& l, const Shape& in) {
    if (in.h == l.out_h && in.w == l.out_w) return;
    if (in.h % l.out_h != 0 || in.w % l.out_w != 0)
        refuse(l, "an input whose sides are multiples of " + std::to_string(l.out_h) + "x" + std::to_string(l.out_w) +
                      " (adaptive average pooling as ONNX's AveragePool)",
               to_string(in));
    auto* n = node("AveragePool", l.name, {current_}, l.name);
    set_ints(n, "kernel_shape", {in.h / l.out_h, in.w / l.out_w});
    set_ints(n, "strides", {in.h / l.out_h, in.w / l.out_w});
}

void GraphBuilder::add_fc(const LayerSpec& l) {
    if (!flat_) {
        set_int(node("Flatten", "flatten", {current_}, "flatten"), "axis", 1);
        flat_ = true;
    }
    initializer(l.name + ".weight");
    initializer(l.name + ".bias");
    set_int(node("Gemm", l.name, {current_, l.name + ".weight", l.name + ".bias"}, linear_output(l)), "transB", 1);
    add_activation(l);
}

void GraphBuilder::add(size_t i) {
    const LayerSpec& l = spec_.layers[i];
    const Shape in = i == 0 ? spec_.input : shapes_[i - 1];
    switch (l.kind) {
        case LayerKind::conv: add_conv(l); break;
        case LayerKind::max_pool:
        case LayerKind::avg_pool: add_pool(l); break;
        case LayerKind::lrn: add_lrn(l); break;
        case LayerKind::adaptive_avg_pool: add_adaptive_pool(l, in); break;
        case LayerKind::fc: add_fc(l); break;
        case LayerKind::softmax: return;  // `prob`, added once after the classifier
    }
    layer_values_[current_] = i;
}

// What ONNX's shape inference computes for every layer's output equals infer_shapes' (Caffe's
// ceil-mode pooling, the adaptive pool), so the file computes what our engine does.
void check_shapes(const onnx::ModelProto& model, const GraphBuilder& built, const ModelSpec& spec,
                  const std::string& path) {
    onnx::ModelProto inferred = model;
    try {
        onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                           onnx::ShapeInferenceOptions(/*check_type=*/true, /*error_mode=*/1));
    } catch (const std::exception& e) {
        throw Error(path, std::string("ONNX shape inference: ") + e.what());
    }
    std::map<std::string, const onnx::ValueInfoProto*> values;
    for (const auto& v : inferred.graph().value_info()) values[v.name()] = &v;
    for (const auto& v : inferred.graph().output()) values[v.name()] = &v;
    for (const auto& [name, i] : built.layer_values()) {
        const Shape& s = built.shapes()[i];
        const LayerSpec& l = spec.layers[i];
        const std::vector<int64_t> ours = l.kind == LayerKind::fc ? std::vector<int64_t>{s.c} : std::vector<int64_t>{s.c, s.h, s.w};
        std::vector<int64_t> theirs;
        std::string found = "no shape";
        if (auto it = values.find(name); it != values.end() && it->second->type().tensor_type().has_shape()) {
            const auto& dims = it->second->type().tensor_type().shape().dim();
            for (int d = 1; d < dims.size(); ++d) theirs.push_back(dims[d].has_dim_value() ? dims[d].dim_value() : -1);
            found = shape_string(theirs);
        }
        check(theirs == ours, path, spec.arch + " layer " + l.name,
              "ONNX to compute its shape " + shape_string(ours) + " per image", found);
    }
}

}  // namespace

void write_onnx(const std::string& path, const ModelSpec& spec, const Weights& weights,
                const std::vector<std::string>& labels) {
    validate_weights(spec, weights, path);
    onnx::ModelProto model;
    model.set_ir_version(onnx::IR_VERSION);
    model.set_producer_name("alexnet-convert");
    model.set_producer_version(ALEXNET_VERSION);
    model.set_doc_string(spec.arch + " from the AlexNet suite; preprocessing and class names in metadata_props");
    auto* opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(kOpset);
    for (const auto& [key, value] : model_metadata(spec, labels, path)) {
        auto* entry = model.add_metadata_props();
        entry->set_key(key);
        entry->set_value(value);
    }

    onnx::GraphProto* graph = model.mutable_graph();
    graph->set_name(spec.arch);
    GraphBuilder built(graph, path, spec, weights);
    for (size_t i = 0; i < spec.layers.size(); ++i) built.add(i);
    auto* softmax = graph->add_node();  // over the classes: logits -> prob
    softmax->set_op_type("Softmax");
    softmax->set_name(kProb);
    softmax->add_input(kLogits);
    softmax->add_output(kProb);
    set_int(softmax, "axis", 1);
    const int classes = spec.num_classes();
    set_value_info(graph->add_input(), kInput, {spec.input.c, spec.input.h, spec.input.w});
    set_value_info(graph->add_output(), kLogits, {classes});
    set_value_info(graph->add_output(), kProb, {classes});

    try {
        onnx::checker::check_model(model);
    } catch (const std::exception& e) {
        throw Error(path, std::string("ONNX checker: ") + e.what());
    }
    check_shapes(model, built, spec, path);
    std::string bytes;
    check(model.SerializeToString(&bytes), path, "ONNX model", "a protobuf message under 2 GiB", "a larger model");
    AtomicFile out(path);
    out.write(bytes);
    out.commit();
}

}  // namespace alexnet
