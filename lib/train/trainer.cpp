#include "train/trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>

#include "parallel/communicator.hpp"
#include "core/error.hpp"
#include "core/signals.hpp"
#include "data/labels.hpp"
#include "data/labelled_set.hpp"
#include "data/train_loader.hpp"
#include "engine/inference_net.hpp"
#include "engine/train_net.hpp"
#include "io/atomic_file.hpp"
#include "io/bounded_json.hpp"
#include "formats/model_file.hpp"
#include "figures/plot.hpp"
#include "metrics/topk.hpp"
#include "train/checkpoint.hpp"
#include "parallel/gradient_reducer.hpp"

namespace alexnet {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

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
            {"stats_images", o.stats_images}, {"seed", o.seed}};
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

Lighting lighting_from_json(const nlohmann::json& j, const std::string& checkpoint);

}  // namespace

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

namespace {

// Training and validation sets: --val, or a seeded held-out fraction of --data.
void open_sets(const TrainOptions& o, LabelledSet& train_set, LabelledSet& val_set) {
    check(o.val.empty() || o.val_split <= 0, "--val-split", "", "no --val-split with --val", fixed(o.val_split, 3));
    LabelledSet opened = open_labelled_set(o.data, Split::train, o.root);
    LabelledSet all = o.limit_first ? first_items(std::move(opened), o.limit)
                                    : sample_items(std::move(opened), o.limit, o.seed);
    if (!o.val.empty()) {
        train_set = std::move(all);
        val_set = open_labelled_set(o.val, Split::test, o.val_root.empty() ? o.root : o.val_root);
        return;
    }
    if (o.val_split <= 0) {
        train_set = std::move(all);
        return;
    }
    check(o.val_split < 1, "--val-split", "", "a fraction in (0, 1)", std::to_string(o.val_split));
    const std::vector<int> order = epoch_order(all.size(), mix_seed(o.seed, 0x56414c), 0);
    const int n_val = std::max(1, int(std::lround(all.size() * o.val_split)));
    std::vector<int> val_idx(order.end() - n_val, order.end()), train_idx(order.begin(), order.end() - n_val);
    std::sort(val_idx.begin(), val_idx.end());
    std::sort(train_idx.begin(), train_idx.end());
    val_set = subset(all, val_idx);
    train_set = subset(all, train_idx);
}

// The class names the model gets, in class order, and both sets' labels mapped to them by name
// where the sets carry names (image folders, CIFAR-10): --labels, else the fine-tuned weights' own
// names when the training folders carry exactly those, else the training set's own names.
// Returns whether the weights' classifier still fits (false: a new head).
bool settle_class_names(const TrainOptions& o, const std::vector<std::string>& weight_labels, LabelledSet& train_set,
                        LabelledSet& val_set, std::vector<std::string>& names) {
    bool head_fits = true;
    if (!o.labels_file.empty()) {
        names = read_labels_file(o.labels_file);
        map_classes_by_name(train_set, names, o.labels_file);
    } else if (!weight_labels.empty() && !train_set.class_names.empty()) {
        try {
            map_classes_by_name(train_set, weight_labels, "the fine-tuned model's labels");
            names = weight_labels;
        } catch (const Error&) {  // other classes than the model's: a new head named by the folders
            names = train_set.class_names;
            head_fits = false;
        }
    } else {
        names = train_set.class_names;
    }
    if (!names.empty()) map_classes_by_name(val_set, names, o.labels_file.empty() ? "the training set's classes" : o.labels_file);
    return head_fits;
}

void check_labels(const LabelledSet& set, int classes) {
    for (int i = 0; i < set.size(); ++i)
        check(set.labels[size_t(i)] < classes, set.name(i), "label",
              "a class index below " + std::to_string(classes) + " (the model's classes)",
              std::to_string(set.labels[size_t(i)]));
}

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

// Mean and std on the preset's scale: Caffe-style presets (std 1) subtract a mean in 0..255,
// torchvision-style ones normalise 0..1 values by mean and std.
void apply_stats(const TrainOptions& o, const DataStats& st, Preprocessing& p) {
    const bool caffe_style = p.std[0] == 1.f && p.pixel_scale > 1.f;
    for (int c = 0; c < p.channels; ++c) {
        if (o.mean.empty()) p.mean[c] = st.mean[c] * p.pixel_scale;
        if (o.std.empty() && !caffe_style) p.std[c] = st.std[c] * p.pixel_scale;
    }
}

// Error and loss per epoch; the title says what was trained on what, with which settings.
void plot_curves(const std::string& path, const std::vector<EpochRecord>& history, const TrainOptions& o,
                 const std::string& arch) {
    Series train_err("training"), val_err("validation"), train_loss("training"), val_loss("validation");
    for (const auto& r : history) {
        train_err.x.push_back(r.epoch), train_err.y.push_back(r.train_error);
        train_loss.x.push_back(r.epoch), train_loss.y.push_back(r.train_loss);
        if (r.has_val) {
            val_err.x.push_back(r.epoch), val_err.y.push_back(r.val_top1_error);
            val_loss.x.push_back(r.epoch), val_loss.y.push_back(r.val_loss);
        }
    }
    Panel err("top-1 error", "epoch", "error", true), loss("loss", "epoch", "cross-entropy", true);
    err.series = {train_err}, loss.series = {train_loss};
    if (!val_err.x.empty()) err.series.push_back(val_err), loss.series.push_back(val_loss);
    const std::string val = !o.val.empty() ? data_name(o.val)
                            : o.val_split > 0 ? short_number(o.val_split * 100) + "% held out" : "none";
    Figure f{arch + " trained on " + data_name(o.data) + (o.limit > 0 ? " (" + std::string(o.limit_first ? "first " : "") + std::to_string(o.limit) + " items)" : ""),
             "batch " + std::to_string(o.batch) + ", lr " + short_number(o.lr) + " (" + o.policy.name + "), momentum " +
                 short_number(o.momentum) + ", weight decay " + short_number(o.weight_decay) + ", dropout " +
                 short_number(o.dropout) + ", " + (o.weights.empty() ? o.init + " init" : "from " + data_name(o.weights)) + ", " +
                 o.activation + "; validation: " + val,
             {err, loss}};
    write_figure(path, f);
}

// Whether every rank holds the same items with the same labels (the same global order needs it).
uint64_t set_hash(const LabelledSet& set) {
    uint64_t h = hash_bytes(set.labels.data(), set.labels.size() * sizeof(int));
    for (int i = 0; i < set.size(); ++i) {
        const std::string name = set.name(i);
        h = hash_bytes(name.data(), name.size(), h);
    }
    return h;
}

struct Run {
    Run(TrainOptions options, JsonLines& lines) : o(std::move(options)), out(lines) {}
    TrainOptions o;
    JsonLines& out;
    // Data-parallel: this rank's share of every global batch (one process: all of it).
    Communicator& comm = world();
    const bool lead = comm.rank() == 0;  // writes stdout, models, checkpoints and figures
    Share share;
    std::unique_ptr<GradientReducer> reducer;
    ModelSpec spec;
    std::vector<std::string> labels;
    LabelledSet train_set, val_set;
    Augmentation aug;
    std::unique_ptr<TrainNet> net;
    std::unique_ptr<Sgd> sgd;
    TrainState state;
    std::string last_path, model_path, curves_path;
    bool tty = false;
    // Items that could not be used, reported once each as alexnet-eval reports them and counted by
    // reason; with --strict the first one stops the run.
    // Rank 0 reports and counts; another rank sends its items' records to rank 0 at the next
    // sync_skips() ("name\0kind\0line\0" each).
    std::map<std::string, int64_t> skipped;
    std::set<std::string> reported;
    std::string unsent;
    int64_t unsent_count = 0;

