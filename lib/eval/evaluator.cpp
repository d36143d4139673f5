#include "eval/evaluator.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "parallel/communicator.hpp"
#include "core/error.hpp"
#include "data/labelled_set.hpp"
#include "data/labels.hpp"
#include "data/train_loader.hpp"
#include "engine/inference_net.hpp"
#include "eval/confusion.hpp"
#include "engine/reference.hpp"
#include "figures/plot.hpp"
#include "metrics/agreement.hpp"
#include "metrics/topk.hpp"

namespace alexnet {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

// hits / images, or null without images ("error" is (images - hits) / images: 0.0687, not 1 - 0.9313).
nlohmann::ordered_json ratio_or_null(int64_t hits, int64_t images) {
    return images ? nlohmann::ordered_json(double(hits) / double(images)) : nlohmann::ordered_json();
}

// A line for an item that is not scored: its path, true class, the kind of problem and why.
nlohmann::ordered_json skip_line(const std::string& name, int label, const std::vector<std::string>& names,
                                 const std::string& kind, const std::string& why, bool strict) {
    if (strict) throw Error(name, why + " (--strict)");
    nlohmann::ordered_json line{{"path", name}, {"class", label}};
    if (label >= 0 && label < int(names.size())) line["label"] = names[size_t(label)];
    line["skipped"] = kind, line["error"] = why;
    return line;
}

// The items to score. Those the model cannot be scored on (a label beyond its classes, a missing
// file) are known before any computation, by every rank alike: each gets a line and is left out.
struct Screened {
    LabelledSet work;
    std::map<std::string, int> skipped;  // kind -> count
    bool split_applies = false;          // --split named a part of an IDX or CIFAR-10 folder
};

Screened screen_items(const EvalOptions& o, const LoadedModel& model, const std::vector<std::string>& names,
                      bool quiet, JsonLines& out) {
    const int classes = int(names.size());
    LabelledSet set = sample_items(open_labelled_set(o.data, o.split == "train" ? Split::train : Split::test, o.root),
                                   o.limit, kSampleSeed);
    Screened s;
    // --split names a part of a folder holding IDX files or CIFAR-10 batches (in memory), never an image folder.
    s.split_applies = set.in_memory() && fs::is_directory(o.data);
    // Folders (and CIFAR-10's names) map to the model's classes by name, never by sorted position.
    if (!o.labels_file.empty() || !model.labels.empty())
        map_classes_by_name(set, names, o.labels_file.empty() ? "the model's labels (" + model.path + ")" : o.labels_file);
    for (const std::string& note : set.notes) log_info(quiet, "alexnet-eval: " + note);
    std::vector<bool> missing(size_t(set.size()), false);
    for (int i : missing_items(set)) missing[size_t(i)] = true;
    std::vector<int> keep;
    for (int i = 0; i < set.size(); ++i) {
        const int label = set.labels[size_t(i)];
        std::string kind, why;
        if (label < 0 || label >= classes)
            kind = "label_out_of_range", why = "label: expected 0.." + std::to_string(classes - 1) + " (the model has " +
                                               std::to_string(classes) + " classes), found " + std::to_string(label);
        else if (missing[size_t(i)])
            kind = "missing", why = "no such file";
        if (kind.empty()) {
            keep.push_back(i);
            continue;
        }
        out.write(skip_line(set.name(i), label, names, kind, why, o.strict));
        ++s.skipped[kind];
    }
    s.work = int(keep.size()) == set.size() ? std::move(set) : subset(set, keep);
    return s;
}

// What each rank counts; summed over the ranks once every batch is scored.
struct Tally {
    Evaluation eval, reference_eval;
    std::vector<Evaluation> members;  // an ensemble's members, each alone (eval: the ensemble)
    Agreement agreement, rows;  // per image (top-1 of what is scored), per network row (logits)
    int64_t unreadable = 0;

    Tally(int classes, int k, size_t members_evaluated)
        : eval(classes, k), reference_eval(classes, k), members(members_evaluated, Evaluation(classes, k)) {}

