#include "train/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "core/error.hpp"
#include "core/signals.hpp"
#include "figures/plot.hpp"
#include "formats/model_file.hpp"
#include "io/bounded_json.hpp"
#include "metrics/topk.hpp"
#include "train/training_run.hpp"

namespace alexnet {

namespace fs = std::filesystem;

int train(TrainOptions o, JsonLines& out) {
    TrainingRun run(std::move(o), out);
    run.set_up();
    run.write_start_line();
    for (; run.epochs_left(); run.end_epoch()) {
        run.start_epoch();
        for (; run.batches_left(); run.end_batch()) {
            const StepEnd end = run.step();
            if (end == StepEnd::diverged) return run.diverged();
            if (end == StepEnd::stop) return run.stop();
        }
    }
    return run.finish();
}

namespace {

constexpr uint64_t kDropoutStream = 0x44524f50;  // "DROP": the seed stream of the dropout masks

// A run whose loss grows a thousandfold over where it started (or over ln(classes), chance's loss,
// when it started lower) has diverged even while the numbers stay finite: SGD at too high a rate
// reaches 1e26 and sits there, its error stuck at chance. Such a run is stopped like one whose loss
// overflows.
constexpr double kDivergence = 1000;

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

}  // namespace

void StepSums::sum_over(Communicator& comm) {
    double v[] = {images, top1, top5, loss_sum, loss_times_share, readable_shares, sigint, sigterm, unsent_skips};
    comm.sum(v, int64_t(std::size(v)));
    images = v[0], top1 = v[1], top5 = v[2], loss_sum = v[3], loss_times_share = v[4], readable_shares = v[5];
    sigint = v[6], sigterm = v[7], unsent_skips = v[8];
}

int StepSums::signal() const { return sigterm > 0 ? SIGTERM : sigint > 0 ? SIGINT : 0; }

void TrainingRun::start_epoch() {
    epoch_lr_ = lr_for_epoch(o_.policy, state_.lr, state_.epoch);
    state_.lr.lr = epoch_lr_;
    t_epoch_ = clock_type::now();
    waited_before_ = reducer_->waited_seconds();
    loader_->start(state_.epoch, state_.batch);
    if (state_.batch == 0) state_.epoch_stats = {};  // kept in checkpoints: a resumed epoch reports the whole
    interval_ = {};
    t_interval_ = clock_type::now();
}

StepEnd TrainingRun::step() {
    const LoaderBatch& b = loader_->next();
    report(b, train_set_);
    lr_ = lr_for_step(o_.policy, state_.lr, state_.epoch, state_.step, loader_->batches_per_epoch());
    StepSums sums = forward_backward(b);
    sums.sum_over(comm_);
    if (sums.unsent_skips > 0) sync_skips();
    if (sums.readable_shares == 0) return StepEnd::skipped;  // not one readable image in the whole batch
    const double batch_loss = sums.batch_loss(o_.batch);
    if (start_loss_ < 0 && std::isfinite(batch_loss))
        start_loss_ = std::max(batch_loss, std::log(double(spec_.num_classes())));
    if (!std::isfinite(batch_loss) || batch_loss > kDivergence * start_loss_) {
        stop_loss_ = batch_loss;
        return StepEnd::diverged;
    }
    sgd_->update(net_->params(), net_->grads(), lr_);
    ++state_.step;
    count_step(sums, lr_);
    stop_signal_ = sums.signal();
    const bool stop_now = stop_signal_ != 0 || (o_.stop_after > 0 && state_.step >= o_.stop_after);
    if (stop_now || (o_.checkpoint_every > 0 && state_.step % o_.checkpoint_every == 0)) {
        ++state_.batch;  // resume after this batch
        checkpoint();
        --state_.batch;
    }
    return stop_now ? StepEnd::stop : StepEnd::next;
}

// This rank's share: forward, backward, and its part of the sums of the gradients (a share without
// one readable image adds zeros). Returns what every rank must agree on, before the sum.
StepSums TrainingRun::forward_backward(const LoaderBatch& b) {
    StepSums s;
    const int classes = spec_.num_classes();
    if (int(b.failed.size()) < b.count) {
        const float loss = net_->train_step(b.data.data(), b.labels.data(),
                                            mix_seed(o_.seed, kDropoutStream, uint64_t(state_.step)), logits_.data());
        reducer_->finish();
        TopKCounter step;
        for (int k = 0; k < share_.count; ++k) {
            const float* z = logits_.data() + size_t(k) * classes;
            step.add(z, classes, b.labels[size_t(k)], cross_entropy(z, classes, b.labels[size_t(k)]));
        }
        s.images = double(step.images), s.top1 = double(step.top1), s.top5 = double(step.top5);
        s.loss_sum = step.loss_sum;
        s.loss_times_share = double(loss) * share_.count;
        s.readable_shares = 1;
    } else {
        reducer_->reduce_zero();
    }
    const int own_signal = stop_signal();
    s.sigint = own_signal == SIGINT, s.sigterm = own_signal == SIGTERM;
    s.unsent_skips = double(unsent_count_);
    return s;
}

// The step's counts into the epoch's and the interval's, the progress bar and the log line.
void TrainingRun::count_step(const StepSums& sums, float lr) {
    for (TopKCounter* c : {&state_.epoch_stats, &interval_}) {
        c->images += int64_t(sums.images), c->top1 += int64_t(sums.top1), c->top5 += int64_t(sums.top5);
        c->loss_sum += sums.loss_sum;
    }
    const double elapsed = std::chrono::duration<double>(clock_type::now() - t_interval_).count();
    const double rate = double(interval_.images) / std::max(elapsed, 1e-9);
    progress(state_.batch + 1, interval_.mean_loss(), interval_.top1_error(), rate);
    if (o_.log_every > 0 && state_.step % o_.log_every == 0) {
        out_.write({{"epoch", state_.epoch + 1}, {"iter", state_.step}, {"loss", json_float(float(interval_.mean_loss()))},
                    {"lr", json_float(lr)}, {"train_top1_error", json_float(float(interval_.top1_error()))},
                    {"images_per_sec", json_float(float(rate))}});
        interval_ = {};
        t_interval_ = clock_type::now();
    }
}

int TrainingRun::diverged() {
    if (tty_ && !o_.quiet) std::cerr << '\n';
    const double loss = stop_loss_;
    const bool finite = std::isfinite(loss);
    const auto plain_float = [](float v) { return (std::ostringstream() << v).str(); };  // 1.6e+26, inf
    if (lead_)
        std::cerr << "alexnet-train: the loss "
                  << (finite ? "grew from " + fixed(start_loss_, 4) + " to " + plain_float(float(loss)) + " (over " +
                                   std::to_string(int(kDivergence)) + " times where it started)"
                             : "became " + plain_float(float(loss)))
                  << " at epoch " << state_.epoch + 1 << ", iteration " << state_.step + 1 << " (lr " << lr_
                  << "); stopped. "
                  << (fs::exists(last_path_) ? "The last good checkpoint is " + last_path_ + "."
                                             : std::string("No checkpoint was written yet."))
                  << " Try a lower --lr.\n";
    out_.write({{"summary", true}, {"stopped", finite ? "diverging loss" : "non-finite loss"},
                {"epoch", state_.epoch + 1}, {"iter", state_.step + 1},
                {"loss", finite ? nlohmann::ordered_json(json_float(float(loss))) : nlohmann::ordered_json()}});
    return 1;
}

int TrainingRun::stop() {
    const int sig = stop_signal_;
    if (tty_ && !o_.quiet) std::cerr << '\n';
    log_info(o_.quiet, "alexnet-train: " + std::string(sig ? "stopped by a signal" : "--stop-after reached") +
                           " at iteration " + std::to_string(state_.step) + "; checkpoint " + last_path_ +
                           " (continue with --resume " + last_path_ + ")");
    out_.write({{"summary", true}, {"stopped", sig ? signal_name(sig) : "stop-after"},
                {"epoch", state_.epoch + 1}, {"iter", state_.step}, {"checkpoint", last_path_}});
    return agreed(sig ? 128 + sig : (skipped_.empty() ? 0 : 1));
}

void TrainingRun::end_epoch() {
    if (tty_ && !o_.quiet) std::cerr << '\n';
    const int epoch = state_.epoch;
    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.lr = epoch_lr_;
    rec.train_loss = state_.epoch_stats.mean_loss();
    rec.train_error = state_.epoch_stats.top1_error();
    nlohmann::ordered_json line{{"epoch", epoch + 1}, {"lr", json_float(epoch_lr_)},
                                {"train_loss", json_float(float(rec.train_loss))},
                                {"train_top1_error", json_float(float(rec.train_error))}};
    bool best = true;
    if (val_set_.size() > 0) {
        const Validation v = validate();
        rec.has_val = true;
        rec.val_loss = v.loss, rec.val_top1_error = v.top1, rec.val_top5_error = v.top5;
        best = v.images > 0 && v.top1 < state_.best_val_error;
        if (best) state_.best_val_error = v.top1;
        if (v.images == 0 && lead_)
            std::cerr << "alexnet-train: epoch " << epoch + 1 << ": no validation image could be read; "
                      << "its errors are null, and the model is not chosen by them\n";
        lr_after_validation(o_.policy, state_.lr, v.top1);
        line["val_loss"] = json_float(float(v.loss));
        line["val_top1_error"] = json_float(float(v.top1));
        line["val_top5_error"] = json_float(float(v.top5));
    }
    rec.seconds = std::chrono::duration<double>(clock_type::now() - t_epoch_).count();
    line["seconds"] = json_float(float(rec.seconds));
    if (comm_.size() > 1)  // the part of the gradient sums the backward pass did not hide
        line["allreduce_wait_seconds"] = json_float(float(reducer_->waited_seconds() - waited_before_));
    line["best"] = best;
    state_.history.push_back(rec);
    if (best || o_.keep == "last" || state_.best_val_error > 1) save_model_file(rec, line);  // > 1: not validated yet
    checkpoint_at_next_epoch();
    if (lead_) plot_curves(curves_path_, state_.history, o_, spec_.arch);
    out_.write(line);
    log_info(o_.quiet || tty_, "alexnet-train: epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o_.epochs) +
                                   " train loss " + fixed(rec.train_loss, 4) + " error " + fixed(rec.train_error, 4) +
                                   (rec.has_val ? " | val error " + fixed(rec.val_top1_error, 4) : "") + " (" +
                                   fixed(rec.seconds, 1) + " s)");
    if (tty_ && !o_.quiet && rec.has_val)
        std::cerr << "  val loss " << fixed(rec.val_loss, 4) << "  top-1 error " << fixed(rec.val_top1_error, 4)
                  << "  top-5 error " << fixed(rec.val_top5_error, 4) << "\n";
    ++state_.epoch;
    state_.batch = 0;
}

// model.safetensors, with where the weights came from and what they measured, for alexnet-eval to
// be checked against.
void TrainingRun::save_model_file(const EpochRecord& rec, const nlohmann::ordered_json& line) {
    Weights provenance;
    nlohmann::ordered_json trained{{"epoch", rec.epoch}, {"train_top1_error", line["train_top1_error"]},
                                   {"data", o_.data}, {"train_images", train_set_.size()}};
    if (rec.has_val) {
        trained["val"] = o_.val.empty() ? o_.data + " (--val-split " + fixed(o_.val_split, 3) + ")" : o_.val;
        trained["val_images"] = val_set_.size();
        for (const char* key : {"val_loss", "val_top1_error", "val_top5_error"}) trained[key] = line[key];
    }
    provenance.metadata["training"] = dump_utf8(trained);
    if (lead_) save_model(model_path_, spec_, net_->weights(), labels_, &provenance);
}

// The checkpoint at an epoch's end resumes at the next epoch's start.
void TrainingRun::checkpoint_at_next_epoch() {
    const TrainState saved = state_;
    ++state_.epoch;
    state_.batch = 0;
    state_.epoch_stats = {};
    checkpoint();
    state_ = saved;
}

int TrainingRun::finish() {
    const double seconds = std::chrono::duration<double>(clock_type::now() - t_start_).count();
    nlohmann::ordered_json summary{{"summary", true}, {"epochs", o_.epochs}, {"iters", state_.step},
                                   {"seconds", json_float(float(seconds))}, {"model", model_path_},
                                   {"checkpoint", last_path_}, {"curves", curves_path_}};
    if (state_.best_val_error <= 1) summary["best_val_top1_error"] = json_float(float(state_.best_val_error));
    int64_t skipped_total = 0;
    nlohmann::ordered_json reasons = nlohmann::ordered_json::object();
    for (const auto& [kind, count] : skipped_) reasons[kind] = count, skipped_total += count;
    summary["skipped"] = skipped_total;
    summary["skipped_reasons"] = reasons;
    out_.write(summary);
    const int late_signal = stop_signal();  // after the last step: everything is written, the code still says so
    return agreed(late_signal ? 128 + late_signal : skipped_total ? 1 : 0);
}

// The exit code rank 0 decided (it alone counts skipped items), the same on every rank.
int TrainingRun::agreed(int code) {
    comm_.broadcast(&code, sizeof code);
    return code;
}

// `everywhere`: every rank finds this item (checks before training), so rank 0 alone reports it.
void TrainingRun::skip(const std::string& name, int label, const std::string& kind, const std::string& why,
                       bool everywhere) {
    if (o_.strict) throw Error(name, why + " (--strict)");
    if (!reported_.insert(name).second || (everywhere && !lead_)) return;
    const nlohmann::ordered_json line{{"path", name}, {"label", label}, {"skipped", kind}, {"error", why}};
    if (lead_) {
        ++skipped_[kind];
        out_.write(line);
        return;
    }
    unsent_.append(name).append(1, '\0').append(kind).append(1, '\0').append(dump_line(line)).append(1, '\0');
    ++unsent_count_;
}

// Rank 0 reports the other ranks' skipped items (a collective: call it on every rank when the
// ranks' unsent counts summed to more than 0).
void TrainingRun::sync_skips() {
    const std::vector<std::string> all = comm_.gather(unsent_);
    unsent_.clear();
    unsent_count_ = 0;
    for (size_t r = 1; r < all.size(); ++r) {
        std::vector<std::string> fields;
        for (size_t at = 0; at < all[r].size();) {
            const size_t end = all[r].find('\0', at);
            fields.push_back(all[r].substr(at, end - at));
            at = end + 1;
        }
        for (size_t f = 0; f + 2 < fields.size(); f += 3) {
            if (!reported_.insert(fields[f]).second) continue;
            ++skipped_[fields[f + 1]];
            out_.write_raw(fields[f + 2]);
        }
    }
}

// The batch's unreadable items ("path: reason" errors at positions `failed`).
void TrainingRun::report(const LoaderBatch& b, const LabelledSet& set) {
    for (size_t e = 0; e < b.errors.size(); ++e) {
        const int item = b.items[size_t(b.failed[e])];
        const std::string name = set.name(item), prefix = name + ": ";
        const std::string& error = b.errors[e];
        skip(name, set.labels[size_t(item)], "unreadable", error.rfind(prefix, 0) == 0 ? error.substr(prefix.size()) : error);
    }
}

// Every rank calls it; rank 0 writes, once the ranks are known to hold the same weights.
void TrainingRun::checkpoint() {
    if (comm_.size() > 1) {
        const auto bytes = size_t(net_->layout().total) * sizeof(float);
        const uint64_t h = hash_bytes(sgd_->velocity().data(), bytes, hash_bytes(net_->params(), bytes));
        check(comm_.same_everywhere(h), "alexnet-train", "weights", "the same weights on every process",
              "different ones at iteration " + std::to_string(state_.step) + " (a reduction gave ranks different sums)");
    }
    if (!lead_) return;
    nlohmann::json options = to_json(o_);
    options["lighting_values"] = lighting_json(aug_.lighting);
    save_checkpoint(last_path_, spec_, labels_, net_->weights(), net_->layout(), sgd_->velocity().data(), state_, options);
}

// Each rank scores its share of every batch; the counts are summed.
TrainingRun::Validation TrainingRun::validate() {
    Loader loader(val_set_, spec_.preprocessing, aug_, share_.count, false, o_.seed, o_.loader_threads, CropMode::center,
                  {o_.batch, share_.offset});
    loader.start(0);
    TopKCounter counter;
    const int classes = spec_.num_classes();
    for (int b = 0; b < loader.batches_per_epoch(); ++b) {
        const LoaderBatch& batch = loader.next();
        report(batch, val_set_);
        net_->evaluate(batch.data.data(), logits_.data());
        for (int k = 0; k < batch.count; ++k) {
            if (std::find(batch.failed.begin(), batch.failed.end(), k) != batch.failed.end()) continue;  // reported
            const float* z = logits_.data() + size_t(k) * classes;
            counter.add(z, classes, batch.labels[size_t(k)], cross_entropy(z, classes, batch.labels[size_t(k)]));
        }
    }
    double sums[5] = {double(counter.images), double(counter.top1), double(counter.top5), counter.loss_sum,
                      double(unsent_count_)};
    comm_.sum(sums, 5);
    if (sums[4] > 0) sync_skips();
    counter.images = int64_t(sums[0]), counter.top1 = int64_t(sums[1]), counter.top5 = int64_t(sums[2]);
    counter.loss_sum = sums[3];
    return {counter.mean_loss(), counter.top1_error(), counter.top5_error(), counter.images};
}

void TrainingRun::progress(int batch, double loss, double err, double rate) const {
    if (!tty_ || o_.quiet) return;
    constexpr int kWidth = 30;
    const int batches = loader_->batches_per_epoch();
    const int filled = int(double(batch) / batches * kWidth);
    std::cerr << "\repoch " << state_.epoch + 1 << "/" << o_.epochs << " [" << std::string(size_t(filled), '=')
              << std::string(size_t(kWidth - filled), ' ') << "] " << batch << "/" << batches << "  loss "
              << fixed(loss, 4) << "  error " << fixed(err, 3) << "  " << fixed(rate, 0) << " img/s   " << std::flush;
}

}  // namespace alexnet
