#include "train/solver.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.hpp"

namespace alexnet {

namespace {

bool is_bias(const std::string& name) { return name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0; }
std::string layer_of(const std::string& name) { return name.substr(0, name.find('.')); }

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

// Hidden fc layers: every fc but the last (fc6, fc7 in the presets).
bool is_hidden_fc(const ModelSpec& spec, const std::string& layer) {
    const LayerSpec* l = spec.find(layer);
    if (!l || l->kind != LayerKind::fc) return false;
    for (auto it = spec.layers.rbegin(); it != spec.layers.rend(); ++it)
        if (it->kind == LayerKind::fc) return it->name != layer;
    return false;
}

// Inputs per output of layer `layer`: in/groups * kh * kw for a conv, in for an fc.
int64_t fan_in(const ParamLayout& layout, const std::string& layer) {
    const ParamSpec& w = layout.tensors[size_t(layout.index_of(layer + ".weight"))];
    int64_t n = 1;
    for (size_t d = 1; d < w.shape.size(); ++d) n *= w.shape[d];
    return n;
}

// PyTorch's default for Conv2d and Linear, weights and biases alike: U(-b, b), b = 1 / sqrt(fan_in)
// (kaiming_uniform_ with a = sqrt(5) gives b = sqrt(6 / ((1 + 5) fan_in)) for the weights).
void fill_torch_default(float* t, int64_t n, int64_t fan_in, std::mt19937_64& rng) {
    const float bound = 1.f / std::sqrt(float(fan_in));
    std::uniform_real_distribution<float> uniform(-bound, bound);
    for (int64_t k = 0; k < n; ++k) t[k] = uniform(rng);
}

void fill_tensor(const ModelSpec& spec, const ParamLayout& layout, size_t i, float* params, const std::string& init,
                 std::mt19937_64& rng) {
    const ParamSpec& p = layout.tensors[i];
    float* t = params + layout.offset[i];
    const int64_t n = layout.numel(i);
    const std::string layer = layer_of(p.name);
    const bool hidden_fc = is_hidden_fc(spec, layer);
    if (is_bias(p.name)) {
        if (init == "torch") return fill_torch_default(t, n, fan_in(layout, layer), rng);
        float v = 0;
        // cuda-convnet's layers-18pct starts every bias at 0
        const bool ones = (layer == "conv2" || layer == "conv4" || layer == "conv5" || hidden_fc) &&
                          spec.arch != "convnet-18pct";
        if (init == "paper" && ones) v = 1.f;
        if (init == "caffe" && ones) v = 0.1f;
        std::fill(t, t + n, v);
        return;
    }
    const int64_t inputs = fan_in(layout, layer);
    if (init == "torch") return fill_torch_default(t, n, inputs, rng);
    float std = 0.01f;
    if (init == "caffe" && hidden_fc) std = 0.005f;
    if (init == "kaiming") std = std::sqrt(2.f / float(inputs));
    if (init == "lecun") std = std::sqrt(1.f / float(inputs));
    if (init == "paper" && spec.arch == "convnet-18pct") std = layer == "conv1" ? 1e-4f : 1e-2f;
    std::normal_distribution<float> normal(0.f, std);
    for (int64_t k = 0; k < n; ++k) t[k] = normal(rng);
}

void check_init(const std::string& init) {
    for (const auto& n : init_names())
        if (n == init) return;
    throw Error("--init", "", "one of " + join(init_names()), "'" + init + "'");
}

}  // namespace

Sgd::Sgd(const ParamLayout& layout, float momentum, float weight_decay, bool caffe_bias)
    : layout_(layout), momentum_(momentum), weight_decay_(weight_decay), velocity_(size_t(layout.total), 0.f) {
    for (const auto& t : layout.tensors)
        mult_.push_back(caffe_bias && is_bias(t.name) ? Multipliers{2.f, 0.f} : Multipliers{1.f, 1.f});
}

void Sgd::update(float* params, const float* grads, float lr) {
    for (size_t i = 0; i < layout_.tensors.size(); ++i) {
        const int64_t off = layout_.offset[i], n = layout_.numel(i);
        const float m = momentum_, rate = lr * mult_[i].lr, decay = weight_decay_ * mult_[i].decay * rate;
        float* __restrict w = params + off;
        const float* __restrict g = grads + off;
        float* __restrict v = velocity_.data() + off;
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t k = 0; k < n; ++k) {
            v[k] = m * v[k] - decay * w[k] - rate * g[k];
            w[k] += v[k];
        }
    }
}

