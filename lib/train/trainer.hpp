#pragma once
// The training run behind alexnet-train: data, model, solver, loop, validation, checkpoints,
// curves. Every option is a field here with its default; alexnet-train only maps flags to fields.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/json_lines.hpp"
#include "train/solver.hpp"

namespace alexnet {

struct TrainOptions {
    // data
    std::string data, val, root;
    std::string val_root;  // for a --val list (default: root)
    int limit = 0;         // train on N items drawn across --data by `seed` (sample_items; 0: all)
    bool limit_first = false;  // the first N instead: runs checkpointed before --limit sampled
    double val_split = 0;  // held-out fraction of --data when there is no --val
    std::string labels_file;  // class names to store in the model
    // model
    std::string arch = "alexnet", activation = "relu", init = "paper", weights;
    float dropout = 0.5f;
    std::string precision = "fp32";  // fp32 | bf16 (mixed: engine/train_net.hpp); a run resumes in its own
    // solver (paper section 5)
    int epochs = 0, batch = 128;  // epochs 0: 90 (the paper's), or the checkpoint's when resuming
    float lr = 0.01f, momentum = 0.9f, weight_decay = 5e-4f;
    bool caffe_multipliers = false;  // biases lr x2, decay x0
    LrPolicy policy;                 // its base_lr is set from `lr`
    // augmentation (paper section 4.1)
    bool random_crop = true, flip = true;
    int pad = 0;
    std::string lighting = "auto";  // auto (data for colour sets, none for grey) | data | imagenet | none
    std::vector<float> mean, std;   // empty: computed from the training set
    int stats_images = 1000;        // images sampled for those statistics (file sets)
    uint64_t seed = 1;
    // session: these may change when resuming
    std::string out = "run", resume;
    std::string keep = "best";  // model.safetensors: the best validation epoch's weights, or the last epoch's
    int threads = 0, loader_threads = 2, checkpoint_every = 0, log_every = 20;
    int64_t stop_after = 0;  // stop (with a checkpoint) after this many steps in total; 0: never
    bool strict = false;     // a missing or unreadable image stops the run (else it is skipped and counted)
    double bucket_mb = 25;   // under mpirun: gradients summed in buckets of this size during backward (0: after it)
    bool quiet = false;
};

// Upper bounds of the run options (the other ranges are in check_run_options).
constexpr int kMaxBatch = 65536;
constexpr int kMaxPad = 64;

nlohmann::json to_json(const TrainOptions& o);
// Every run option within its range (batch size, epochs, padding, rates, names of policies,
// presets, activations...). `checkpoint`: the file the options came from (named in the message
// with its field), or empty for options from the command line.
void check_run_options(const TrainOptions& o, const std::string& checkpoint);
// The run-defining fields of `j` (the options of the checkpoint `path`) into `o`, each value's type
// and range checked (check_run_options); session fields are left as they are, and `o.epochs` too
// unless it is 0.
void apply_checkpoint_options(const nlohmann::json& j, const std::string& path, TrainOptions& o);

// Runs (or resumes) training; returns the exit code: 0, 1 (unreadable items, non-finite loss),
// 130/143 (stopped by SIGINT/SIGTERM after writing the checkpoint).
int train(TrainOptions o, JsonLines& out);

}  // namespace alexnet