    // `everywhere`: every rank finds this item (checks before training), so rank 0 alone reports it.
    void skip(const std::string& name, int label, const std::string& kind, const std::string& why,
              bool everywhere = false) {
        if (o.strict) throw Error(name, why + " (--strict)");
        if (!reported.insert(name).second || (everywhere && !lead)) return;
        const nlohmann::ordered_json line{{"path", name}, {"label", label}, {"skipped", kind}, {"error", why}};
        if (lead) {
            ++skipped[kind];
            out.write(line);
            return;
        }
        unsent.append(name).append(1, '\0').append(kind).append(1, '\0').append(dump_line(line)).append(1, '\0');
        ++unsent_count;
    }

    // Rank 0 reports the other ranks' skipped items (a collective: call it on every rank when the
    // ranks' unsent counts summed to more than 0).
    void sync_skips() {
        const std::vector<std::string> all = comm.gather(unsent);
        unsent.clear();
        unsent_count = 0;
        for (size_t r = 1; r < all.size(); ++r) {
            std::vector<std::string> fields;
            for (size_t at = 0; at < all[r].size();) {
                const size_t end = all[r].find('\0', at);
                fields.push_back(all[r].substr(at, end - at));
                at = end + 1;
            }
            for (size_t f = 0; f + 2 < fields.size(); f += 3) {
                if (!reported.insert(fields[f]).second) continue;
                ++skipped[fields[f + 1]];
                out.write_raw(fields[f + 2]);
            }
        }
    }