    // The ranks' counts summed (one process: its own). Sums run in rank order; with several
    // processes the mean logit difference may differ from one process's in the last digits.
    void sum_over(Communicator& comm, bool with_reference) {
        for (Evaluation& member : members) {
            std::vector<int64_t> counts = member.counts();
            comm.sum(counts.data(), int64_t(counts.size()));
            member.set_counts(counts);
        }
        std::vector<int64_t> counts = eval.counts();
        const size_t n = counts.size();
        counts.push_back(unreadable);
        if (with_reference) {
            const std::vector<int64_t> r = reference_eval.counts();
            counts.insert(counts.end(), r.begin(), r.end());
            counts.insert(counts.end(), {agreement.images, agreement.same_top1, agreement.logits, rows.images,
                                         rows.same_top1, rows.logits});
        }
        comm.sum(counts.data(), int64_t(counts.size()));
        eval.set_counts({counts.begin(), counts.begin() + std::ptrdiff_t(n)});
        unreadable = counts[n];
        if (!with_reference) return;
        auto at = counts.begin() + std::ptrdiff_t(n + 1);
        reference_eval.set_counts({at, at + std::ptrdiff_t(n)});
        at += std::ptrdiff_t(n);
        agreement.images = at[0], agreement.same_top1 = at[1], agreement.logits = at[2];
        rows.images = at[3], rows.same_top1 = at[4], rows.logits = at[5];
        double sums[] = {agreement.sum_logit_diff, rows.sum_logit_diff};
        comm.sum(sums, 2);
        agreement.sum_logit_diff = sums[0], rows.sum_logit_diff = sums[1];
        double maxima[] = {agreement.max_logit_diff, rows.max_logit_diff};
        comm.max(maxima, 2);
        agreement.max_logit_diff = maxima[0], rows.max_logit_diff = maxima[1];
    }
};

// The networks of one run (a model, or an ensemble's members, sharing a workspace) and their
// buffers: scores a batch (all crops of each image), adds it to the tally and returns its output
// lines, in item order.
class BatchScorer {
public:
    BatchScorer(const EvalOptions& o, EvalModels& m, const InputBlocks& blocks, std::vector<size_t> block_of,
                const std::vector<std::string>& names, int per_batch, int crops, bool quiet)
        : o_(o), blocks_(blocks), names_(names), classes_(int(names.size())), crops_(crops), per_batch_(per_batch),
          k_(std::max(1, o.topk)), block_of_(std::move(block_of)) {
        for (EvalMember& member : m.members) {
            LoadedModel& model = member.model;
            check(blocks.image_floats(block_of_[nets_.size()]) == size_t(crops) * size_t(model.spec.input.size()),
                  model.path, "preprocessing", "crops of the network's input size", "another size");
            nets_.push_back(std::make_unique<InferenceNet>(model.spec, model.weights, per_batch * crops,
                                                           model.spec.classifier(), /*release_weights=*/true,
                                                           member.precision, &workspace_));
            if (member.precision != Precision::fp32)
                log_info(quiet, "alexnet-eval: " + (m.ensemble() ? model.path + ": " : "") + nets_.back()->plan());
        }
        if (m.reference)
            ref_net_ = std::make_unique<InferenceNet>(m.reference->spec, m.reference->weights, per_batch * crops,
                                                      m.first().spec.classifier(), true);
        const size_t rows = size_t(per_batch) * crops * size_t(classes_);
        logits_.resize(rows), prob_.resize(rows * nets_.size()), mean_.resize(size_t(classes_));
        if (nets_.size() > 1) member_mean_.resize(size_t(classes_));
        if (ref_net_) ref_logits_.resize(rows), ref_prob_.resize(rows), ref_mean_.resize(size_t(classes_));
    }

