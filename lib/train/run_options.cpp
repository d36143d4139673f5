// The run options of alexnet-train: as JSON in a checkpoint, read back with every value checked,
// and their ranges.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.hpp"
#include "io/bounded_json.hpp"
#include "io/json_lines.hpp"
#include "train/checkpoint.hpp"
#include "train/training_run.hpp"

namespace alexnet {

nlohmann::json to_json(const TrainOptions& o) {
    return {{"data", o.data}, {"val", o.val}, {"root", o.root}, {"val_root", o.val_root}, {"limit", o.limit},
            {"limit_first", o.limit_first},
            {"val_split", o.val_split},
            {"labels_file", o.labels_file}, {"arch", o.arch}, {"activation", o.activation}, {"init", o.init},
            {"weights", o.weights}, {"dropout", o.dropout}, {"epochs", o.epochs}, {"batch", o.batch}, {"lr", o.lr},
            {"momentum", o.momentum}, {"weight_decay", o.weight_decay}, {"caffe_multipliers", o.caffe_multipliers},
            {"lr_policy", o.policy.name}, {"lr_gamma", o.policy.gamma}, {"lr_step", o.policy.step},
            {"lr_milestones", o.policy.milestones}, {"plateau_patience", o.policy.patience},
            {"plateau_max_drops", o.policy.max_drops}, {"warmup_epochs", o.policy.warmup_epochs}, {"random_crop", o.random_crop}, {"flip", o.flip},
            {"pad", o.pad}, {"lighting", o.lighting}, {"mean", o.mean}, {"std", o.std},
            {"stats_images", o.stats_images}, {"seed", o.seed}, {"precision", o.precision}};
}

namespace {

// The options of a checkpoint read one by one, each value's JSON type checked and its number
// representable (a float 1e300 converted to an int or a float is undefined behaviour, not merely a
// wrong number); the ranges are check_run_options'.
class OptionReader {
public:
    OptionReader(const nlohmann::json& j, const std::string& path) : j_(j), path_(path) {
        if (!j_.is_object()) fail("", "an object");
    }
    void operator()(const char* key, std::string& out) const { out = value(key, &nlohmann::json::is_string, "a string"); }
    void operator()(const char* key, bool& out) const { out = value(key, &nlohmann::json::is_boolean, "true or false"); }
    void operator()(const char* key, int& out) const { out = to_int(key, at(key)); }
    void operator()(const char* key, uint64_t& out) const {
        out = value(key, &nlohmann::json::is_number_unsigned, "a non-negative integer").template get<uint64_t>();
    }
    void operator()(const char* key, float& out) const { out = to_float(key, at(key)); }
    void operator()(const char* key, double& out) const {
        out = value(key, &nlohmann::json::is_number, "a number").template get<double>();
    }
    void operator()(const char* key, std::vector<int>& out) const {
        out.clear();
        for (const auto& v : list(key)) out.push_back(to_int(key, v));
    }
    void operator()(const char* key, std::vector<float>& out) const {
        out.clear();
        for (const auto& v : list(key)) out.push_back(to_float(key, v));
    }

private:
    const nlohmann::json& j_;
    const std::string& path_;
    [[noreturn]] void fail(const std::string& key, const std::string& expected, const nlohmann::json* v = nullptr) const {
        throw Error(path_, "__metadata__.checkpoint.options" + (key.empty() ? "" : "." + key), expected,
                    v ? json_excerpt(*v) : json_excerpt(j_));
    }
    const nlohmann::json& at(const char* key) const {
        if (!j_.contains(key)) throw Error(path_, std::string("__metadata__.checkpoint.options.") + key, "a value", "none");
        return j_.at(key);
    }
    const nlohmann::json& value(const char* key, bool (nlohmann::json::*is)() const noexcept, const char* expected) const {
        const nlohmann::json& v = at(key);
        if (!(v.*is)()) fail(key, expected, &v);
        return v;
    }
    const nlohmann::json& list(const char* key) const {
        const nlohmann::json& v = at(key);
        if (!v.is_array() || v.size() > 1000) fail(key, "an array of numbers", &v);
        return v;
    }
    int to_int(const char* key, const nlohmann::json& v) const {
        if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT32_MAX)) ||
            v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX)
            fail(key, "an integer", &v);
        return int(v.get<int64_t>());
    }
    float to_float(const char* key, const nlohmann::json& v) const {
        if (!v.is_number() || std::fabs(v.get<double>()) > 3.4e38) fail(key, "a number", &v);
        return float(v.get<double>());
    }
};

}  // namespace

