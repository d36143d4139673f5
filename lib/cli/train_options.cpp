#include "cli/train_options.hpp"

#include "cli/options.hpp"
#include "engine/inference_net.hpp"

namespace alexnet {

void add_data_options(CLI::App& app, TrainOptions& o) {
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later flag overrides
    app.add_option("--data", o.data,
                   "Training set: IDX folder/file, CIFAR-10 folder/.bin, image folder (root/<class>/...) or a "
                   "'path label' list");
    app.add_option("--val", o.val, "Validation set, same forms (an IDX or CIFAR folder gives its test split)");
    app.add_option("--val-split", o.val_split, "Hold out this fraction of --data for validation when there is no --val")
        ->check(in_range(0.0, 0.99));
    app.add_option("--root", o.root, "Folder that relative paths in a --data list are under (default: the list's folder)");
    app.add_option("--val-root", o.val_root, "Folder that relative paths in a --val list are under (default: --root, else the list's folder)");
    app.add_option("--limit", o.limit, "Train on N items drawn across --data: each class in proportion to its share, by --seed")->check(positive_number);
    app.add_flag("--strict", o.strict, "Stop at the first missing or unreadable image instead of skipping it");
    app.add_option("--seed", o.seed, "Seeds initial weights, order, augmentation and dropout")->capture_default_str();
    add_threads_option(app, o.threads);
    add_loader_threads_option(app, o.loader_threads);
    add_max_pixels_option(app);
    add_quiet_option(app, o.quiet);
}

void add_train_options(CLI::App& app, TrainOptions& o) {
    add_data_options(app, o);
    app.add_option("--labels", o.labels_file, "Class names, one per line, stored in the model (default: folder names)");
    app.add_option("--arch", o.arch, "Preset")->check(one_of(preset_names()))->capture_default_str();
    app.add_option("--activation", o.activation, "Hidden activation")
        ->check(one_of(activation_names()))->capture_default_str();
    app.add_option("--init", o.init, "Initial weights")->check(one_of(init_names()))->capture_default_str();
    app.add_option("-w,--weights", o.weights, "Fine-tune from these weights (a new class count re-initialises fc8)");
    app.add_option("--dropout", o.dropout, "Dropout probability on fc6 and fc7 (0: off)")
        ->check(in_range(0.0, 0.99))->capture_default_str();
    app.add_option("--precision", o.precision,
                   "fp32 | bf16: conv and fc layers in bf16 with f32 master weights, gradients of the weights, update "
                   "and loss (needs AVX512-BF16; a resumed run keeps its own)")
        ->check(one_of({"fp32", "bf16"}))->capture_default_str();
    app.add_option("--epochs", o.epochs, "Epochs to train (default 90; with --resume: the checkpoint's, or a new total)")
        ->check(in_range(1, 1000000));
    add_batch_option(app, o.batch, "Images per SGD step")->check(in_range(1, 65536));
    app.add_option("--lr", o.lr, "Base learning rate")->check(positive_number)->capture_default_str();
    app.add_option("--momentum", o.momentum, "SGD momentum")->check(in_range(0.0, 0.999))->capture_default_str();
    app.add_option("--weight-decay", o.weight_decay, "L2 weight decay")->check(in_range(0.0, 1.0))->capture_default_str();
    app.add_flag("--caffe-multipliers", o.caffe_multipliers, "Biases learn at 2x the rate without decay (bvlc_alexnet)");
    app.add_option("--lr-policy", o.policy.name, "Learning-rate schedule")
        ->check(one_of(lr_policy_names()))->capture_default_str();
    app.add_option("--lr-gamma", o.policy.gamma, "Factor of each step/plateau drop")->capture_default_str();
    app.add_option("--lr-step", o.policy.step, "step: epochs between drops")->check(positive_number)->capture_default_str();
    app.add_option("--lr-milestones", o.policy.milestones, "multistep: epochs (0-based) where the rate drops")
        ->delimiter(',');
    app.add_option("--plateau-patience", o.policy.patience, "plateau: epochs without a better validation error")
        ->check(positive_number)->capture_default_str();
    app.add_option("--plateau-max-drops", o.policy.max_drops, "plateau: at most this many drops (the paper: 3)")
        ->capture_default_str();
    app.add_option("--warmup-epochs", o.policy.warmup_epochs, "Grow the rate linearly over these first epochs (0: off)")
        ->check(in_range(0.0, 1000.0))->capture_default_str();
    app.add_flag("--no-random-crop", [&o](int64_t) { o.random_crop = false; }, "Train on center crops");
    app.add_flag("--no-flip", [&o](int64_t) { o.flip = false; }, "No random horizontal flips");
    app.add_option("--pad", o.pad, "Zero padding on each side before the random crop")
        ->check(in_range(0, 64))->capture_default_str();
    app.add_option("--lighting", o.lighting, "PCA colour lighting (auto: data for colour sets, none for grey)")
        ->check(one_of({"auto", "data", "imagenet", "none"}))->capture_default_str();
    app.add_option("--mean", o.mean, "Per-channel mean (default: from the training set)")->delimiter(',');
    app.add_option("--std", o.std, "Per-channel std (default: from the training set, 1 for Caffe presets)")
        ->delimiter(',');
    app.add_option("--stats-images", o.stats_images, "Images sampled for mean/std/lighting from file sets")
        ->check(positive_number)->capture_default_str();
    app.add_option("-o,--output,--out", o.out, "Output folder: model.safetensors, last.safetensors, curves.png and .svg "
                                      "(default: run, or the --resume checkpoint's folder)");
    app.add_option("--keep", o.keep, "model.safetensors holds the best validation epoch's weights or the last epoch's")
        ->check(one_of({"best", "last"}))->capture_default_str();
    app.add_option("--resume", o.resume, "Continue exactly from a checkpoint (its run options apply)");
    app.add_option("--checkpoint-every", o.checkpoint_every, "Also checkpoint every N iterations (0: at epoch ends)")
        ->check(non_negative_number)->capture_default_str();
    app.add_option("--log-every", o.log_every, "Iterations per JSON progress line (0: none)")
        ->check(non_negative_number)->capture_default_str();
    app.add_option("--stop-after", o.stop_after, "Checkpoint and stop after this many iterations in total")
        ->check(non_negative_number);
    app.add_option("--bucket-mb", o.bucket_mb,
                   "Under mpirun: sum gradients across processes in buckets of this many MB, started during the "
                   "backward pass (0: one sum after it)")
        ->check(in_range(0.0, 65536.0))->capture_default_str();
}

}  // namespace alexnet