    // Reports and removes the items of `set` whose file does not exist; a set none of whose files
    // exists is refused, naming the option it came from.
    void drop_missing(LabelledSet& set, const std::string& option) {
        const std::vector<int> missing = missing_items(set);
        if (missing.empty()) return;
        check(int(missing.size()) < set.size(), option, "",
              "existing image files (relative paths start at " +
                  std::string(option == "--val" ? "--val-root, else --root, else the list's folder" : "--root, else the list's folder") + ")",
              "none of its " + std::to_string(set.size()) + " files, e.g. " + set.name(missing.front()));
        std::vector<int> keep;
        for (int i = 0, m = 0; i < set.size(); ++i) {
            if (m < int(missing.size()) && missing[size_t(m)] == i) {
                ++m;
                skip(set.name(i), set.labels[size_t(i)], "missing", "no such file", /*everywhere=*/true);
            } else {
                keep.push_back(i);
            }
        }
        set = subset(set, keep);
    }

    // Every rank calls it; rank 0 writes, once the ranks are known to hold the same weights.
    void checkpoint() {
        if (comm.size() > 1) {
            const auto bytes = size_t(net->layout().total) * sizeof(float);
            const uint64_t h = hash_bytes(sgd->velocity().data(), bytes, hash_bytes(net->params(), bytes));
            check(comm.same_everywhere(h), "alexnet-train", "weights", "the same weights on every process",
                  "different ones at iteration " + std::to_string(state.step) + " (a reduction gave ranks different sums)");
        }
        if (!lead) return;
        nlohmann::json options = to_json(o);
        options["lighting_values"] = lighting_json(aug.lighting);
        save_checkpoint(last_path, spec, labels, net->weights(), net->layout(), sgd->velocity().data(), state, options);
    }

    struct Validation {
        double loss = 0, top1 = 0, top5 = 0;  // NaN when no image could be read
        int64_t images = 0;
    };
    // Each rank scores its share of every batch; the counts are summed.
    Validation validate() {
        Loader loader(val_set, spec.preprocessing, aug, share.count, false, o.seed, o.loader_threads, CropMode::center,
                      {o.batch, share.offset});
        loader.start(0);
        TopKCounter counter;
        const int classes = spec.num_classes();
        std::vector<float> logits(size_t(share.count) * classes);
        for (int b = 0; b < loader.batches_per_epoch(); ++b) {
            const LoaderBatch& batch = loader.next();
            report(batch, val_set);
            net->evaluate(batch.data.data(), logits.data());
            for (int k = 0; k < batch.count; ++k) {
                if (std::find(batch.failed.begin(), batch.failed.end(), k) != batch.failed.end()) continue;  // reported
                const float* z = logits.data() + size_t(k) * classes;
                counter.add(z, classes, batch.labels[size_t(k)], cross_entropy(z, classes, batch.labels[size_t(k)]));
            }
        }
        double sums[5] = {double(counter.images), double(counter.top1), double(counter.top5), counter.loss_sum,
                          double(unsent_count)};
        comm.sum(sums, 5);
        if (sums[4] > 0) sync_skips();
        counter.images = int64_t(sums[0]), counter.top1 = int64_t(sums[1]), counter.top5 = int64_t(sums[2]);
        counter.loss_sum = sums[3];
        return {counter.mean_loss(), counter.top1_error(), counter.top5_error(), counter.images};
    }

    // The batch's unreadable items ("path: reason" errors at positions `failed`).
    void report(const LoaderBatch& b, const LabelledSet& set) {
        for (size_t e = 0; e < b.errors.size(); ++e) {
            const int item = b.items[size_t(b.failed[e])];
            const std::string name = set.name(item), prefix = name + ": ";
            const std::string& error = b.errors[e];
            skip(name, set.labels[size_t(item)], "unreadable",
                 error.rfind(prefix, 0) == 0 ? error.substr(prefix.size()) : error);
        }
    }

