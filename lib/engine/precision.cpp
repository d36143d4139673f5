#include "engine/precision.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.hpp"

namespace alexnet {

const char* to_string(Precision p) {
    switch (p) {
        case Precision::fp32: return "fp32";
        case Precision::bf16: return "bf16";
        case Precision::int8: return "int8";
    }
    return "?";
}

Precision parse_precision(const std::string& where, const std::string& text) {
    for (Precision p : {Precision::fp32, Precision::bf16, Precision::int8})
        if (text == to_string(p)) return p;
    throw Error(where, "precision", "fp32, bf16 or int8", "'" + text + "'");
}

const char* to_string(DType t) {
    switch (t) {
        case DType::f32: return "f32";
        case DType::bf16: return "bf16";
        case DType::u8: return "u8";
        case DType::s8: return "s8";
    }
    return "?";
}

namespace {

// dnnl_cpu_isa_t values are bit sets: an ISA holds every bit of the ones it extends.
bool isa_has(unsigned bits) { return (unsigned(dnnl::get_effective_cpu_isa()) & bits) == bits; }
constexpr unsigned kAvx2 = 0x7, kAvx512CoreVnni = 0x67, kAvx512CoreBf16 = 0xe7;

}  // namespace

std::string cpu_isa_name() {
    using isa = dnnl::cpu_isa;
    switch (dnnl::get_effective_cpu_isa()) {
        case isa::sse41: return "sse41";
        case isa::avx: return "avx";
        case isa::avx2: return "avx2";
        case isa::avx2_vnni: return "avx2_vnni";
        case isa::avx512_mic: return "avx512_mic";
        case isa::avx512_mic_4ops: return "avx512_mic_4ops";
        case isa::avx512_core: return "avx512_core";
        case isa::avx512_core_vnni: return "avx512_core_vnni";
        case isa::avx512_core_bf16: return "avx512_core_bf16";
        case isa::avx512_core_amx: return "avx512_core_amx";
        default: return "unknown";
    }
}

std::string cpu_model_name() {
    // Virtual machines often say only "AMD EPYC": family and model tell the generation (26 = Zen 5).
    std::string name = "unknown CPU", family, model;
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line) && line != "";) {
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        if (line.rfind("model name", 0) == 0) name = value;
        else if (line.rfind("cpu family", 0) == 0) family = value;
        else if (line.rfind("model\t", 0) == 0) model = value;
    }
    return family.empty() ? name : name + " (family " + family + ", model " + model + ")";
}

bool precision_supported(Precision p) {
    switch (p) {
        case Precision::fp32: return true;
        case Precision::bf16: return isa_has(kAvx512CoreBf16);
        case Precision::int8: return isa_has(kAvx2);
    }
    return false;
}

void require_precision_support(Precision p) {
    if (precision_supported(p)) return;
    const std::string found = cpu_isa_name() + " on this CPU (oneDNN's effective ISA), where " +
                              (precision_supported(Precision::int8) ? "fp32 and int8 run" : "fp32 runs");
    if (p == Precision::bf16)
        throw Error("--precision", "bf16", "a CPU with AVX512-BF16 (oneDNN ISA avx512_core_bf16 or newer)", found);
    throw Error("--precision", "int8", "a CPU with AVX2 or newer", found);
}

bool cpu_has_vnni() { return isa_has(kAvx512CoreVnni); }

std::vector<bool> known_nonnegative(const ModelSpec& spec) {
    std::vector<bool> r{false};
    for (const auto& l : spec.layers) {
        bool v = r.back();
        if (l.has_params()) v = l.activation == Activation::relu || l.activation == Activation::sigmoid;
        if (l.kind == LayerKind::softmax) v = true;
        r.push_back(v);
    }
    return r;
}

