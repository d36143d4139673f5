#include "formats/caffe.hpp"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "core/checked_size.hpp"
#include "core/error.hpp"
#include "core/regular_file.hpp"
#include "io/mapped_file.hpp"
#include "formats/protobuf.hpp"

namespace alexnet {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxPrototxtDepth = 100;                  // nesting of { } in a prototxt
constexpr uint64_t kMaxPrototxtBytes = uint64_t(64) << 20;  // bvlc_alexnet's deploy.prototxt: 4 KB

struct CaffeLayer {
    std::string name, type;
    std::vector<std::vector<int64_t>> shapes;  // per blob
    std::vector<std::vector<float>> blobs;
    bool has_lrn = false;
    int lrn_size = 5;
    float alpha = 1e-4f, beta = 0.75f, k = 1.f;
    int pool = 0;  // 0 MAX, 1 AVE
};

// V1LayerParameter.LayerType values used by AlexNet-era models.
std::string v1_type(uint64_t t) {
    static const std::map<uint64_t, std::string> names{
        {1, "Accuracy"}, {4, "Convolution"}, {5, "Data"}, {6, "Dropout"}, {12, "ImageData"}, {14, "InnerProduct"},
        {15, "LRN"}, {17, "Pooling"}, {18, "ReLU"}, {19, "Sigmoid"}, {20, "Softmax"}, {21, "SoftmaxWithLoss"},
        {22, "Split"}, {23, "TanH"}, {29, "MemoryData"}, {3, "Concat"}, {25, "Eltwise"}, {8, "Flatten"}};
    auto it = names.find(t);
    return it == names.end() ? "V1 type " + std::to_string(t) : it->second;
}

void read_lrn(ProtoReader r, CaffeLayer& l) {
    l.has_lrn = true;
    while (r.next()) {
        if (r.field() == 1) l.lrn_size = int(r.varint());
        else if (r.field() == 2) l.alpha = r.fixed32_float();
        else if (r.field() == 3) l.beta = r.fixed32_float();
        else if (r.field() == 5) l.k = r.fixed32_float();
        else if (r.field() == 4) check(r.varint() == 0, r.where(), "norm_region", "ACROSS_CHANNELS", "WITHIN_CHANNEL");
        else r.skip();
    }
}

void read_pool(ProtoReader r, CaffeLayer& l) {
    while (r.next()) {
        if (r.field() == 1) l.pool = int(r.varint());
        else r.skip();
    }
}

void read_blob(ProtoReader r, CaffeLayer& l) {
    std::vector<int64_t> legacy(4, 0), shape;
    bool has_legacy = false;
    std::vector<float> data;
    while (r.next()) {
        switch (r.field()) {
            case 1: case 2: case 3: case 4:
                legacy[size_t(r.field() - 1)] = int64_t(r.varint());
                has_legacy = true;
                break;
            case 5: r.floats(data); break;
            case 7: {
                ProtoReader s = r.message("shape");
                while (s.next()) s.field() == 1 ? s.ints(shape) : s.skip();
                break;
            }
            case 8: throw Error(r.where(), "blob", "float data", "double_data (not supported)");
            default: r.skip();
        }
    }
    if (shape.empty() && has_legacy) shape = legacy;
    l.shapes.push_back(shape);
    l.blobs.push_back(std::move(data));
}

// One LayerParameter (field numbers of the new format) or V1LayerParameter.
CaffeLayer read_layer(ProtoReader r, bool v1) {
    CaffeLayer l;
    while (r.next()) {
        const int f = r.field();
        if (!v1 && f == 1) l.name = r.bytes();
        else if (!v1 && f == 2) l.type = r.bytes();
        else if (!v1 && f == 7) read_blob(r.message("blob"), l);
        else if (!v1 && f == 118) read_lrn(r.message("lrn_param"), l);
        else if (!v1 && f == 121) read_pool(r.message("pooling_param"), l);
        else if (v1 && f == 4) l.name = r.bytes();
        else if (v1 && f == 5) l.type = v1_type(r.varint());
        else if (v1 && f == 6) read_blob(r.message("blob"), l);
        else if (v1 && f == 18) read_lrn(r.message("lrn_param"), l);
        else if (v1 && f == 19) read_pool(r.message("pooling_param"), l);
        else r.skip();
    }
    return l;
}

// --- prototxt: a minimal protobuf text-format reader -------------------------------------------

struct TextNode {
    std::string key, value;  // value for scalar fields
    std::vector<TextNode> children;
    const TextNode* child(const std::string& k) const {
        for (const auto& c : children)
            if (c.key == k) return &c;
        return nullptr;
    }
};

class TextParser {
public:
    TextParser(std::string text, std::string where) : s_(std::move(text)), where_(std::move(where)) {}
    TextNode parse() {
        TextNode root;
        root.children = fields(0);
        return root;
    }

private:
    std::string s_, where_;
    size_t i_ = 0;
    int line_ = 1;
    void space() {
        while (i_ < s_.size()) {
            if (s_[i_] == '#') {
                while (i_ < s_.size() && s_[i_] != '\n') ++i_;
            } else if (std::isspace(static_cast<unsigned char>(s_[i_]))) {
                line_ += s_[i_] == '\n';
                ++i_;
            } else {
                break;
            }
        }
    }
    std::string token() {
        space();
        check(i_ < s_.size(), where_ + ":" + std::to_string(line_), "prototxt", "a value", "the end of the file");
        if (s_[i_] == '"' || s_[i_] == '\'') {
            const char q = s_[i_++];
            std::string out;
            while (i_ < s_.size() && s_[i_] != q) out += s_[i_++];
            check(i_ < s_.size(), where_ + ":" + std::to_string(line_), "prototxt", "a closing quote", "the end");
            ++i_;
            return out;
        }
        std::string out;
        while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || std::strchr("_.-+", s_[i_])))
            out += s_[i_++];
        check(!out.empty(), where_ + ":" + std::to_string(line_), "prototxt", "a name or value",
              "'" + std::string(1, s_[i_]) + "'");
        return out;
    }
    // The fields of a message `depth` braces deep (0: the file itself).
    std::vector<TextNode> fields(int depth) {
        const bool nested = depth > 0;
        check(depth <= kMaxPrototxtDepth, where_ + ":" + std::to_string(line_), "prototxt",
              "messages nested at most " + std::to_string(kMaxPrototxtDepth) + " deep", "deeper nesting");
        std::vector<TextNode> out;
        while (true) {
            space();
            if (i_ >= s_.size()) {
                check(!nested, where_ + ":" + std::to_string(line_), "prototxt", "'}'", "the end of the file");
                return out;
            }
            if (s_[i_] == '}') {
                check(nested, where_ + ":" + std::to_string(line_), "prototxt", "a field", "'}'");
                ++i_;
                return out;
            }
            TextNode n;
            n.key = token();
            space();
            if (i_ < s_.size() && s_[i_] == ':') ++i_, space();
            if (i_ < s_.size() && s_[i_] == '{') {
                ++i_;
                n.children = fields(depth + 1);
            } else {
                n.value = token();
            }
            out.push_back(std::move(n));
        }
    }
};