    void progress(int epoch, int b, int batches, double loss, double err, double rate) {
        if (!tty || o.quiet) return;
        constexpr int kWidth = 30;
        const int filled = int(double(b) / batches * kWidth);
        std::cerr << "\repoch " << epoch + 1 << "/" << o.epochs << " [" << std::string(size_t(filled), '=')
                  << std::string(size_t(kWidth - filled), ' ') << "] " << b << "/" << batches << "  loss "
                  << fixed(loss, 4) << "  error " << fixed(err, 3) << "  " << fixed(rate, 0) << " img/s   "
                  << std::flush;
    }
};

}  // namespace

int train(TrainOptions o, JsonLines& out) {
    const auto t_start = clock_type::now();
    Run r(o, out);
    Communicator& comm = r.comm;
    const int processes = comm.size();
    if (!r.lead) o.quiet = true;  // one voice for people; every rank still reports its own errors
    r.tty = isatty(2) && r.lead;
    // The exit code rank 0 decided (it alone counts skipped items), the same on every rank.
    auto agreed = [&comm](int code) {
        comm.broadcast(&code, sizeof code);
        return code;
    };
    std::unique_ptr<Checkpoint> resumed;
    if (!o.resume.empty()) {
        resumed = std::make_unique<Checkpoint>(load_checkpoint(o.resume));
        apply_checkpoint_options(resumed->options, o.resume, o);
        r.o = o;
    }
    check(!o.data.empty(), "--data", "", "a training set (IDX, CIFAR-10, list or image folder)", "none");
    check(o.batch >= processes, "--batch-size", "",
          "at least one item per process (the global batch, shared by " + std::to_string(processes) + " processes)",
          std::to_string(o.batch));
    r.share = share_of(o.batch, comm.rank(), processes);
    if (o.epochs == 0) o.epochs = 90;
    check_run_options(o, "");

    // The output folder, checked before any work; temporaries of runs killed mid-save removed.
    // Rank 0 alone writes there (the other ranks may run on machines without that folder).
    if (o.out.empty()) o.out = o.resume.empty() ? "run" : fs::path(o.resume).parent_path().string();
    if (o.out.empty()) o.out = ".";
    if (r.lead) {
        std::error_code ec;
        fs::create_directories(o.out, ec);
        check(!ec, o.out, "--out", "a folder that can be created", ec.message());
        check_writable_directory(o.out);
    }
    r.last_path = (fs::path(o.out) / "last.safetensors").string();
    r.model_path = (fs::path(o.out) / "model.safetensors").string();
    r.curves_path = (fs::path(o.out) / "curves.png").string();
    if (r.lead)
        for (const auto& path : {r.last_path, r.model_path, r.curves_path}) remove_stale_temporaries(path);
    open_sets(o, r.train_set, r.val_set);
    for (const LabelledSet* set : {&r.train_set, &r.val_set})
        for (const std::string& note : set->notes) log_info(o.quiet, "alexnet-train: " + note);

    // The model: resumed, fine-tuned from --weights, or a preset; its classes named in order.
    LoadedModel base;
    if (!resumed && !o.weights.empty()) base = load_model(o.weights, "");
    std::vector<std::string> names;
    bool new_head = false;
    if (resumed && !resumed->model.labels.empty()) {
        names = resumed->model.labels;
        map_classes_by_name(r.train_set, names, "the checkpoint's labels");
        map_classes_by_name(r.val_set, names, "the checkpoint's labels");
    } else {
        new_head = !settle_class_names(o, base.labels, r.train_set, r.val_set, names);
    }
    const int data_classes = std::max({int(names.size()), r.train_set.num_classes(),
                                       r.val_set.size() ? r.val_set.num_classes() : 0});
    const Activation act = parse_activation("--activation", o.activation);
    if (resumed) {
        r.spec = resumed->model.spec;
    } else if (!o.weights.empty()) {
        r.spec = base.spec;
        new_head = new_head || r.spec.num_classes() != data_classes;
        if (new_head)  // fc8 re-initialised below
            r.spec.layers[size_t(r.spec.index_of(r.spec.classifier()))].out_channels = data_classes;
        set_hidden_activation(r.spec, act);
    } else {
        PresetOptions po;
        po.num_classes = data_classes;
        r.spec = make_preset(o.arch, po);
        set_hidden_activation(r.spec, act);
    }
    check_labels(r.train_set, r.spec.num_classes());
    check_labels(r.val_set, r.spec.num_classes());
    if (!o.labels_file.empty())
        check(int(names.size()) == r.spec.num_classes(), o.labels_file, "lines",
              std::to_string(r.spec.num_classes()) + " class names (one per class of the model)",
              std::to_string(names.size()));
    if (int(names.size()) == r.spec.num_classes()) r.labels = names;
    // Files that do not exist are known before the first epoch (a --val list relative to another
    // folder is found here, not reported as a perfect score after an epoch).
    r.drop_missing(r.train_set, "--data");
    r.drop_missing(r.val_set, o.val.empty() ? "--val-split" : "--val");
    if (processes > 1)
        for (const auto& [set, option] : {std::pair{&r.train_set, "--data"}, {&r.val_set, "--val"}})
            check(comm.same_everywhere(set_hash(*set)), option, "",
                  "the same items on every process (a shared folder, or the same copy on every machine)",
                  std::to_string(set->size()) + " items here, and other items on another process");

    // Preprocessing and augmentation statistics from the training set (unless given or resumed).
    Preprocessing& pp = r.spec.preprocessing;
    r.aug.random_crop = o.random_crop;
    r.aug.flip = o.flip;
    r.aug.pad = o.pad;
    check(o.lighting == "auto" || o.lighting == "data" || o.lighting == "imagenet" || o.lighting == "none",
          "--lighting", "", "auto, data, imagenet or none", "'" + o.lighting + "'");
    if (resumed) {
        r.aug.lighting = lighting_from_json(resumed->options.contains("lighting_values")
                                                ? resumed->options.at("lighting_values") : nlohmann::json(), o.resume);
    } else {
        for (size_t c = 0; c < o.mean.size() && c < 3; ++c) pp.mean[c] = o.mean[c];
        for (size_t c = 0; c < o.std.size() && c < 3; ++c) pp.std[c] = o.std[c];
        check(o.mean.empty() || int(o.mean.size()) == pp.channels, "--mean", "", std::to_string(pp.channels) + " values",
              std::to_string(o.mean.size()));
        check(o.std.empty() || int(o.std.size()) == pp.channels, "--std", "", std::to_string(pp.channels) + " values",
              std::to_string(o.std.size()));
        const bool want_data_lighting = pp.channels == 3 && (o.lighting == "data" || o.lighting == "auto");
        if (o.mean.empty() || o.std.empty() || want_data_lighting) {
            const DataStats st = compute_stats(r.train_set, pp, r.train_set.in_memory() ? r.train_set.size() : o.stats_images);
            if (o.weights.empty()) apply_stats(o, st, pp);  // fine-tuning keeps the weights' own preprocessing
            if (want_data_lighting) r.aug.lighting = st.lighting;
            log_info(o.quiet, "alexnet-train: statistics from " + std::to_string(st.images) + " training images");
        }
        if (o.lighting == "imagenet" && pp.channels == 3) r.aug.lighting = imagenet_lighting();
    }
    // Rank 0's statistics, bit for bit (machines may round differently).
    static_assert(std::is_trivially_copyable_v<Preprocessing> && std::is_trivially_copyable_v<Lighting>);
    comm.broadcast(&pp, sizeof pp);
    comm.broadcast(&r.aug.lighting, sizeof r.aug.lighting);

    set_num_threads(threads_per_process(o.threads));
    r.net = std::make_unique<TrainNet>(r.spec, r.share.count, o.dropout);
    r.net->set_share(r.share.offset, o.batch);
    r.reducer = std::make_unique<GradientReducer>(comm, *r.net, o.bucket_mb);
    const ParamLayout& layout = r.net->layout();
    r.sgd = std::make_unique<Sgd>(layout, o.momentum, o.weight_decay, o.caffe_multipliers);
    o.policy.base_lr = o.lr;
    o.policy.epochs = o.epochs;  // a resumed cosine run given a new --epochs stretches its remaining curve
    if (resumed) {
        r.net->set_weights(resumed->model.weights);
        r.sgd->velocity() = resumed->momentum;
        r.state = resumed->state;
    } else {
        initialise(r.spec, layout, r.net->params(), o.init, o.seed);
        if (!o.weights.empty()) {
            for (size_t i = 0; i < layout.tensors.size(); ++i) {
                const std::string& name = layout.tensors[i].name;
                const Tensor& t = base.weights.at(name);
                if (t.shape == layout.tensors[i].shape) std::copy_n(t.floats(), t.numel(), r.net->params() + layout.offset[i]);
            }
            if (new_head) initialise_layer(r.spec, layout, r.net->params(), o.init, o.seed, r.spec.classifier());
        }
        r.state.lr = lr_start(o.policy);
    }
    comm.broadcast(r.net->params(), layout.total * int64_t(sizeof(float)));  // every rank starts from rank 0's
    comm.broadcast(r.sgd->velocity().data(), layout.total * int64_t(sizeof(float)));
    if (resumed && resumed->state.world_size != processes)
        log_info(o.quiet, "alexnet-train: resuming a run of " + std::to_string(resumed->state.world_size) +
                              " process(es) with " + std::to_string(processes) + ": the same global batch (" +
                              std::to_string(o.batch) + ") and order; sums are added in another order, so the "
                              "weights follow the earlier run up to rounding");
    r.state.world_size = processes;
    r.o = o;

    stop_at_step_boundary();  // a signal stops the loop after its step, with a checkpoint

    Loader loader(r.train_set, pp, r.aug, r.share.count, true, o.seed, o.loader_threads, CropMode::center,
                  {o.batch, r.share.offset});
    const int batches = loader.batches_per_epoch();
    if (resumed) check_resume_position(r.state, batches, o.batch, o.resume);
    const int classes = r.spec.num_classes();
    // Every step takes a whole batch (Caffe's way; PyTorch's drop_last=True): the remainder of the
    // shuffled set sits out each epoch, other items each time.
    const int left_out = r.train_set.size() - batches * o.batch;
    if (left_out > 0 && r.lead)
        log_info(o.quiet, "alexnet-train: " + count_of(left_out, "training image") + " of " +
                              std::to_string(r.train_set.size()) + " sit out each epoch (" + std::to_string(batches) +
                              (batches == 1 ? " whole batch" : " whole batches") + " of " + std::to_string(o.batch) +
                              "; the shuffle leaves out others each epoch)");
    out.write({{"event", "start"}, {"arch", r.spec.arch}, {"activation", to_string(hidden_activation(r.spec))},
               {"classes", classes}, {"train_images", r.train_set.size()}, {"val_images", r.val_set.size()},
               {"batch", o.batch}, {"processes", processes}, {"iters_per_epoch", batches},
               {"left_out_per_epoch", left_out}, {"epochs", o.epochs}, {"params", layout.total},
               {"seed", o.seed}, {"resumed_at_epoch", resumed ? nlohmann::json(r.state.epoch + 1) : nlohmann::json()},
               {"mean", std::vector<float>(pp.mean, pp.mean + pp.channels)},
               {"std", std::vector<float>(pp.std, pp.std + pp.channels)}});

    std::vector<float> logits(size_t(r.share.count) * classes);
    // A run whose loss grows a thousandfold over where it started (or over ln(classes), chance's
    // loss, when it started lower) has diverged even while the numbers stay finite: SGD at too high a
    // rate reaches 1e26 and sits there, its error stuck at chance. Such a run is stopped like one
    // whose loss overflows.
    constexpr double kDivergence = 1000;
    double start_loss = -1;
    for (; r.state.epoch < o.epochs; ++r.state.epoch, r.state.batch = 0) {
        const int epoch = r.state.epoch;
        const float epoch_lr = lr_for_epoch(o.policy, r.state.lr, epoch);
        r.state.lr.lr = epoch_lr;
        const auto t_epoch = clock_type::now();
        const double waited_before = r.reducer->waited_seconds();
        loader.start(epoch, r.state.batch);
        TopKCounter& epoch_stats = r.state.epoch_stats;  // kept in checkpoints: a resumed epoch reports the whole
        if (r.state.batch == 0) epoch_stats = {};
        TopKCounter interval;
        auto t_interval = clock_type::now();
        for (; r.state.batch < batches; ++r.state.batch) {
            const LoaderBatch& b = loader.next();
            r.report(b, r.train_set);
            const float lr = lr_for_step(o.policy, r.state.lr, epoch, r.state.step, batches);
            // This rank's share: forward, backward, and its part of the sums of the gradients (a
            // share without one readable image adds zeros). Then what every rank must agree on.
            TopKCounter step;
            float loss = 0;
            const bool readable = int(b.failed.size()) < b.count;
            if (readable) {
                loss = r.net->train_step(b.data.data(), b.labels.data(),
                                         mix_seed(o.seed, 0x44524f50, uint64_t(r.state.step)), logits.data());
                r.reducer->finish();
                for (int k = 0; k < r.share.count; ++k) {
                    const float* z = logits.data() + size_t(k) * classes;
                    step.add(z, classes, b.labels[size_t(k)], cross_entropy(z, classes, b.labels[size_t(k)]));
                }
            } else {
                r.reducer->reduce_zero();
            }
            const int own_signal = stop_signal();
            double agree[9] = {double(step.images), double(step.top1), double(step.top5), step.loss_sum,
                               double(loss) * r.share.count, double(readable), double(own_signal == SIGINT),
                               double(own_signal == SIGTERM), double(r.unsent_count)};
            comm.sum(agree, 9);
            if (agree[8] > 0) r.sync_skips();
            if (agree[5] == 0) continue;  // not one readable image in the whole batch: no step
            const double batch_loss = agree[4] / o.batch;
            if (start_loss < 0 && std::isfinite(batch_loss)) start_loss = std::max(batch_loss, std::log(double(classes)));
            const bool finite = std::isfinite(batch_loss);
            if (!finite || batch_loss > kDivergence * start_loss) {
                if (r.tty && !o.quiet) std::cerr << '\n';
                const auto plain_float = [](float v) { return (std::ostringstream() << v).str(); };  // 1.6e+26, inf
                if (r.lead)
                    std::cerr << "alexnet-train: the loss "
                              << (finite ? "grew from " + fixed(start_loss, 4) + " to " + plain_float(float(batch_loss)) +
                                               " (over " + std::to_string(int(kDivergence)) + " times where it started)"
                                         : "became " + plain_float(float(batch_loss)))
                              << " at epoch " << epoch + 1 << ", iteration " << r.state.step + 1 << " (lr " << lr
                              << "); stopped. "
                              << (fs::exists(r.last_path) ? "The last good checkpoint is " + r.last_path + "."
                                                          : std::string("No checkpoint was written yet."))
                              << " Try a lower --lr.\n";
                out.write({{"summary", true}, {"stopped", finite ? "diverging loss" : "non-finite loss"},
                           {"epoch", epoch + 1}, {"iter", r.state.step + 1},
                           {"loss", finite ? nlohmann::ordered_json(json_float(float(batch_loss))) : nlohmann::ordered_json()}});
                return 1;
            }
            r.sgd->update(r.net->params(), r.net->grads(), lr);
            ++r.state.step;
            for (TopKCounter* c : {&epoch_stats, &interval}) {
                c->images += int64_t(agree[0]), c->top1 += int64_t(agree[1]), c->top5 += int64_t(agree[2]);
                c->loss_sum += agree[3];
            }
            const double elapsed = std::chrono::duration<double>(clock_type::now() - t_interval).count();
            r.progress(epoch, r.state.batch + 1, batches, interval.mean_loss(), interval.top1_error(),
                       double(interval.images) / std::max(elapsed, 1e-9));
            if (o.log_every > 0 && r.state.step % o.log_every == 0) {
                out.write({{"epoch", epoch + 1}, {"iter", r.state.step}, {"loss", json_float(float(interval.mean_loss()))},
                           {"lr", json_float(lr)}, {"train_top1_error", json_float(float(interval.top1_error()))},
                           {"images_per_sec", json_float(float(double(interval.images) / std::max(elapsed, 1e-9)))}});
                interval = {};
                t_interval = clock_type::now();
            }
            const int sig = agree[7] > 0 ? SIGTERM : agree[6] > 0 ? SIGINT : 0;
            const bool stop_now = sig != 0 || (o.stop_after > 0 && r.state.step >= o.stop_after);
            if (stop_now || (o.checkpoint_every > 0 && r.state.step % o.checkpoint_every == 0)) {
                ++r.state.batch;  // resume after this batch
                r.checkpoint();
                --r.state.batch;
            }
            if (stop_now) {
                if (r.tty && !o.quiet) std::cerr << '\n';
                log_info(o.quiet, "alexnet-train: " + std::string(sig ? "stopped by a signal" : "--stop-after reached") +
                                      " at iteration " + std::to_string(r.state.step) + "; checkpoint " + r.last_path +
                                      " (continue with --resume " + r.last_path + ")");
                out.write({{"summary", true}, {"stopped", sig ? signal_name(sig) : "stop-after"},
                           {"epoch", epoch + 1}, {"iter", r.state.step}, {"checkpoint", r.last_path}});
                return agreed(sig ? 128 + sig : (r.skipped.empty() ? 0 : 1));
            }
        }
        if (r.tty && !o.quiet) std::cerr << '\n';

        EpochRecord rec;
        rec.epoch = epoch + 1;
        rec.lr = epoch_lr;
        rec.train_loss = epoch_stats.mean_loss();
        rec.train_error = epoch_stats.top1_error();
        nlohmann::ordered_json line{{"epoch", epoch + 1}, {"lr", json_float(epoch_lr)},
                                    {"train_loss", json_float(float(rec.train_loss))},
                                    {"train_top1_error", json_float(float(rec.train_error))}};
        bool best = true;
        if (r.val_set.size() > 0) {
            const auto v = r.validate();
            rec.has_val = true;
            rec.val_loss = v.loss, rec.val_top1_error = v.top1, rec.val_top5_error = v.top5;
            best = v.images > 0 && v.top1 < r.state.best_val_error;
            if (best) r.state.best_val_error = v.top1;
            if (v.images == 0 && r.lead)
                std::cerr << "alexnet-train: epoch " << epoch + 1 << ": no validation image could be read; "
                          << "its errors are null, and the model is not chosen by them\n";
            lr_after_validation(o.policy, r.state.lr, v.top1);
            line["val_loss"] = json_float(float(v.loss));
            line["val_top1_error"] = json_float(float(v.top1));
            line["val_top5_error"] = json_float(float(v.top5));
        }
        rec.seconds = std::chrono::duration<double>(clock_type::now() - t_epoch).count();
        line["seconds"] = json_float(float(rec.seconds));
        if (processes > 1)  // the part of the gradient sums the backward pass did not hide
            line["allreduce_wait_seconds"] = json_float(float(r.reducer->waited_seconds() - waited_before));
        line["best"] = best;
        r.state.history.push_back(rec);
        if (best || o.keep == "last" || r.state.best_val_error > 1) {  // > 1: no validation has measured yet
            // Where the weights came from and what they measured, for alexnet-eval to be checked against.
            Weights provenance;
            nlohmann::ordered_json trained{{"epoch", rec.epoch}, {"train_top1_error", line["train_top1_error"]},
                                           {"data", o.data}, {"train_images", r.train_set.size()}};
            if (rec.has_val) {
                trained["val"] = o.val.empty() ? o.data + " (--val-split " + fixed(o.val_split, 3) + ")" : o.val;
                trained["val_images"] = r.val_set.size();
                for (const char* key : {"val_loss", "val_top1_error", "val_top5_error"}) trained[key] = line[key];
            }
            provenance.metadata["training"] = dump_utf8(trained);
            if (r.lead) save_model(r.model_path, r.spec, r.net->weights(), r.labels, &provenance);
        }
        {  // the checkpoint resumes at the next epoch's start
            const TrainState saved = r.state;
            ++r.state.epoch;
            r.state.batch = 0;
            r.state.epoch_stats = {};
            r.checkpoint();
            r.state = saved;
        }
        if (r.lead) plot_curves(r.curves_path, r.state.history, r.o, r.spec.arch);
        out.write(line);
        log_info(o.quiet || r.tty, "alexnet-train: epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs) +
                                       " train loss " + fixed(rec.train_loss, 4) + " error " + fixed(rec.train_error, 4) +
                                       (rec.has_val ? " | val error " + fixed(rec.val_top1_error, 4) : "") + " (" +
                                       fixed(rec.seconds, 1) + " s)");
        if (r.tty && !o.quiet && rec.has_val)
            std::cerr << "  val loss " << fixed(rec.val_loss, 4) << "  top-1 error " << fixed(rec.val_top1_error, 4)
                      << "  top-5 error " << fixed(rec.val_top5_error, 4) << "\n";
    }
    const double seconds = std::chrono::duration<double>(clock_type::now() - t_start).count();
    nlohmann::ordered_json summary{{"summary", true}, {"epochs", o.epochs}, {"iters", r.state.step},
                                   {"seconds", json_float(float(seconds))}, {"model", r.model_path},
                                   {"checkpoint", r.last_path}, {"curves", r.curves_path}};
    if (r.state.best_val_error <= 1) summary["best_val_top1_error"] = json_float(float(r.state.best_val_error));
    int64_t skipped_total = 0;
    nlohmann::ordered_json reasons = nlohmann::ordered_json::object();
    for (const auto& [kind, count] : r.skipped) reasons[kind] = count, skipped_total += count;
    summary["skipped"] = skipped_total;
    summary["skipped_reasons"] = reasons;
    out.write(summary);
    const int late_signal = stop_signal();  // after the last step: everything is written, the code still says so
    return agreed(late_signal ? 128 + late_signal : skipped_total ? 1 : 0);
}

}  // namespace alexnet
