// Everything a training run does before its first step: the output folder, the sets, the model
// and its classes, preprocessing and augmentation statistics, the network, solver and loader.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <type_traits>
#include <unistd.h>

#include "core/error.hpp"
#include "core/signals.hpp"
#include "data/labels.hpp"
#include "engine/inference_net.hpp"
#include "engine/precision.hpp"
#include "formats/model_file.hpp"
#include "io/atomic_file.hpp"
#include "train/training_run.hpp"

namespace alexnet {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kValSplitStream = 0x56414c;  // "VAL": the seed stream of --val-split's draw

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
    const std::vector<int> order = epoch_order(all.size(), mix_seed(o.seed, kValSplitStream), 0);
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

// Mean and std on the preset's scale: Caffe-style presets (std 1) subtract a mean in 0..255,
// torchvision-style ones normalise 0..1 values by mean and std.
void apply_stats(const TrainOptions& o, const DataStats& st, Preprocessing& p) {
    const bool caffe_style = p.std[0] == 1.f && p.pixel_scale > 1.f;
    for (int c = 0; c < p.channels; ++c) {
        if (o.mean.empty()) p.mean[c] = st.mean[c] * p.pixel_scale;
        if (o.std.empty() && !caffe_style) p.std[c] = st.std[c] * p.pixel_scale;
    }
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

}  // namespace

TrainingRun::TrainingRun(TrainOptions options, JsonLines& out)
    : o_(std::move(options)), out_(out), tty_(isatty(2) && comm_.rank() == 0) {
    if (!lead_) o_.quiet = true;  // one voice for people; every rank still reports its own errors
}

void TrainingRun::set_up() {
    resume_or_start();
    prepare_output_folder();
    open_sets(o_, train_set_, val_set_);
    for (const LabelledSet* set : {&train_set_, &val_set_})
        for (const std::string& note : set->notes) log_info(o_.quiet, "alexnet-train: " + note);
    bool new_head = false;
    const LoadedModel base = choose_model(new_head);
    // Files that do not exist are known before the first epoch (a --val list relative to another
    // folder is found here, not reported as a perfect score after an epoch).
    drop_missing(train_set_, "--data");
    drop_missing(val_set_, o_.val.empty() ? "--val-split" : "--val");
    if (comm_.size() > 1)
        for (const auto& [set, option] : {std::pair{&train_set_, "--data"}, {&val_set_, "--val"}})
            check(comm_.same_everywhere(set_hash(*set)), option, "",
                  "the same items on every process (a shared folder, or the same copy on every machine)",
                  std::to_string(set->size()) + " items here, and other items on another process");
    settle_preprocessing(spec_.preprocessing);
    build_network(base, new_head);
    stop_at_step_boundary();  // a signal stops the loop after its step, with a checkpoint
    loader_ = std::make_unique<Loader>(train_set_, spec_.preprocessing, aug_, share_.count, true, o_.seed,
                                       o_.loader_threads, CropMode::center, BatchShare{o_.batch, share_.offset});
    if (resumed_) check_resume_position(state_, loader_->batches_per_epoch(), o_.batch, o_.resume);
    logits_.resize(size_t(share_.count) * size_t(spec_.num_classes()));
}

// --resume's options (the run-defining ones) over the command line's, then every option checked.
void TrainingRun::resume_or_start() {
    if (!o_.resume.empty()) {
        resumed_ = std::make_unique<Checkpoint>(load_checkpoint(o_.resume));
        apply_checkpoint_options(resumed_->options, o_.resume, o_);
    }
    const int processes = comm_.size();
    check(!o_.data.empty(), "--data", "", "a training set (IDX, CIFAR-10, list or image folder)", "none");
    check(o_.batch >= processes, "--batch-size", "",
          "at least one item per process (the global batch, shared by " + std::to_string(processes) + " processes)",
          std::to_string(o_.batch));
    share_ = share_of(o_.batch, comm_.rank(), processes);
    if (o_.epochs == 0) o_.epochs = 90;
    check_run_options(o_, "");
    require_precision_support(parse_precision("--precision", o_.precision));  // before any data is read
}

// The output folder, checked before any work; temporaries of runs killed mid-save removed. Rank 0
// alone writes there (the other ranks may run on machines without that folder).
void TrainingRun::prepare_output_folder() {
    if (o_.out.empty()) o_.out = o_.resume.empty() ? "run" : fs::path(o_.resume).parent_path().string();
    if (o_.out.empty()) o_.out = ".";
    if (lead_) {
        std::error_code ec;
        fs::create_directories(o_.out, ec);
        check(!ec, o_.out, "--out", "a folder that can be created", ec.message());
        check_writable_directory(o_.out);
    }
    last_path_ = (fs::path(o_.out) / "last.safetensors").string();
    model_path_ = (fs::path(o_.out) / "model.safetensors").string();
    curves_path_ = (fs::path(o_.out) / "curves.png").string();
    if (lead_)
        for (const auto& path : {last_path_, model_path_, curves_path_}) remove_stale_temporaries(path);
}

// The model: resumed, fine-tuned from --weights (returned, for its weights), or a preset; its
// classes named in order and the sets' labels checked against them. `new_head`: the fine-tuned
// model's classifier does not fit the data's classes and is made anew.
LoadedModel TrainingRun::choose_model(bool& new_head) {
    LoadedModel base;
    if (!resumed_ && !o_.weights.empty()) base = load_model(o_.weights, "");
    std::vector<std::string> names;
    if (resumed_ && !resumed_->model.labels.empty()) {
        names = resumed_->model.labels;
        map_classes_by_name(train_set_, names, "the checkpoint's labels");
        map_classes_by_name(val_set_, names, "the checkpoint's labels");
    } else {
        new_head = !settle_class_names(o_, base.labels, train_set_, val_set_, names);
    }
    const int data_classes = std::max({int(names.size()), train_set_.num_classes(),
                                       val_set_.size() ? val_set_.num_classes() : 0});
    const Activation act = parse_activation("--activation", o_.activation);
    if (resumed_) {
        spec_ = resumed_->model.spec;
    } else if (!o_.weights.empty()) {
        spec_ = base.spec;
        new_head = new_head || spec_.num_classes() != data_classes;
        if (new_head)  // fc8 re-initialised in build_network
            spec_.layers[size_t(spec_.index_of(spec_.classifier()))].out_channels = data_classes;
        set_hidden_activation(spec_, act);
    } else {
        PresetOptions po;
        po.num_classes = data_classes;
        spec_ = make_preset(o_.arch, po);
        set_hidden_activation(spec_, act);
    }
    check_labels(train_set_, spec_.num_classes());
    check_labels(val_set_, spec_.num_classes());
    if (!o_.labels_file.empty())
        check(int(names.size()) == spec_.num_classes(), o_.labels_file, "lines",
              std::to_string(spec_.num_classes()) + " class names (one per class of the model)",
              std::to_string(names.size()));
    if (int(names.size()) == spec_.num_classes()) labels_ = names;
    return base;
}

// Preprocessing and augmentation statistics from the training set (unless given or resumed), then
// rank 0's, bit for bit, on every rank (machines may round differently).
void TrainingRun::settle_preprocessing(Preprocessing& pp) {
    aug_.random_crop = o_.random_crop;
    aug_.flip = o_.flip;
    aug_.pad = o_.pad;
    check(o_.lighting == "auto" || o_.lighting == "data" || o_.lighting == "imagenet" || o_.lighting == "none",
          "--lighting", "", "auto, data, imagenet or none", "'" + o_.lighting + "'");
    if (resumed_) {
        aug_.lighting = lighting_from_json(resumed_->options.contains("lighting_values")
                                               ? resumed_->options.at("lighting_values") : nlohmann::json(), o_.resume);
    } else {
        for (size_t c = 0; c < o_.mean.size() && c < 3; ++c) pp.mean[c] = o_.mean[c];
        for (size_t c = 0; c < o_.std.size() && c < 3; ++c) pp.std[c] = o_.std[c];
        check(o_.mean.empty() || int(o_.mean.size()) == pp.channels, "--mean", "", std::to_string(pp.channels) + " values",
              std::to_string(o_.mean.size()));
        check(o_.std.empty() || int(o_.std.size()) == pp.channels, "--std", "", std::to_string(pp.channels) + " values",
              std::to_string(o_.std.size()));
        const bool want_data_lighting = pp.channels == 3 && (o_.lighting == "data" || o_.lighting == "auto");
        if (o_.mean.empty() || o_.std.empty() || want_data_lighting) {
            const DataStats st = compute_stats(train_set_, pp, train_set_.in_memory() ? train_set_.size() : o_.stats_images);
            if (o_.weights.empty()) apply_stats(o_, st, pp);  // fine-tuning keeps the weights' own preprocessing
            if (want_data_lighting) aug_.lighting = st.lighting;
            log_info(o_.quiet, "alexnet-train: statistics from " + std::to_string(st.images) + " training images");
        }
        if (o_.lighting == "imagenet" && pp.channels == 3) aug_.lighting = imagenet_lighting();
    }
    static_assert(std::is_trivially_copyable_v<Preprocessing> && std::is_trivially_copyable_v<Lighting>);
    comm_.broadcast(&pp, sizeof pp);
    comm_.broadcast(&aug_.lighting, sizeof aug_.lighting);
}

// The network, its gradient sums and solver; the weights resumed, fine-tuned (a new head
// re-initialised) or initialised, then rank 0's on every rank.
void TrainingRun::build_network(const LoadedModel& base, bool new_head) {
    const int processes = comm_.size();
    set_num_threads(threads_per_process(o_.threads));
    net_ = std::make_unique<TrainNet>(spec_, share_.count, o_.dropout, parse_precision("--precision", o_.precision));
    net_->set_share(share_.offset, o_.batch);
    reducer_ = std::make_unique<GradientReducer>(comm_, *net_, o_.bucket_mb);
    const ParamLayout& layout = net_->layout();
    sgd_ = std::make_unique<Sgd>(layout, o_.momentum, o_.weight_decay, o_.caffe_multipliers);
    o_.policy.base_lr = o_.lr;
    o_.policy.epochs = o_.epochs;  // a resumed cosine run given a new --epochs stretches its remaining curve
    if (resumed_) {
        net_->set_weights(resumed_->model.weights);
        sgd_->velocity() = resumed_->momentum;
        state_ = resumed_->state;
    } else {
        initialise(spec_, layout, net_->params(), o_.init, o_.seed);
        if (!o_.weights.empty()) {
            for (size_t i = 0; i < layout.tensors.size(); ++i) {
                const Tensor& t = base.weights.at(layout.tensors[i].name);
                if (t.shape == layout.tensors[i].shape) std::copy_n(t.floats(), t.numel(), net_->params() + layout.offset[i]);
            }
            if (new_head) initialise_layer(spec_, layout, net_->params(), o_.init, o_.seed, spec_.classifier());
        }
        state_.lr = lr_start(o_.policy);
    }
    comm_.broadcast(net_->params(), layout.total * int64_t(sizeof(float)));  // every rank starts from rank 0's
    comm_.broadcast(sgd_->velocity().data(), layout.total * int64_t(sizeof(float)));
    if (resumed_ && resumed_->state.world_size != processes)
        log_info(o_.quiet, "alexnet-train: resuming a run of " + std::to_string(resumed_->state.world_size) +
                               " process(es) with " + std::to_string(processes) + ": the same global batch (" +
                               std::to_string(o_.batch) + ") and order; sums are added in another order, so the "
                               "weights follow the earlier run up to rounding");
    state_.world_size = processes;
}

// Reports and removes the items of `set` whose file does not exist; a set none of whose files
// exists is refused, naming the option it came from.
void TrainingRun::drop_missing(LabelledSet& set, const std::string& option) {
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

void TrainingRun::write_start_line() {
    const int batches = loader_->batches_per_epoch();
    const Preprocessing& pp = spec_.preprocessing;
    // Every step takes a whole batch (Caffe's way; PyTorch's drop_last=True): the remainder of the
    // shuffled set sits out each epoch, other items each time.
    const int left_out = train_set_.size() - batches * o_.batch;
    if (left_out > 0 && lead_)
        log_info(o_.quiet, "alexnet-train: " + count_of(left_out, "training image") + " of " +
                               std::to_string(train_set_.size()) + " sit out each epoch (" + std::to_string(batches) +
                               (batches == 1 ? " whole batch" : " whole batches") + " of " + std::to_string(o_.batch) +
                               "; the shuffle leaves out others each epoch)");
    out_.write({{"event", "start"}, {"arch", spec_.arch}, {"activation", to_string(hidden_activation(spec_))},
                {"classes", spec_.num_classes()}, {"train_images", train_set_.size()}, {"val_images", val_set_.size()},
                {"batch", o_.batch}, {"processes", comm_.size()}, {"iters_per_epoch", batches},
                {"left_out_per_epoch", left_out}, {"epochs", o_.epochs}, {"params", net_->layout().total},
                {"seed", o_.seed}, {"precision", o_.precision}, {"resumed_at_epoch", resumed_ ? nlohmann::json(state_.epoch + 1) : nlohmann::json()},
                {"mean", std::vector<float>(pp.mean, pp.mean + pp.channels)},
                {"std", std::vector<float>(pp.std, pp.std + pp.channels)}});
}

}  // namespace alexnet