std::vector<CaffeLayer> parse_prototxt(const std::string& text, const std::string& path) {
    const TextNode root = TextParser(text, path).parse();
    std::vector<CaffeLayer> out;
    for (const auto& n : root.children) {
        if (n.key != "layer" && n.key != "layers") continue;
        CaffeLayer l;
        if (auto* c = n.child("name")) l.name = c->value;
        if (auto* c = n.child("type")) {
            l.type = c->value;
            static const std::map<std::string, std::string> v1{
                {"CONVOLUTION", "Convolution"}, {"RELU", "ReLU"}, {"LRN", "LRN"}, {"POOLING", "Pooling"},
                {"INNER_PRODUCT", "InnerProduct"}, {"DROPOUT", "Dropout"}, {"SOFTMAX", "Softmax"}, {"DATA", "Data"},
                {"SOFTMAX_LOSS", "SoftmaxWithLoss"}, {"ACCURACY", "Accuracy"}};
            if (auto it = v1.find(l.type); it != v1.end()) l.type = it->second;
        }
        if (auto* p = n.child("lrn_param")) {
            l.has_lrn = true;
            auto num = [&](const char* key, float& v) {
                if (auto* c = p->child(key)) {
                    try {
                        v = std::stof(c->value);
                    } catch (const std::exception&) {
                        throw Error(path, std::string("layer ") + l.name + ": lrn_param." + key, "a number", "'" + c->value + "'");
                    }
                }
            };
            float size = 5;
            num("local_size", size);
            l.lrn_size = size >= 0 && size <= 1000 ? int(size) : -1;  // checked (== 5) where it is used
            num("alpha", l.alpha), num("beta", l.beta), num("k", l.k);
        }
        if (auto* p = n.child("pooling_param"))
            if (auto* c = p->child("pool")) l.pool = c->value == "MAX" ? 0 : 1;
        out.push_back(l);
    }
    return out;
}

std::vector<CaffeLayer> read_prototxt(const std::string& path) {
    return parse_prototxt(read_text_file(path, kMaxPrototxtBytes, "a prototxt"), path);
}

}  // namespace

std::vector<std::string> prototxt_layer_types(const std::string& text, const std::string& where) {
    std::vector<std::string> types;
    for (const auto& l : parse_prototxt(text, where)) types.push_back(l.type);
    return types;
}

bool looks_like_caffemodel(const std::string& path) {
    if (fs::path(path).extension() == ".caffemodel") return true;
    const std::string h = read_file_head(path, 2);
    if (h.size() < 2) return false;
    const auto head = [&](size_t i) { return static_cast<unsigned char>(h[i]); };
    // NetParameter: name (field 1), V1 layers (field 2), input (field 3) or layer (field 100)
    return head(0) == 0x0a || head(0) == 0x12 || head(0) == 0x1a || (head(0) == 0xa2 && head(1) == 0x06);
}