    std::string score(const LoaderBatch& batch, const LabelledSet& work, Tally& t) {
        forward(batch);
        std::string lines;  // JSON has no raw newline: one per line
        for (int j = 0; j < batch.count; ++j) {
            const int item = batch.items[size_t(j)], label = batch.labels[size_t(j)];
            const auto failed = std::find(batch.failed.begin(), batch.failed.end(), j);
            if (failed != batch.failed.end()) {
                const std::string& e = batch.errors[size_t(failed - batch.failed.begin())];
                const std::string prefix = work.name(item) + ": ";  // errors read "path: reason"
                lines += dump_line(skip_line(work.name(item), label, names_, "unreadable",
                                             e.rfind(prefix, 0) == 0 ? e.substr(prefix.size()) : e, o_.strict)) + "\n";
                ++t.unreadable;
                continue;
            }
            const int rank = add_image(j, label, t);
            if (o_.per_image) lines += dump_line(image_line(work.name(item), label, rank)) + "\n";
        }
        return lines;
    }

private:
    // Each member's probabilities into its part of prob_ (logits_: the last member's, the one
    // model's when it is compared with the reference).
    void forward(const LoaderBatch& batch) {
        const int rows = per_batch_ * crops_;
        for (size_t i = 0; i < nets_.size(); ++i) {
            if (batch.count > 0)
                nets_[i]->forward(batch.data.data() + blocks_.block_offset(block_of_[i], per_batch_), logits_.data());
            // what the prob layer computes
            reference::softmax_forward(member_prob(i), logits_.data(), rows, classes_);
        }
        if (ref_net_ && batch.count > 0) {
            ref_net_->forward(batch.data.data(), ref_logits_.data());
            reference::softmax_forward(ref_prob_.data(), ref_logits_.data(), rows, classes_);
        }
    }

    float* member_prob(size_t i) { return prob_.data() + i * size_t(per_batch_) * crops_ * classes_; }

    // Image j's crops averaged (then the members' averages averaged), counted; returns the true
    // class's rank in the average.
    int add_image(int j, int label, Tally& t) {
        const size_t first_row = size_t(j) * size_t(crops_);
        if (nets_.size() == 1) {
            average_rows(member_prob(0) + first_row * classes_, crops_, classes_, mean_.data());
        } else {
            std::fill(mean_.begin(), mean_.end(), 0.f);
            for (size_t i = 0; i < nets_.size(); ++i) {
                average_rows(member_prob(i) + first_row * classes_, crops_, classes_, member_mean_.data());
                t.members[i].add(member_mean_.data(), label);
                for (int c = 0; c < classes_; ++c) mean_[size_t(c)] += member_mean_[size_t(c)];
            }
            for (float& v : mean_) v /= float(nets_.size());
        }
        const int rank = t.eval.add(mean_.data(), label);
        if (!ref_net_) return rank;
        average_rows(ref_prob_.data() + first_row * classes_, crops_, classes_, ref_mean_.data());
        t.reference_eval.add(ref_mean_.data(), label);
        t.agreement.add(mean_.data(), ref_mean_.data(), classes_);
        for (size_t c = 0; c < size_t(crops_); ++c) {
            const size_t row = (first_row + c) * classes_;
            t.rows.add(logits_.data() + row, ref_logits_.data() + row, classes_);
        }
        return rank;
    }

    // "class" and "label" as in "top": the true class's index and its name.
    nlohmann::ordered_json image_line(const std::string& name, int label, int rank) const {
        nlohmann::ordered_json top = nlohmann::ordered_json::array();
        for (int c : top_classes(mean_.data(), classes_, std::min(classes_, std::max(k_, 5))))
            top.push_back({{"class", c}, {"label", names_[size_t(c)]}, {"prob", json_float(mean_[size_t(c)])}});
        nlohmann::ordered_json line{{"path", name}, {"class", label}, {"label", names_[size_t(label)]}, {"top", top},
                                    {"correct_top1", rank < 1}};
        if (k_ > 1) line["correct_top" + std::to_string(k_)] = rank < k_;
        return line;
    }

