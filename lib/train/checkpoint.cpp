#include "train/checkpoint.hpp"

#include <cmath>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "io/bounded_json.hpp"
#include "io/json_lines.hpp"

namespace alexnet {

nlohmann::json to_json(const EpochRecord& r) {
    nlohmann::json j{{"epoch", r.epoch}, {"lr", r.lr}, {"train_loss", r.train_loss},
                     {"train_error", r.train_error}, {"seconds", r.seconds}};
    if (r.has_val) j.update({{"val_loss", r.val_loss}, {"val_top1_error", r.val_top1_error},
                             {"val_top5_error", r.val_top5_error}});
    return j;
}

namespace {

std::string number_text(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

// The checkpoint's JSON read field by field: every number's type and range checked before use, so
// a damaged or tampered file fails here with the field named, not later in the loader or the loop.
class Fields {
public:
    Fields(const std::string& path, const nlohmann::json& j, std::string name)
        : path_(path), j_(j), name_(std::move(name)) {
        if (!j_.is_object()) throw Error(path_, name_, "an object", json_excerpt(j_));
    }
    const nlohmann::json& at(const std::string& key) const {
        if (!j_.contains(key)) throw Error(path_, name_ + "." + key, "a value", "none");
        return j_.at(key);
    }
    bool has(const std::string& key) const { return j_.contains(key); }
    Fields object(const std::string& key) const { return Fields(path_, at(key), name_ + "." + key); }
    int64_t integer(const std::string& key, int64_t lo, int64_t hi) const {
        const nlohmann::json& v = at(key);
        const bool ok = v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) &&
                        v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
        if (!ok)
            throw Error(path_, name_ + "." + key, "an integer from " + std::to_string(lo) + " to " + std::to_string(hi),
                        json_excerpt(v));
        return v.get<int64_t>();
    }
    double real(const std::string& key, double lo, double hi) const {
        const nlohmann::json& v = at(key);
        const bool ok = v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= lo && v.get<double>() <= hi;
        if (!ok)
            throw Error(path_, name_ + "." + key, "a number from " + number_text(lo) + " to " + number_text(hi),
                        json_excerpt(v));
        return v.get<double>();
    }

    // real(), or NaN for null (a measurement that could not be made)
    double measured(const std::string& key, double lo, double hi) const {
        return at(key).is_null() ? std::numeric_limits<double>::quiet_NaN() : real(key, lo, hi);
    }

private:
    const std::string& path_;
    const nlohmann::json& j_;
    std::string name_;
};

constexpr int64_t kMaxSteps = int64_t(1) << 50;
constexpr int64_t kMaxWorldSize = 1 << 20;  // processes; far beyond any cluster this trains on
constexpr double kMaxLoss = 1e30;  // finite is what matters; a loss is never near this

EpochRecord record_from_json(const Fields& f, int epoch) {
    EpochRecord r;
    r.epoch = int(f.integer("epoch", epoch, epoch));
    r.lr = f.real("lr", 0, kMaxLoss);
    r.train_loss = f.real("train_loss", 0, kMaxLoss);
    r.train_error = f.real("train_error", 0, 1);
    r.seconds = f.real("seconds", 0, kMaxLoss);
    r.has_val = f.has("val_loss");
    if (r.has_val) {  // null: a validation pass that could read no image
        r.val_loss = f.measured("val_loss", 0, kMaxLoss);
        r.val_top1_error = f.measured("val_top1_error", 0, 1);
        r.val_top5_error = f.measured("val_top5_error", 0, 1);
    }
    return r;
}

}  // namespace

void save_checkpoint(const std::string& path, const ModelSpec& spec, const std::vector<std::string>& labels,
                     const Weights& params, const ParamLayout& layout, const float* momentum, const TrainState& state,
                     const nlohmann::json& options) {
    Weights extra;
    for (size_t i = 0; i < layout.tensors.size(); ++i)
        extra.add_view("momentum." + layout.tensors[i].name, layout.tensors[i].shape, momentum + layout.offset[i]);
    nlohmann::json history = nlohmann::json::array();
    for (const auto& r : state.history) history.push_back(to_json(r));
    const nlohmann::json ck{
        {"epoch", state.epoch},
        {"batch", state.batch},
        {"step", state.step},
        {"world_size", state.world_size},
        {"lr_state", {{"lr", state.lr.lr}, {"drops", state.lr.drops}, {"best_val_error", state.lr.best_val_error},
                      {"epochs_since_best", state.lr.epochs_since_best}}},
        {"best_val_error", state.best_val_error},
        {"history", history},
        {"epoch_stats", {{"images", state.epoch_stats.images}, {"top1", state.epoch_stats.top1},
                         {"top5", state.epoch_stats.top5}, {"loss_sum", state.epoch_stats.loss_sum}}},
        {"options", options}};
    extra.metadata["checkpoint"] = dump_utf8(ck);
    save_model(path, spec, params, labels, &extra);
}

TrainState parse_checkpoint_state(const std::string& text, const std::string& path, nlohmann::json& options) {
    const nlohmann::json ck = parse_bounded_json(text, path, "__metadata__.checkpoint");
    const Fields f(path, ck, "__metadata__.checkpoint");
    TrainState s;
    s.epoch = int(f.integer("epoch", 0, kMaxEpochs));
    s.batch = int(f.integer("batch", 0, INT32_MAX));  // against the data's batches per epoch: check_resume_position
    s.step = f.integer("step", 0, kMaxSteps);
    // Absent in checkpoints written before data-parallel training: those were one process.
    s.world_size = f.has("world_size") ? int(f.integer("world_size", 1, kMaxWorldSize)) : 1;
    const Fields lr = f.object("lr_state");
    s.lr.lr = float(lr.real("lr", 0, 1e30));
    s.lr.drops = int(lr.integer("drops", 0, s.epoch));
    s.lr.best_val_error = lr.real("best_val_error", 0, 2);
    s.lr.epochs_since_best = int(lr.integer("epochs_since_best", 0, s.epoch));
    s.best_val_error = f.real("best_val_error", 0, 2);
    const nlohmann::json& history = f.at("history");
    if (!history.is_array() || history.size() != size_t(s.epoch))
        throw Error(path, "__metadata__.checkpoint.history", "one record per epoch done (" + std::to_string(s.epoch) + ")",
                    json_excerpt(history));
    for (size_t i = 0; i < history.size(); ++i)
        s.history.push_back(
            record_from_json(Fields(path, history[i], "__metadata__.checkpoint.history[" + std::to_string(i) + "]"),
                             int(i) + 1));
    const Fields es = f.object("epoch_stats");
    s.epoch_stats.images = es.integer("images", 0, kMaxSteps);
    s.epoch_stats.top1 = es.integer("top1", 0, s.epoch_stats.images);
    s.epoch_stats.top5 = es.integer("top5", s.epoch_stats.top1, s.epoch_stats.images);
    s.epoch_stats.loss_sum = es.real("loss_sum", 0, kMaxLoss);
    f.object("options");  // an object; its fields are checked where they are applied (check_run_options)
    options = f.at("options");
    return s;
}

void check_resume_position(const TrainState& s, int batches_per_epoch, int batch_size, const std::string& path) {
    check(s.batch <= batches_per_epoch, path, "__metadata__.checkpoint.batch",
          "a batch index from 0 to " + std::to_string(batches_per_epoch) + " (batches per epoch of this data set)",
          std::to_string(s.batch));
    const int64_t expected = int64_t(s.epoch) * batches_per_epoch + s.batch;
    check(s.step == expected, path, "__metadata__.checkpoint.step",
          std::to_string(expected) + " (epoch " + std::to_string(s.epoch) + " x " + std::to_string(batches_per_epoch) +
              " batches + batch " + std::to_string(s.batch) + "; has the data set changed?)",
          std::to_string(s.step));
    check(s.epoch_stats.images <= int64_t(s.batch) * batch_size, path, "__metadata__.checkpoint.epoch_stats.images",
          "at most " + std::to_string(int64_t(s.batch) * batch_size) + " (the batches done in this epoch)",
          std::to_string(s.epoch_stats.images));
}

Checkpoint load_checkpoint(const std::string& path) {
    Checkpoint c;
    c.model = load_model(path);
    const auto it = c.model.weights.metadata.find("checkpoint");
    check(it != c.model.weights.metadata.end(), path, "__metadata__.checkpoint",
          "a training checkpoint (DIR/last.safetensors written by alexnet-train)", "a model without training state");
    c.state = parse_checkpoint_state(it->second, path, c.options);
    const ParamLayout layout = param_layout(c.model.spec);
    c.momentum.resize(size_t(layout.total));
    for (size_t i = 0; i < layout.tensors.size(); ++i) {
        const std::string name = "momentum." + layout.tensors[i].name;
        check(c.model.weights.contains(name), path, name, "the momentum of " + layout.tensors[i].name, "none");
        const Tensor& t = c.model.weights.at(name);
        check(t.shape == layout.tensors[i].shape, path, name, shape_string(layout.tensors[i].shape), shape_string(t.shape));
        std::copy_n(t.floats(), layout.numel(i), c.momentum.data() + layout.offset[i]);
    }
    return c;
}

}  // namespace alexnet
