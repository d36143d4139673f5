#pragma once
// Inside train(): one training run's state and steps, shared by trainer.cpp (the loop, validation,
// checkpoints, output) and training_setup.cpp (everything before the first step: data, model,
// preprocessing, network). Not for use outside lib/train.
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "data/augment.hpp"
#include "data/labelled_set.hpp"
#include "data/train_loader.hpp"
#include "engine/train_net.hpp"
#include "io/json_lines.hpp"
#include "parallel/communicator.hpp"
#include "parallel/gradient_reducer.hpp"
#include "train/checkpoint.hpp"
#include "train/solver.hpp"
#include "train/trainer.hpp"

namespace alexnet {

// The augmentation's lighting in a checkpoint's options ("lighting_values"), and back, checked.
nlohmann::json lighting_json(const Lighting& l);
Lighting lighting_from_json(const nlohmann::json& j, const std::string& checkpoint);

// What the ranks sum after each step, so that every rank takes the same decisions (one process:
// its own values).
struct StepSums {
    double images = 0, top1 = 0, top5 = 0, loss_sum = 0;  // the share's readable items, counted
    double loss_times_share = 0;   // the network's mean loss x the share's size: the batch loss, summed
    double readable_shares = 0;    // shares that held at least one readable image
    double sigint = 0, sigterm = 0;  // processes asked to stop by each signal
    double unsent_skips = 0;       // skipped items not yet reported by rank 0 (sync_skips)

    void sum_over(Communicator& comm);
    double batch_loss(int batch) const { return loss_times_share / batch; }
    int signal() const;  // SIGTERM if any process got one, else SIGINT if any did, else 0
};

// How a step ended.
enum class StepEnd { next, skipped, diverged, stop };

class TrainingRun {
public:
    TrainingRun(TrainOptions options, JsonLines& out);

    // training_setup.cpp: the output folder, the sets, the model and its classes, preprocessing
    // and augmentation statistics, the network, the solver and the loader, every rank alike.
    void set_up();
    void write_start_line();

    // trainer.cpp: the loop's parts.
    bool epochs_left() const { return state_.epoch < o_.epochs; }
    void start_epoch();
    bool batches_left() const { return state_.batch < loader_->batches_per_epoch(); }
    StepEnd step();       // next batch, forward-backward, gradient sums, update, bookkeeping
    void end_batch() { ++state_.batch; }
    void end_epoch();     // validation, the model file, the checkpoint, curves, the epoch's line
    int stop();           // after StepEnd::stop: the checkpoint is written; the exit code
    int diverged();       // after StepEnd::diverged: the message and summary; the exit code
    int finish();         // the summary line; the exit code

private:
    // training_setup.cpp
    void resume_or_start();
    void prepare_output_folder();
    LoadedModel choose_model(bool& new_head);
    void settle_preprocessing(Preprocessing& pp);
    void build_network(const LoadedModel& base, bool new_head);
    void drop_missing(LabelledSet& set, const std::string& option);

    // trainer.cpp
    void skip(const std::string& name, int label, const std::string& kind, const std::string& why,
              bool everywhere = false);
    void sync_skips();
    void report(const LoaderBatch& b, const LabelledSet& set);
    StepSums forward_backward(const LoaderBatch& b);
    void count_step(const StepSums& sums, float lr);
    void checkpoint();
    void checkpoint_at_next_epoch();
    struct Validation {
        double loss = 0, top1 = 0, top5 = 0;  // NaN when no image could be read
        int64_t images = 0;
    };
    Validation validate();
    void save_model_file(const EpochRecord& rec, const nlohmann::ordered_json& line);
    void progress(int batch, double loss, double err, double rate) const;
    int agreed(int code);

    using clock_type = std::chrono::steady_clock;
    TrainOptions o_;
    JsonLines& out_;
    // Data-parallel: this rank's share of every global batch (one process: all of it).
    Communicator& comm_ = world();
    const bool lead_ = comm_.rank() == 0;  // writes stdout, models, checkpoints and figures
    const bool tty_;
    const clock_type::time_point t_start_ = clock_type::now();
    Share share_;
    std::unique_ptr<Checkpoint> resumed_;
    ModelSpec spec_;
    std::vector<std::string> labels_;
    LabelledSet train_set_, val_set_;
    Augmentation aug_;
    std::unique_ptr<TrainNet> net_;
    std::unique_ptr<GradientReducer> reducer_;
    std::unique_ptr<Sgd> sgd_;
    std::unique_ptr<Loader> loader_;
    TrainState state_;
    std::string last_path_, model_path_, curves_path_;
    std::vector<float> logits_;
    // The epoch in progress: its learning rate, start, and the interval since the last log line.
    float epoch_lr_ = 0;
    clock_type::time_point t_epoch_, t_interval_;
    double waited_before_ = 0;
    TopKCounter interval_;
    double start_loss_ = -1;  // the first finite batch loss (at least chance's), for the divergence test
    float lr_ = 0;            // the step's rate
    double stop_loss_ = 0;    // the loss that stopped a diverging run
    int stop_signal_ = 0;     // the signal that stopped the run (0: --stop-after)
    // Items that could not be used, reported once each as alexnet-eval reports them and counted by
    // reason; with --strict the first one stops the run. Rank 0 reports and counts; another rank
    // sends its items' records to rank 0 at the next sync_skips() ("name\0kind\0line\0" each).
    std::map<std::string, int64_t> skipped_;
    std::set<std::string> reported_;
    std::string unsent_;
    int64_t unsent_count_ = 0;
};

}  // namespace alexnet