nlohmann::json lighting_json(const Lighting& l) {
    return {{"stddev", l.stddev}, {"eigval", std::vector<float>(l.eigval, l.eigval + 3)},
            {"eigvec", {std::vector<float>(l.eigvec[0], l.eigvec[0] + 3), std::vector<float>(l.eigvec[1], l.eigvec[1] + 3),
                        std::vector<float>(l.eigvec[2], l.eigvec[2] + 3)}}};
}

Lighting lighting_from_json(const nlohmann::json& j, const std::string& checkpoint) {
    Lighting l;
    try {
        l.stddev = j.at("stddev").get<float>();
        for (int i = 0; i < 3; ++i) {
            l.eigval[i] = j.at("eigval").at(i).get<float>();
            for (int k = 0; k < 3; ++k) l.eigvec[i][k] = j.at("eigvec").at(i).at(k).get<float>();
        }
    } catch (const nlohmann::json::exception&) {
        throw Error(checkpoint, "__metadata__.checkpoint.options.lighting_values",
                    "stddev, eigval[3] and eigvec[3][3] numbers", json_excerpt(j));
    }
    bool finite = std::isfinite(l.stddev);
    for (int i = 0; i < 3; ++i)
        for (float v : {l.eigval[i], l.eigvec[i][0], l.eigvec[i][1], l.eigvec[i][2]}) finite = finite && std::isfinite(v);
    check(finite, checkpoint, "__metadata__.checkpoint.options.lighting_values", "finite numbers", json_excerpt(j));
    return l;
}

void apply_checkpoint_options(const nlohmann::json& j, const std::string& path, TrainOptions& o) {
    const OptionReader get(j, path);
    get("data", o.data), get("val", o.val), get("root", o.root), get("val_split", o.val_split);
    get("labels_file", o.labels_file), get("arch", o.arch), get("activation", o.activation), get("init", o.init);
    get("weights", o.weights), get("dropout", o.dropout), get("batch", o.batch), get("lr", o.lr);
    get("momentum", o.momentum), get("weight_decay", o.weight_decay), get("caffe_multipliers", o.caffe_multipliers);
    get("lr_policy", o.policy.name), get("lr_gamma", o.policy.gamma), get("lr_step", o.policy.step);
    get("lr_milestones", o.policy.milestones), get("plateau_patience", o.policy.patience);
    get("plateau_max_drops", o.policy.max_drops), get("random_crop", o.random_crop);
    get("warmup_epochs", o.policy.warmup_epochs), get("flip", o.flip), get("pad", o.pad), get("lighting", o.lighting);
    get("mean", o.mean), get("std", o.std), get("stats_images", o.stats_images), get("seed", o.seed);
    o.val_root.clear(), o.limit = 0;  // absent before 0.1.1
    if (j.contains("val_root")) get("val_root", o.val_root);
    if (j.contains("limit")) get("limit", o.limit);
    o.limit_first = o.limit > 0 && !j.contains("limit_first");  // checkpointed when --limit took the first N
    if (j.contains("limit_first")) get("limit_first", o.limit_first);
    o.precision = "fp32";  // absent before bf16 training
    if (j.contains("precision")) get("precision", o.precision);
    if (o.epochs == 0) get("epochs", o.epochs);  // a new --epochs wins
    check_run_options(o, path);
    lighting_from_json(j.contains("lighting_values") ? j.at("lighting_values") : nlohmann::json(), path);  // checked
}

