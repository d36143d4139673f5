#include "train/trainer.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/signals.hpp"
#include "data/labels.hpp"
#include "data/labelled_set.hpp"
#include "data/train_loader.hpp"
#include "engine/inference_net.hpp"
#include "engine/train_net.hpp"
#include "io/model_file.hpp"
#include "io/plot.hpp"
#include "metrics/topk.hpp"
#include "train/checkpoint.hpp"

namespace alexnet {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

nlohmann::json to_json(const TrainOptions& o) {
    return {{"data", o.data}, {"val", o.val}, {"root", o.root}, {"val_root", o.val_root}, {"limit", o.limit},
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

void apply_run_options(const nlohmann::json& j, TrainOptions& o) {
    j.at("data").get_to(o.data), j.at("val").get_to(o.val), j.at("root").get_to(o.root);
    o.val_root = j.value("val_root", std::string()), o.limit = j.value("limit", 0);  // absent before 0.1.1
    j.at("val_split").get_to(o.val_split), j.at("labels_file").get_to(o.labels_file);
    j.at("arch").get_to(o.arch), j.at("activation").get_to(o.activation), j.at("init").get_to(o.init);
    j.at("weights").get_to(o.weights), j.at("dropout").get_to(o.dropout), j.at("batch").get_to(o.batch);
    j.at("lr").get_to(o.lr), j.at("momentum").get_to(o.momentum), j.at("weight_decay").get_to(o.weight_decay);
    j.at("caffe_multipliers").get_to(o.caffe_multipliers), j.at("lr_policy").get_to(o.policy.name);
    j.at("lr_gamma").get_to(o.policy.gamma), j.at("lr_step").get_to(o.policy.step);
    j.at("lr_milestones").get_to(o.policy.milestones), j.at("plateau_patience").get_to(o.policy.patience);
    j.at("plateau_max_drops").get_to(o.policy.max_drops), j.at("random_crop").get_to(o.random_crop);
    j.at("warmup_epochs").get_to(o.policy.warmup_epochs);
    j.at("flip").get_to(o.flip), j.at("pad").get_to(o.pad), j.at("lighting").get_to(o.lighting);
    j.at("mean").get_to(o.mean), j.at("std").get_to(o.std), j.at("stats_images").get_to(o.stats_images);
    j.at("seed").get_to(o.seed);
}

namespace {

// Training and validation sets: --val, or a seeded held-out fraction of --data.
void open_sets(const TrainOptions& o, LabelledSet& train_set, LabelledSet& val_set) {
    check(o.val.empty() || o.val_split <= 0, "--val-split", "", "no --val-split with --val", fixed(o.val_split, 3));
    LabelledSet all = first_items(open_labelled_set(o.data, Split::train, o.root), o.limit);
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

Lighting lighting_from_json(const nlohmann::json& j) {
    Lighting l;
    l.stddev = j.at("stddev");
    for (int i = 0; i < 3; ++i) {
        l.eigval[i] = j.at("eigval").at(i);
        for (int k = 0; k < 3; ++k) l.eigvec[i][k] = j.at("eigvec").at(i).at(k);
    }
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
    Figure f{arch + " trained on " + data_name(o.data) + (o.limit > 0 ? " (first " + std::to_string(o.limit) + " items)" : ""),
             "batch " + std::to_string(o.batch) + ", lr " + short_number(o.lr) + " (" + o.policy.name + "), momentum " +
                 short_number(o.momentum) + ", weight decay " + short_number(o.weight_decay) + ", dropout " +
                 short_number(o.dropout) + ", " + (o.weights.empty() ? o.init + " init" : "from " + data_name(o.weights)) + ", " +
                 o.activation + "; validation: " + val,
             {err, loss}};
    write_figure(path, f);
}

struct Run {
    Run(TrainOptions options, JsonLines& lines) : o(std::move(options)), out(lines) {}
    TrainOptions o;
    JsonLines& out;
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
    std::map<std::string, int64_t> skipped;
    std::set<std::string> reported;

    void skip(const std::string& name, int label, const std::string& kind, const std::string& why) {
        if (o.strict) throw Error(name, why + " (--strict)");
        if (!reported.insert(name).second) return;
        ++skipped[kind];
        out.write({{"path", name}, {"label", label}, {"skipped", kind}, {"error", why}});
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
                skip(set.name(i), set.labels[size_t(i)], "missing", "no such file");
            } else {
                keep.push_back(i);
            }
        }
        set = subset(set, keep);
    }

    void checkpoint() {
        nlohmann::json options = to_json(o);
        options["lighting_values"] = lighting_json(aug.lighting);
        save_checkpoint(last_path, spec, labels, net->weights(), net->layout(), sgd->velocity().data(), state, options);
    }

    struct Validation {
        double loss = 0, top1 = 0, top5 = 0;  // NaN when no image could be read
        int64_t images = 0;
    };
    Validation validate() {
        Loader loader(val_set, spec.preprocessing, aug, o.batch, false, o.seed, o.loader_threads);
        loader.start(0);
        TopKCounter counter;
        const int classes = spec.num_classes();
        std::vector<float> logits(size_t(o.batch) * classes);
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
    r.tty = isatty(2);
    std::unique_ptr<Checkpoint> resumed;
    if (!o.resume.empty()) {
        resumed = std::make_unique<Checkpoint>(load_checkpoint(o.resume));
        apply_run_options(resumed->options, o);
        if (o.epochs == 0) o.epochs = resumed->options.at("epochs");
        r.o = o;
    }
    check(!o.data.empty(), "--data", "", "a training set (IDX, CIFAR-10, list or image folder)", "none");
    check(o.batch > 0, "--batch-size", "", "> 0", std::to_string(o.batch));
    if (o.epochs == 0) o.epochs = 90;
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

    // Preprocessing and augmentation statistics from the training set (unless given or resumed).
    Preprocessing& pp = r.spec.preprocessing;
    r.aug.random_crop = o.random_crop;
    r.aug.flip = o.flip;
    r.aug.pad = o.pad;
    check(o.lighting == "auto" || o.lighting == "data" || o.lighting == "imagenet" || o.lighting == "none",
          "--lighting", "", "auto, data, imagenet or none", "'" + o.lighting + "'");
    if (resumed) {
        r.aug.lighting = lighting_from_json(resumed->options.at("lighting_values"));
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

    set_num_threads(o.threads);
    r.net = std::make_unique<TrainNet>(r.spec, o.batch, o.dropout);
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
                if (t.shape == layout.tensors[i].shape) std::copy_n(t.data, t.numel(), r.net->params() + layout.offset[i]);
            }
            if (new_head) initialise_layer(r.spec, layout, r.net->params(), o.init, o.seed, r.spec.classifier());
        }
        r.state.lr = lr_start(o.policy);
    }
    r.o = o;

    if (o.out.empty()) o.out = o.resume.empty() ? "run" : fs::path(o.resume).parent_path().string();
    if (o.out.empty()) o.out = ".";
    fs::create_directories(o.out);
    r.last_path = (fs::path(o.out) / "last.safetensors").string();
    r.model_path = (fs::path(o.out) / "model.safetensors").string();
    r.curves_path = (fs::path(o.out) / "curves.png").string();
    install_stop_signals();

    Loader loader(r.train_set, pp, r.aug, o.batch, true, o.seed, o.loader_threads);
    const int batches = loader.batches_per_epoch();
    const int classes = r.spec.num_classes();
    out.write({{"event", "start"}, {"arch", r.spec.arch}, {"activation", to_string(hidden_activation(r.spec))},
               {"classes", classes}, {"train_images", r.train_set.size()}, {"val_images", r.val_set.size()},
               {"batch", o.batch}, {"iters_per_epoch", batches}, {"epochs", o.epochs}, {"params", layout.total},
               {"seed", o.seed}, {"resumed_at_epoch", resumed ? nlohmann::json(r.state.epoch + 1) : nlohmann::json()},
               {"mean", std::vector<float>(pp.mean, pp.mean + pp.channels)},
               {"std", std::vector<float>(pp.std, pp.std + pp.channels)}});

    std::vector<float> logits(size_t(o.batch) * classes);
    for (; r.state.epoch < o.epochs; ++r.state.epoch, r.state.batch = 0) {
        const int epoch = r.state.epoch;
        const float epoch_lr = lr_for_epoch(o.policy, r.state.lr, epoch);
        r.state.lr.lr = epoch_lr;
        const auto t_epoch = clock_type::now();
        loader.start(epoch, r.state.batch);
        TopKCounter& epoch_stats = r.state.epoch_stats;  // kept in checkpoints: a resumed epoch reports the whole
        if (r.state.batch == 0) epoch_stats = {};
        TopKCounter interval;
        auto t_interval = clock_type::now();
        for (; r.state.batch < batches; ++r.state.batch) {
            const LoaderBatch& b = loader.next();
            r.report(b, r.train_set);
            if (int(b.failed.size()) == b.count) continue;  // not one readable image: no step
            const float lr = lr_for_step(o.policy, r.state.lr, epoch, r.state.step, batches);
            const float loss = r.net->train_step(b.data.data(), b.labels.data(),
                                                 mix_seed(o.seed, 0x44524f50, uint64_t(r.state.step)), logits.data());
            if (!std::isfinite(loss)) {
                if (r.tty && !o.quiet) std::cerr << '\n';
                std::cerr << "alexnet-train: the loss became " << loss << " at epoch " << epoch + 1 << ", iteration "
                          << r.state.step + 1 << " (lr " << lr << "); stopped. "
                          << (fs::exists(r.last_path) ? "The last good checkpoint is " + r.last_path + "."
                                                      : std::string("No checkpoint was written yet."))
                          << " Try a lower --lr.\n";
                out.write({{"summary", true}, {"stopped", "non-finite loss"}, {"epoch", epoch + 1},
                           {"iter", r.state.step + 1}});
                return 1;
            }
            r.sgd->update(r.net->params(), r.net->grads(), lr);
            ++r.state.step;
            for (int k = 0; k < o.batch; ++k) {
                const float* z = logits.data() + size_t(k) * classes;
                const double l = cross_entropy(z, classes, b.labels[size_t(k)]);
                epoch_stats.add(z, classes, b.labels[size_t(k)], l);
                interval.add(z, classes, b.labels[size_t(k)], l);
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
            const int sig = stop_signal();
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
                out.write({{"summary", true}, {"stopped", sig ? (sig == 2 ? "SIGINT" : "SIGTERM") : "stop-after"},
                           {"epoch", epoch + 1}, {"iter", r.state.step}, {"checkpoint", r.last_path}});
                return sig ? 128 + sig : (r.skipped.empty() ? 0 : 1);
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
            if (v.images == 0)
                std::cerr << "alexnet-train: epoch " << epoch + 1 << ": no validation image could be read; "
                          << "its errors are null, and the model is not chosen by them\n";
            lr_after_validation(o.policy, r.state.lr, v.top1);
            line["val_loss"] = json_float(float(v.loss));
            line["val_top1_error"] = json_float(float(v.top1));
            line["val_top5_error"] = json_float(float(v.top5));
        }
        rec.seconds = std::chrono::duration<double>(clock_type::now() - t_epoch).count();
        line["seconds"] = json_float(float(rec.seconds));
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
            save_model(r.model_path, r.spec, r.net->weights(), r.labels, &provenance);
        }
        {  // the checkpoint resumes at the next epoch's start
            const TrainState saved = r.state;
            ++r.state.epoch;
            r.state.batch = 0;
            r.state.epoch_stats = {};
            r.checkpoint();
            r.state = saved;
        }
        plot_curves(r.curves_path, r.state.history, r.o, r.spec.arch);
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
    return skipped_total ? 1 : 0;
}

}  // namespace alexnet