Weights read_caffemodel(const std::string& path) {
    const MappedFile file(path);
    ProtoReader net(file.data(), file.size(), path);
    std::vector<CaffeLayer> layers;
    while (net.next()) {
        if (net.field() == 100) layers.push_back(read_layer(net.message("layer"), false));
        else if (net.field() == 2) layers.push_back(read_layer(net.message("layers"), true));
        else net.skip();
    }
    check(!layers.empty(), path, "NetParameter", "layers (a Caffe model)", "none");
    std::map<std::string, CaffeLayer*> by_name;  // the blobs are moved out, not copied
    for (auto& l : layers)
        if (!l.blobs.empty()) by_name[l.name] = &l;

    // The network's order: the prototxt beside the model when there is one.
    std::vector<CaffeLayer> order = layers;
    std::string order_from = path;
    const fs::path p(path);
    for (const fs::path& cand : {fs::path(p).replace_extension(".prototxt"), p.parent_path() / "deploy.prototxt"})
        if (fs::exists(cand)) {
            order = read_prototxt(cand.string());
            order_from = cand.string();
            break;
        }

    Weights w;
    int convs = 0, fcs = 0, first_pool = -1, first_lrn = -1;
    const CaffeLayer* lrn = nullptr;
    for (size_t i = 0; i < order.size(); ++i) {
        const CaffeLayer& l = order[i];
        const std::string& t = l.type;
        if (t == "Data" || t == "Input" || t == "ImageData" || t == "MemoryData" || t == "Accuracy" ||
            t == "SoftmaxWithLoss" || t == "Softmax" || t == "ReLU" || t == "Dropout" || t == "Split")
            continue;
        if (t == "LRN") {
            if (first_lrn < 0) first_lrn = int(i), lrn = &l;
            continue;
        }
        if (t == "Pooling") {
            check(l.pool == 0, order_from, "layer " + l.name, "max pooling", "average pooling");
            if (first_pool < 0) first_pool = int(i);
            continue;
        }
        if (t != "Convolution" && t != "InnerProduct")
            throw Error(order_from, "layer '" + l.name + "' of type " + t +
                                        " is not part of an AlexNet (convolution, ReLU, LRN, max pooling, inner "
                                        "product, dropout, softmax)");
        auto it = by_name.find(l.name);
        check(it != by_name.end(), path, "layer " + l.name, "its weights and biases", "no blobs");
        CaffeLayer& b = *it->second;
        check(b.blobs.size() == 2, path, "layer " + l.name, "2 blobs (weights, biases)", std::to_string(b.blobs.size()));
        const bool conv = t == "Convolution";
        const std::string canon = conv ? "conv" + std::to_string(++convs) : "fc" + std::to_string(5 + ++fcs);
        std::vector<int64_t> ws = b.shapes[0];
        const uint64_t numel = checked_numel(ws, path, "layer " + l.name + " weights");
        check(numel == b.blobs[0].size(), path, "layer " + l.name + " weights",
              std::to_string(numel) + " values for shape " + shape_string(ws), std::to_string(b.blobs[0].size()));
        if (!conv) {  // legacy blobs are (1, 1, out, in)
            while (ws.size() > 2 && ws.front() == 1) ws.erase(ws.begin());
            check(ws.size() == 2, path, "layer " + l.name + " weights", "[out, in]", shape_string(b.shapes[0]));
        }
        check(!conv || ws.size() == 4, path, "layer " + l.name + " weights", "[out, in/groups, kh, kw]", shape_string(ws));
        const int64_t out = int64_t(b.blobs[1].size());
        w.add(canon + ".weight", ws, std::move(b.blobs[0]));
        w.add(canon + ".bias", {out}, std::move(b.blobs[1]));
    }
    check(convs == 5 && fcs == 3, order_from, "layers", "5 convolutions and 3 inner products (an AlexNet)",
          std::to_string(convs) + " and " + std::to_string(fcs));
    check(lrn != nullptr, order_from, "layers", "LRN layers (a Caffe AlexNet or CaffeNet)", "none");
    check(lrn->lrn_size == 5, order_from, "layer " + lrn->name + ": lrn_param.local_size", "5",
          std::to_string(lrn->lrn_size));
    w.metadata["arch"] = first_pool < first_lrn ? "caffenet" : "alexnet";
    w.metadata["lrn_alpha"] = metadata_floats(&lrn->alpha, 1);
    w.metadata["lrn_beta"] = metadata_floats(&lrn->beta, 1);
    w.metadata["lrn_k"] = metadata_floats(&lrn->k, 1);
    w.metadata["source_format"] = "caffe";
    return w;
}

}  // namespace alexnet