void check_run_options(const TrainOptions& o, const std::string& checkpoint) {
    // Named as the option, or as the checkpoint's field when the value came from one.
    const auto require = [&](bool ok, const char* option, const char* key, const std::string& expected,
                             const std::string& found) {
        if (ok) return;
        if (checkpoint.empty()) throw Error(option, "", expected, found);
        throw Error(checkpoint, std::string("__metadata__.checkpoint.options.") + key, expected, found);
    };
    const auto in = [](double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; };
    const auto one_of = [](const std::string& v, const std::vector<std::string>& names) {
        return std::find(names.begin(), names.end(), v) != names.end();
    };
    const auto text = [](double v) {
        std::ostringstream s;
        s << v;
        return s.str();
    };
    require(o.batch >= 1 && o.batch <= kMaxBatch, "--batch-size", "batch", "1.." + std::to_string(kMaxBatch),
            std::to_string(o.batch));
    require(o.epochs >= 1 && o.epochs <= kMaxEpochs, "--epochs", "epochs", "1.." + std::to_string(kMaxEpochs),
            std::to_string(o.epochs));
    require(o.pad >= 0 && o.pad <= kMaxPad, "--pad", "pad", "0.." + std::to_string(kMaxPad), std::to_string(o.pad));
    require(o.stats_images >= 1, "--stats-images", "stats_images", "a positive number", std::to_string(o.stats_images));
    require(o.limit >= 0, "--limit", "limit", "a non-negative number of items", std::to_string(o.limit));
    require(in(o.val_split, 0, 0.99), "--val-split", "val_split", "a fraction from 0 to 0.99", text(o.val_split));
    require(in(o.dropout, 0, 0.99), "--dropout", "dropout", "0..0.99", text(o.dropout));
    require(one_of(o.precision, {"fp32", "bf16"}), "--precision", "precision", "fp32 or bf16", "'" + o.precision + "'");
    require(in(o.lr, 1e-30, 1e30), "--lr", "lr", "a positive number", text(o.lr));
    require(in(o.momentum, 0, 0.999), "--momentum", "momentum", "0..0.999", text(o.momentum));
    require(in(o.weight_decay, 0, 1), "--weight-decay", "weight_decay", "0..1", text(o.weight_decay));
    require(one_of(o.policy.name, lr_policy_names()), "--lr-policy", "lr_policy", "a rate policy", "'" + o.policy.name + "'");
    require(in(o.policy.gamma, 0, 1e30), "--lr-gamma", "lr_gamma", "a non-negative number", text(o.policy.gamma));
    require(o.policy.step >= 1, "--lr-step", "lr_step", "a positive number of epochs", std::to_string(o.policy.step));
    for (int m : o.policy.milestones)
        require(m >= 0 && m <= kMaxEpochs, "--lr-milestones", "lr_milestones", "epochs from 0", std::to_string(m));
    require(o.policy.patience >= 1, "--plateau-patience", "plateau_patience", "a positive number",
            std::to_string(o.policy.patience));
    require(o.policy.max_drops >= 0, "--plateau-max-drops", "plateau_max_drops", "a non-negative number",
            std::to_string(o.policy.max_drops));
    require(in(o.policy.warmup_epochs, 0, 1000), "--warmup-epochs", "warmup_epochs", "0..1000",
            text(o.policy.warmup_epochs));
    require(one_of(o.arch, preset_names()), "--arch", "arch", "a preset", "'" + o.arch + "'");
    require(one_of(o.activation, activation_names()), "--activation", "activation", "an activation", "'" + o.activation + "'");
    require(one_of(o.init, init_names()), "--init", "init", "an initialiser", "'" + o.init + "'");
    require(one_of(o.lighting, {"auto", "data", "imagenet", "none"}), "--lighting", "lighting",
            "auto, data, imagenet or none", "'" + o.lighting + "'");
    for (const auto* values : {&o.mean, &o.std}) {
        const bool is_std = values == &o.std;
        require(values->size() <= 3, is_std ? "--std" : "--mean", is_std ? "std" : "mean", "at most 3 values",
                std::to_string(values->size()));
        for (float v : *values)
            require(in(v, is_std ? 1e-30 : -1e30, 1e30), is_std ? "--std" : "--mean", is_std ? "std" : "mean",
                    is_std ? "positive numbers" : "finite numbers", text(v));
    }
}

}  // namespace alexnet
