#include "train/checkpoint.hpp"

#include <limits>

#include "core/error.hpp"
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

EpochRecord record_from_json(const nlohmann::json& j) {
    EpochRecord r;
    r.epoch = j.at("epoch");
    r.lr = j.at("lr");
    r.train_loss = j.at("train_loss");
    r.train_error = j.at("train_error");
    r.seconds = j.at("seconds");
    r.has_val = j.contains("val_loss");
    if (r.has_val) {  // null: a validation pass that could read no image
        const auto measured = [&](const char* key) {
            const auto& v = j.at(key);
            return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
        };
        r.val_loss = measured("val_loss");
        r.val_top1_error = measured("val_top1_error");
        r.val_top5_error = measured("val_top5_error");
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

Checkpoint load_checkpoint(const std::string& path) {
    Checkpoint c;
    c.model = load_model(path);
    const auto it = c.model.weights.metadata.find("checkpoint");
    check(it != c.model.weights.metadata.end(), path, "__metadata__.checkpoint",
          "a training checkpoint (DIR/last.safetensors written by alexnet-train)", "a model without training state");
    try {
        const nlohmann::json ck = nlohmann::json::parse(it->second);
        c.state.epoch = ck.at("epoch");
        c.state.batch = ck.at("batch");
        c.state.step = ck.at("step");
        const auto& lr = ck.at("lr_state");
        c.state.lr.lr = lr.at("lr");
        c.state.lr.drops = lr.at("drops");
        c.state.lr.best_val_error = lr.at("best_val_error");
        c.state.lr.epochs_since_best = lr.at("epochs_since_best");
        c.state.best_val_error = ck.at("best_val_error");
        for (const auto& r : ck.at("history")) c.state.history.push_back(record_from_json(r));
        c.options = ck.at("options");
        const auto& es = ck.at("epoch_stats");
        c.state.epoch_stats.images = es.at("images");
        c.state.epoch_stats.top1 = es.at("top1");
        c.state.epoch_stats.top5 = es.at("top5");
        c.state.epoch_stats.loss_sum = es.at("loss_sum");
    } catch (const nlohmann::json::exception& e) {
        throw Error(path, "__metadata__.checkpoint", "the checkpoint's JSON fields", e.what());
    }
    const ParamLayout layout = param_layout(c.model.spec);
    c.momentum.resize(size_t(layout.total));
    for (size_t i = 0; i < layout.tensors.size(); ++i) {
        const std::string name = "momentum." + layout.tensors[i].name;
        check(c.model.weights.contains(name), path, name, "the momentum of " + layout.tensors[i].name, "none");
        const Tensor& t = c.model.weights.at(name);
        check(t.shape == layout.tensors[i].shape, path, name, shape_string(layout.tensors[i].shape), shape_string(t.shape));
        std::copy_n(t.data, layout.numel(i), c.momentum.data() + layout.offset[i]);
    }
    return c;
}

}  // namespace alexnet