    const EvalOptions& o_;
    const InputBlocks& blocks_;
    const std::vector<std::string>& names_;
    const int classes_, crops_, per_batch_, k_;
    NetWorkspace workspace_;  // outlives the nets (declared first)
    std::vector<std::unique_ptr<InferenceNet>> nets_;
    std::vector<size_t> block_of_;  // each member's block of the batch
    std::unique_ptr<InferenceNet> ref_net_;
    std::vector<float> logits_, prob_, mean_, member_mean_, ref_logits_, ref_prob_, ref_mean_;
};

// The stderr progress line: every 200 ms on a terminal (redrawn), every 10 s otherwise.
class Progress {
public:
    Progress(bool quiet, int total, clock_type::time_point t0)
        : quiet_(quiet), tty_(isatty(2) && !quiet), total_(total), t0_(t0), last_(clock_type::now()) {}
    void add(int64_t images, int64_t top1, bool last_batch) {
        done_ += images, done_top1_ += top1;
        const auto now = clock_type::now();
        if (quiet_ || !(now - last_ > std::chrono::milliseconds(tty_ ? 200 : 10000) || (tty_ && last_batch))) return;
        last_ = now;
        const double s = std::chrono::duration<double>(now - t0_).count();
        std::cerr << (tty_ ? "\r" : "") << "alexnet-eval: " << done_ << "/" << total_ << " images, top-1 error "
                  << fixed(done_ ? 1 - double(done_top1_) / done_ : 0, 4) << ", " << fixed(done_ / std::max(s, 1e-9), 0)
                  << " images/s" << (tty_ ? "   " : "\n") << std::flush;
    }
    ~Progress() {
        if (tty_) std::cerr << '\n';
    }

private:
    const bool quiet_, tty_;
    const int total_;
    const clock_type::time_point t0_;
    clock_type::time_point last_;
    int64_t done_ = 0, done_top1_ = 0;  // every rank's
};

// Every batch through the networks. Rank r of N scores batches r, r + N, ... of the batches one
// process makes (the same batches, so the same numbers); after each round rank 0 writes every
// rank's lines in rank order, which is input order.
void score_items(const EvalOptions& o, EvalModels& m, const std::vector<std::string>& names, const LabelledSet& work,
                 Communicator& comm, bool quiet, clock_type::time_point t0, Tally& t, JsonLines& out) {
    if (work.size() == 0) return;
    const CropMode mode = parse_crop_mode(o.crop);
    const int crops = crops_per_image(mode);
    const int per_batch = std::min(work.size(), std::max(1, o.batch / crops));
    std::vector<Preprocessing> each;
    for (const EvalMember& member : m.members) each.push_back(member.model.spec.preprocessing);
    std::vector<size_t> block_of;
    const InputBlocks input = input_blocks_of(each, mode, block_of);
    Loader loader(work, input, per_batch, o.loader_threads, {per_batch * comm.size(), per_batch * comm.rank()});
    BatchScorer scorer(o, m, input, block_of, names, per_batch, crops, quiet);
    Progress progress(quiet, work.size(), t0);
    loader.start(0);
    for (int b = 0; b < loader.batches_per_epoch(); ++b) {
        const Evaluation::Counts before = t.eval.total();
        const std::string lines = scorer.score(loader.next(), work, t);
        // A first line "images top1" of this batch, for the progress line, then the lines.
        const std::string part = std::to_string(t.eval.total().images - before.images) + " " +
                                 std::to_string(t.eval.total().top1 - before.top1) + "\n" + lines;
        int64_t images = 0, top1 = 0;
        for (const std::string& p : comm.gather(part)) {
            std::istringstream in(p);
            int64_t i = 0, t1 = 0;
            in >> i >> t1;
            images += i, top1 += t1;
            std::string line;
            std::getline(in, line);  // the rest of the first line
            while (std::getline(in, line)) out.write_raw(line);
        }
        progress.add(images, top1, b + 1 == loader.batches_per_epoch());
    }
}

// top1_error, topK_error (with -k), top1_accuracy, topK_accuracy of `n`, into `line`.
void add_errors(nlohmann::ordered_json& line, const EvalOptions& o, const Evaluation::Counts& n) {
    const std::string topk = "top" + std::to_string(std::max(1, o.topk));
    const bool k = o.topk > 1;
    line["top1_error"] = ratio_or_null(n.images - n.top1, n.images);
    if (k) line[topk + "_error"] = ratio_or_null(n.images - n.topk, n.images);
    line["top1_accuracy"] = ratio_or_null(n.top1, n.images);
    if (k) line[topk + "_accuracy"] = ratio_or_null(n.topk, n.images);
}

// The summary line, without "confusion" and "per_class" (added by the caller, in this order).
nlohmann::ordered_json summary_line(const EvalOptions& o, const EvalModels& m, const Tally& t,
                                    const std::map<std::string, int>& skipped, double seconds) {
    const Evaluation::Counts& n = t.eval.total();
    nlohmann::ordered_json s{{"summary", true}, {"images", n.images}};
    add_errors(s, o, n);
    s["crop"] = o.crop;
    s["precision"] = to_string(m.members[0].precision);
    for (const EvalMember& member : m.members)
        if (member.precision != m.members[0].precision) s["precision"] = "mixed";
    int64_t skipped_total = 0;
    nlohmann::ordered_json reasons = nlohmann::ordered_json::object();
    for (const auto& [kind, count] : skipped) reasons[kind] = count, skipped_total += count;
    s["skipped"] = skipped_total;
    s["skipped_reasons"] = reasons;
    s["data"] = o.data;
    s["weights"] = m.first().path;
    if (m.ensemble()) {  // the members' paths, and each member alone
        nlohmann::ordered_json paths = nlohmann::ordered_json::array(), members = nlohmann::ordered_json::array();
        for (size_t i = 0; i < m.members.size(); ++i) {
            paths.push_back(m.members[i].model.path);
            nlohmann::ordered_json line{{"weights", m.members[i].model.path},
                                        {"precision", to_string(m.members[i].precision)}};
            add_errors(line, o, t.members[i].total());
            members.push_back(line);
        }
        s["weights"] = paths;
        s["members"] = members;
    }
    s["seconds"] = json_float(float(seconds));
    s["images_per_sec"] = json_float(float(n.images / std::max(seconds, 1e-9)));
    return s;
}

nlohmann::ordered_json per_class_lines(const EvalOptions& o, const Tally& t, const std::vector<std::string>& names) {
    nlohmann::ordered_json per_class = nlohmann::ordered_json::array();
    for (int c = 0; c < int(names.size()); ++c) {
        const Evaluation::Counts& pc = t.eval.per_class()[size_t(c)];
        nlohmann::ordered_json row{{"class", c}, {"label", names[size_t(c)]}, {"images", pc.images},
                                   {"top1_accuracy", ratio_or_null(pc.top1, pc.images)}};
        if (o.topk > 1) row["top" + std::to_string(o.topk) + "_accuracy"] = ratio_or_null(pc.topk, pc.images);
        per_class.push_back(row);
    }
    return per_class;
}

double top1_accuracy(const Evaluation::Counts& c) { return c.images ? double(c.top1) / double(c.images) : 0.0; }

// --compare-precision's line, and its sentence on stderr.
void write_comparison(const EvalOptions& o, const EvalModels& m, const Tally& t, bool quiet, JsonLines& out) {
    const Evaluation::Counts &n = t.eval.total(), &r = t.reference_eval.total();
    const Agreement &a = t.agreement, &rows = t.rows;
    out.write({{"compare_precision", true}, {"precision", to_string(m.members[0].precision)}, {"reference", "fp32"},
               {"reference_weights", o.reference_arg.empty() ? o.weights_arg : o.reference_arg},
               {"images", a.images}, {"top1_agreement", ratio_or_null(a.same_top1, a.images)},
               {"disagreements", a.images - a.same_top1},
               {"max_logit_diff", json_float(float(rows.max_logit_diff))},
               {"mean_logit_diff", json_float(float(rows.mean_logit_diff()))},
               {"top1_accuracy", ratio_or_null(n.top1, n.images)},
               {"reference_top1_accuracy", ratio_or_null(r.top1, r.images)},
               {"top1_accuracy_delta", json_float(float(top1_accuracy(n) - top1_accuracy(r)))}});
    log_info(quiet, std::string("alexnet-eval: ") + to_string(m.members[0].precision) + " vs fp32: top-1 agreement " +
                        fixed(100 * a.top1_agreement(), 2) + "% (" + std::to_string(a.images - a.same_top1) + " of " +
                        std::to_string(a.images) + " differ), max logit difference " + fixed(rows.max_logit_diff, 4) +
                        ", top-1 accuracy " + fixed(100 * top1_accuracy(n), 2) + "% vs " +
                        fixed(100 * top1_accuracy(r), 2) + "%");
}

std::string error_or_na(int64_t hits, int64_t images) { return images ? fixed(1 - double(hits) / images, 4) : "n/a"; }

}  // namespace