const std::vector<std::string>& init_names() {
    static const std::vector<std::string> names{"paper", "caffe", "kaiming", "torch", "lecun"};
    return names;
}

void initialise(const ModelSpec& spec, const ParamLayout& layout, float* params, const std::string& init,
                uint64_t seed) {
    check_init(init);
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < layout.tensors.size(); ++i) fill_tensor(spec, layout, i, params, init, rng);
}

void initialise_layer(const ModelSpec& spec, const ParamLayout& layout, float* params, const std::string& init,
                      uint64_t seed, const std::string& layer) {
    check_init(init);
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < layout.tensors.size(); ++i)
        if (layer_of(layout.tensors[i].name) == layer) fill_tensor(spec, layout, i, params, init, rng);
}

void scale_classifier_weights(const ModelSpec& spec, const ParamLayout& layout, float* params, float factor) {
    const int i = layout.index_of(spec.classifier() + ".weight");
    check(i >= 0, spec.arch, "parameters", spec.classifier() + ".weight", "none");
    float* t = params + layout.offset[size_t(i)];
    for (int64_t k = 0; k < layout.numel(size_t(i)); ++k) t[k] *= factor;
}

const std::vector<std::string>& lr_policy_names() {
    static const std::vector<std::string> names{"fixed", "step", "multistep", "plateau", "cosine"};
    return names;
}

LrState lr_start(const LrPolicy& p) {
    bool known = false;
    for (const auto& n : lr_policy_names()) known = known || n == p.name;
    check(known, "--lr-policy", "", "one of " + join(lr_policy_names()), "'" + p.name + "'");
    check(p.name != "step" || p.step > 0, "--lr-step", "", "a positive number of epochs", std::to_string(p.step));
    check(p.name != "cosine" || p.epochs > 0, "--epochs", "", "a positive number", std::to_string(p.epochs));
    LrState s;
    s.lr = p.base_lr;
    return s;
}

namespace {
float cosine_rate(const LrPolicy& p, double epochs_done) {
    const double progress = std::clamp(epochs_done / p.epochs, 0.0, 1.0);
    return float(p.base_lr * 0.5 * (1 + std::cos(M_PI * progress)));
}
}  // namespace

float lr_for_epoch(const LrPolicy& p, const LrState& s, int epoch) {
    if (p.name == "cosine") return cosine_rate(p, epoch);
    if (p.name == "step") return p.base_lr * std::pow(p.gamma, float(epoch / p.step));
    if (p.name == "multistep") {
        int passed = 0;
        for (int m : p.milestones) passed += epoch >= m;
        return p.base_lr * std::pow(p.gamma, float(passed));
    }
    if (p.name == "plateau") return p.base_lr * std::pow(p.gamma, float(s.drops));
    return p.base_lr;
}

float lr_for_step(const LrPolicy& p, const LrState& s, int epoch, int64_t step, int iters_per_epoch) {
    const float lr = p.name == "cosine" ? cosine_rate(p, double(step) / iters_per_epoch) : lr_for_epoch(p, s, epoch);
    const double warmup_steps = p.warmup_epochs * iters_per_epoch;
    if (double(step) + 1 >= warmup_steps) return lr;
    return float(lr * (double(step) + 1) / warmup_steps);
}

void lr_after_validation(const LrPolicy& p, LrState& s, double val_error) {
    if (val_error < s.best_val_error) {
        s.best_val_error = val_error;
        s.epochs_since_best = 0;
        return;
    }
    if (p.name != "plateau") return;
    if (++s.epochs_since_best >= p.patience && s.drops < p.max_drops) {
        ++s.drops;
        s.epochs_since_best = 0;
    }
}

}  // namespace alexnet
