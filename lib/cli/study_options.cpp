#include "cli/study_options.hpp"

#include "cli/options.hpp"
#include "model/model.hpp"
#include "train/solver.hpp"

namespace alexnet {

void add_study_options(CLI::App& app, ExperimentOptions& o) {
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--data", o.data, "Training set: IDX, CIFAR-10 binaries, image folder or path-label list")
        ->capture_default_str();
    app.add_option("--root", o.root, "Folder that a list's relative paths start from");
    app.add_option("--limit", o.limit, "Use the first N training items")->check(positive_number);
    app.add_option("--arch", o.arch, "Network (convnet-4: three 5x5 conv layers and an fc layer)")
        ->check(one_of(preset_names()))->capture_default_str();
    app.add_option("--activations", o.activations, "Activations to compare")
        ->delimiter(',')->check(one_of(activation_names()))->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->capture_default_str();
    app.add_option("--seeds", o.seeds, "Repetitions with different initial weights and data orders")
        ->check(positive_number)->capture_default_str();
    app.add_option("--seed", o.seed, "First seed")->capture_default_str();
    app.add_option("--lr-grid", o.lr_grid, "Learning rates tried per activation (the fastest is used)")
        ->delimiter(',')->check(positive_number)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->capture_default_str();
    app.add_option("--lr", o.lr, "One learning rate for every activation (no sweep)")->check(positive_number);
    app.add_option("--lr-choice", o.lr_choice,
                   "iterations: the rate with the fewest iterations to the target, median over all seeds; error: "
                   "the lowest training error after a --sweep-iters trial on the first seed")
        ->check(one_of({"iterations", "error"}))->capture_default_str();
    app.add_option("--sweep-iters", o.sweep_iters, "Iterations per trial of --lr-choice error (default: one epoch)")
        ->check(positive_number);
    app.add_option("--target-error", o.target_error, "Training error to reach")->capture_default_str();
    app.add_option("--max-epochs", o.max_epochs, "Give up after this many epochs (every trial's budget)")->check(positive_number)
        ->capture_default_str();
    add_batch_option(app, o.batch, "Mini-batch size")->check(in_range(1, 65536));
    app.add_option("--eval-every", o.eval_every, "Iterations per training-error measurement (default: a tenth of an epoch)")
        ->check(positive_number);
    app.add_option("--momentum", o.momentum, "SGD momentum")->capture_default_str();
    app.add_option("--init", o.init, "Initial weights (the same for every activation)")
        ->check(one_of(init_names()))->capture_default_str();
    app.add_option("--last-layer-scale", o.last_layer_scale, "Multiply the classifier's initial weights by this")
        ->check(positive_number)->capture_default_str();
    app.add_option("--precision", o.precision, "fp32 | bf16: train in bf16 with f32 master weights (needs AVX512-BF16)")
        ->check(one_of({"fp32", "bf16"}))->capture_default_str();
    app.add_flag("--study", o.study, "Run the grid --inits x --activations x --targets and summarise it");
    app.add_option("--inits", o.study_inits, "Initialisations of --study")
        ->delimiter(',')->check(one_of(init_names()))->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->capture_default_str();
    app.add_option("--targets", o.study_targets, "Training-error targets of --study")
        ->delimiter(',')->check(in_range(0.0, 0.999999))->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->capture_default_str();
    app.add_option("--plot", o.plot,
                   "PNG (and an SVG beside it): training error against epochs, every seed and the median, per "
                   "activation (Figure 1); with --study the speed-ups over tanh, and Figure 1 per init beside it "
                   "(FILE-INIT.png)");
    app.add_option("--curves", o.curves, "PNG (and an SVG beside it): the functions and their derivatives over [-6, 6] (Figure 2-3)");
    add_threads_option(app, o.threads);
    add_loader_threads_option(app, o.loader_threads);
    add_max_pixels_option(app);
    add_quiet_option(app, o.quiet);
}

}  // namespace alexnet