int evaluate(const EvalOptions& o, EvalModels& m, JsonLines& out) {
    const auto t0 = clock_type::now();
    Communicator& comm = world();
    const bool lead = comm.rank() == 0, quiet = o.quiet || !lead;
    const int classes = m.first().spec.num_classes();
    const std::vector<std::string> names = resolve_labels(o.labels_file, m.first().labels, classes);

    Screened s = screen_items(o, m.first(), names, quiet, out);
    Tally t(classes, std::max(1, o.topk), m.ensemble() ? m.members.size() : 0);
    score_items(o, m, names, s.work, comm, quiet, t0, t, out);
    t.sum_over(comm, m.reference.has_value());
    if (t.unreadable > 0) s.skipped["unreadable"] += int(t.unreadable);

    const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    nlohmann::ordered_json summary = summary_line(o, m, t, s.skipped, seconds);
    if (!o.confusion.empty()) {
        const std::string what = data_name(o.data) + (s.split_applies ? " " + o.split : "") + ", " +
                                 (o.weights_arg.empty() ? m.first().spec.arch
                                  : m.ensemble() ? "an ensemble of " + std::to_string(m.members.size())
                                                 : data_name(o.weights_arg));
        const std::string png = lead ? write_confusion(o.confusion, t.eval, names, what) : "";
        summary["confusion"] = fs::path(o.confusion).extension() == ".png"
                                   ? fs::path(o.confusion).replace_extension(".csv").string()
                                   : o.confusion;
        if (!png.empty()) summary["confusion_png"] = png;
    }
    summary["per_class"] = per_class_lines(o, t, names);
    if (m.reference) write_comparison(o, m, t, quiet, out);
    out.write(summary);

    const Evaluation::Counts& n = t.eval.total();
    const int64_t skipped = summary["skipped"].get<int64_t>();
    const std::string topk = "top" + std::to_string(o.topk);
    log_info(quiet, "alexnet-eval: " + count_of(n.images, "image") + ", top-1 error " + error_or_na(n.top1, n.images) +
                        (o.topk > 1 ? ", " + topk + " error " + error_or_na(n.topk, n.images) : "") +
                        (skipped ? ", " + std::to_string(skipped) + " skipped" : "") + " (" + fixed(seconds, 2) + " s)");
    if (m.ensemble()) {
        std::string alone;
        for (const Evaluation& member : t.members)
            alone += (alone.empty() ? "" : ", ") + error_or_na(member.total().top1, member.total().images);
        log_info(quiet, "alexnet-eval: an ensemble of " + std::to_string(m.members.size()) +
                            "; top-1 error of each member alone: " + alone);
    }
    return skipped ? 1 : 0;
}

}  // namespace alexnet