std::vector<LayerPlan> plan_precision(const ModelSpec& spec, int last, const Weights& w, const Quantization& q,
                                      Precision precision, bool halve_weights) {
    const std::vector<Shape> shapes = infer_shapes(spec);
    const DType flt = precision == Precision::bf16 ? DType::bf16 : DType::f32;
    struct Tensor {
        DType dt = DType::f32;
        float scale = 1;
        bool nonneg = false;  // known >= 0 (after ReLU or sigmoid, through LRN and pooling)
        std::string name = "input";
    } cur;
    auto int8_weights = [&](int i) {
        const LayerSpec& l = spec.layers[size_t(i)];
        return precision == Precision::int8 && l.has_params() && w.contains(l.name + ".weight_scale");
    };
    std::vector<LayerPlan> plan(size_t(last) + 1);
    for (int i = 0; i <= last; ++i) {
        const LayerSpec& l = spec.layers[size_t(i)];
        const LayerSpec* next = i < last ? &spec.layers[size_t(i) + 1] : nullptr;
        LayerPlan& p = plan[size_t(i)];
        const Shape in = i ? shapes[size_t(i) - 1] : spec.input;
        switch (l.kind) {
            case LayerKind::conv:
            case LayerKind::fc: {
                const bool nonneg_out = l.activation == Activation::relu || l.activation == Activation::sigmoid;
                if (precision == Precision::int8 && !int8_weights(i)) p.note = "no int8 weights in the model";
                if (int8_weights(i) && l.kind == LayerKind::fc && !cur.nonneg)
                    p.note = "signed input (int8 fc layers read u8, after ReLU)";
                if (int8_weights(i) && p.note.empty()) {
                    p.int8_weights = true;
                    p.halve_weights = halve_weights;
                    p.src = cur.nonneg ? DType::u8 : DType::s8;
                    p.src_scale = cur.dt == p.src ? cur.scale : q.scale_of(cur.name);
                    const bool next_int8 = next && (next->kind == LayerKind::max_pool ||
                                                    (next->has_params() && int8_weights(i + 1)));
                    p.dst = l.activation == Activation::relu && next_int8 ? DType::u8 : DType::f32;
                    p.dst_scale = p.dst == DType::u8 ? q.scale_of(l.name) : 1.f;
                } else {
                    p.src = p.dst = flt;
                    if (flt == DType::bf16 && (!next || next->kind == LayerKind::softmax)) p.dst = DType::f32;
                }
                cur = {p.dst, p.dst_scale, nonneg_out, l.name};
                break;
            }
            case LayerKind::lrn:
                p.src = p.dst = flt;
                cur = {flt, 1.f, cur.nonneg, l.name};
                break;
            case LayerKind::max_pool:
            case LayerKind::avg_pool:  // in the type it is given (f32 here: only max_pool keeps u8)
                p.src = p.dst = cur.dt;
                p.src_scale = p.dst_scale = cur.scale;
                cur.name = l.name;
                break;
            case LayerKind::adaptive_avg_pool: {
                const bool uneven = in.h % l.out_h != 0 || in.w % l.out_w != 0;
                if (uneven) {  // the plain loop on f32
                    p.src = p.dst = DType::f32;
                    cur = {DType::f32, 1.f, cur.nonneg, l.name};
                } else {
                    p.src = p.dst = cur.dt;
                    p.src_scale = p.dst_scale = cur.scale;
                    cur.name = l.name;
                }
                break;
            }
            case LayerKind::softmax:
                p.src = p.dst = DType::f32;
                cur = {DType::f32, 1.f, true, l.name};
                break;
        }
    }
    return plan;
}

std::string describe(const ModelSpec& spec, const std::vector<LayerPlan>& plan) {
    std::string s, notes;
    for (size_t i = 0; i < plan.size(); ++i) {
        const LayerSpec& l = spec.layers[i];
        const LayerPlan& p = plan[i];
        if (i) s += ", ";
        s += l.name + " " + to_string(p.src);
        if (p.dst != p.src || l.has_params()) s += std::string("->") + to_string(p.dst);
        if (p.int8_weights) s += p.halve_weights ? " (s8 weights, 7-bit)" : " (s8 weights)";
        if (!p.note.empty()) notes += (notes.empty() ? "" : "; ") + l.name + " stays float: " + p.note;
    }
    return notes.empty() ? s : s + " [" + notes + "]";
}

Int8Layer int8_layer(const LayerSpec& l, const Weights& w, const LayerPlan& plan) {
    const float* step = w.at(l.name + ".weight_scale").floats();
    const float* b = w.at(l.name + ".bias").floats();
    const int64_t oc = l.out_channels;
    const float factor = plan.halve_weights ? 2.f : 1.f;
    Int8Layer r;
    r.bias.resize(size_t(oc));
    r.output_scale.resize(size_t(oc));
    for (int64_t o = 0; o < oc; ++o) {
        const float acc_step = plan.src_scale * (step[o] * factor);  // real value of one accumulator unit
        r.bias[size_t(o)] = b[o] / acc_step;
        r.output_scale[size_t(o)] = acc_step / plan.dst_scale;
    }
    return r;
}

void int8_weights(const Tensor& t, int64_t begin, int64_t n, bool halve, int8_t* out) {
    // Halving rounds half to even, as oneDNN does when it halves an s8-input layer's weights.
    static const std::array<int8_t, 256> halved = [] {
        std::array<int8_t, 256> h{};
        for (int v = -128; v < 128; ++v) h[uint8_t(v)] = int8_t(std::nearbyint(float(v) * 0.5f));
        return h;
    }();
    auto copy = [&](const auto* q) {
        for (int64_t i = 0; i < n; ++i) {
            const auto v = int8_t(int(q[begin + i]));
            out[i] = halve ? halved[uint8_t(v)] : v;
        }
    };
    if (t.is_s8())
        copy(t.s8());
    else
        copy(t.floats());
}

float saturate_round(float x, DType t) {
    const float lo = t == DType::u8 ? 0.f : -128.f, hi = t == DType::u8 ? 255.f : 127.f;
    return std::nearbyint(std::clamp(x, lo, hi));
}

float round_to_bf16(float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    if ((bits & 0x7f800000u) != 0x7f800000u) bits += 0x7fffu + ((bits >> 16) & 1u);
    bits &= 0xffff0000u;
    std::memcpy(&x, &bits, 4);
    return x;
}

}  // namespace alexnet
