#pragma once
// Training checkpoints: a safetensors model file (loadable by every tool) that also holds the
// momentum buffers ("momentum.<param>") and, in its metadata under "checkpoint", the position
// (epoch, batch, step), the schedule's state, the history and the run's options. All randomness
// derives from (seed, epoch, position, step), so this is everything a run needs to resume exactly.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "formats/model_file.hpp"
#include "metrics/topk.hpp"
#include "train/solver.hpp"

namespace alexnet {

struct EpochRecord {
    int epoch = 0;  // 1-based, as printed
    double lr = 0, train_loss = 0, train_error = 0, seconds = 0;
    bool has_val = false;
    double val_loss = 0, val_top1_error = 0, val_top5_error = 0;
};

struct TrainState {
    int epoch = 0;       // the epoch being trained (0-based)
    int batch = 0;       // the next batch within it
    int64_t step = 0;    // SGD steps done
    LrState lr;
    double best_val_error = 2;
    std::vector<EpochRecord> history;
    TopKCounter epoch_stats;  // of the epoch in progress (training batches so far)
    int world_size = 1;       // processes of the run (a resumed run may use another number)
};

nlohmann::json to_json(const EpochRecord& r);

// Writes `path` atomically: the model (spec, parameters, labels) plus momentum and state.
void save_checkpoint(const std::string& path, const ModelSpec& spec, const std::vector<std::string>& labels,
                     const Weights& params, const ParamLayout& layout, const float* momentum, const TrainState& state,
                     const nlohmann::json& options);

struct Checkpoint {
    LoadedModel model;
    std::vector<float> momentum;  // layout order
    TrainState state;
    nlohmann::json options;
};
// Throws Error naming the file and field when it is not a checkpoint written here.
Checkpoint load_checkpoint(const std::string& path);

// Epochs a run may have (also --epochs' bound).
constexpr int kMaxEpochs = 1'000'000;

// The "checkpoint" metadata value of `path`: every field's type and range checked (JSON nested at
// most kMaxJsonDepth deep, one history record per epoch done, counts within their totals). The
// run's options are returned as they are, for check_run_options.
TrainState parse_checkpoint_state(const std::string& text, const std::string& path, nlohmann::json& options);

// The resumed position agrees with the data: batch within an epoch of `batches_per_epoch`, step =
// epoch x batches + batch, and the epoch's image count within the batches done.
void check_resume_position(const TrainState& s, int batches_per_epoch, int batch_size, const std::string& path);

}  // namespace alexnet
