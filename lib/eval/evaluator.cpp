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

#include "core/communicator.hpp"
#include "core/error.hpp"
#include "data/labelled_set.hpp"
#include "data/labels.hpp"
#include "data/train_loader.hpp"
#include "engine/inference_net.hpp"
#include "io/atomic_file.hpp"
#include "engine/reference.hpp"
#include "io/plot.hpp"
#include "metrics/agreement.hpp"
#include "metrics/topk.hpp"

namespace alexnet {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

// The confusion matrix as CSV (counts; rows: labels, columns: predictions), and for up to 100
// classes a row-normalised heat map beside it (and its SVG), titled with `what` was evaluated.
// Returns the PNG's path ("" when none).
std::string write_confusion(const std::string& path, const Evaluation& e, const std::vector<std::string>& names,
                            const std::string& what) {
    const int n = e.classes();
    std::string csv = "label\\predicted";
    for (int c = 0; c < n; ++c) csv.append(",").append(csv_field(names[size_t(c)]));
    csv += "\n";
    for (int r = 0; r < n; ++r) {
        csv += csv_field(names[size_t(r)]);
        for (int c = 0; c < n; ++c) csv.append(",").append(std::to_string(e.confusion(r, c)));
        csv += "\n";
    }
    fs::path csv_path(path);
    if (csv_path.extension() == ".png") csv_path.replace_extension(".csv");
    AtomicFile file(csv_path.string());
    file.write(csv);
    file.commit();
    if (n > kHeatmapMaxClasses) return "";
    Heatmap map{"Confusion matrix: " + what,
                count_of(e.total().images, "image") + ", top-1 error " +
                    fixed(e.total().images ? 1 - double(e.total().top1) / e.total().images : 0, 4),
                n, std::vector<double>(size_t(n) * n, 0.0), names, "true class", "predicted class",
                "fraction of the true class"};
    for (int r = 0; r < n; ++r) {
        const double images = double(e.per_class()[size_t(r)].images);
        for (int c = 0; c < n && images > 0; ++c) map.values[size_t(r) * n + c] = double(e.confusion(r, c)) / images;
    }
    const std::string png = fs::path(path).replace_extension(".png").string();
    write_heatmap(png, map);
    return png;
}

// hits / images, or null without images ("error" is (images - hits) / images: 0.0687, not 1 - 0.9313).
nlohmann::ordered_json ratio_or_null(int64_t hits, int64_t images) {
    return images ? nlohmann::ordered_json(double(hits) / double(images)) : nlohmann::ordered_json();
}

}  // namespace

int evaluate(const EvalOptions& o, JsonLines& out) {
    const auto t0 = clock_type::now();
    if (o.common.inputs.size() != 1)
        throw UsageError("give one data set (a path-label list, an image folder, an IDX file or folder, or CIFAR-10 "
                         "binaries); found " + std::to_string(o.common.inputs.size()) + " inputs");
    // Under mpirun every rank reads the same set and scores its share; rank 0 writes.
    Communicator& comm = world();
    const bool lead = comm.rank() == 0, quiet = o.common.quiet || !lead;
    set_num_threads(threads_per_process(o.common.threads));
    LoadedModel model = load_tool_model(o.common);
    const bool quantized = model.weights.metadata.count(kQuantizationKey) != 0;
    const Precision precision = resolve_precision(o.common, model);
    // --compare-precision: the same images through the fp32 model as well.
    std::optional<LoadedModel> reference_model;
    if (o.compare_precision) {
        if (o.reference.empty() && quantized)
            throw UsageError("--compare-precision: " + o.common.weights +
                             " is an int8 model, which holds no fp32 weights: give --reference FLOAT_MODEL");
        CommonOptions ref = o.common;
        if (!o.reference.empty()) ref.weights = o.reference;
        reference_model = load_tool_model(ref);
        check(!reference_model->weights.metadata.count(kQuantizationKey), ref.weights, "--reference",
              "a float model", "a quantized model");
        check(reference_model->spec.num_classes() == model.spec.num_classes(), ref.weights, "--reference",
              std::to_string(model.spec.num_classes()) + " classes", std::to_string(reference_model->spec.num_classes()));
    }
    const int classes = model.spec.num_classes();
    const std::vector<std::string> names = resolve_labels(o.labels_file, model.labels, classes);
    const std::string& source = o.common.inputs[0];
    LabelledSet set = sample_items(open_labelled_set(source, o.split == "train" ? Split::train : Split::test, o.root),
                                   o.limit, kSampleSeed);
    // --split names a part of a folder holding IDX files or CIFAR-10 batches (in memory), never an image folder.
    const bool split_applies = set.in_memory() && fs::is_directory(source);
    // Folders (and CIFAR-10's names) map to the model's classes by name, never by sorted position.
    if (!o.labels_file.empty() || !model.labels.empty())
        map_classes_by_name(set, names, o.labels_file.empty() ? "the model's labels (" + model.path + ")" : o.labels_file);
    const int total = set.size();
    for (const std::string& note : set.notes) log_info(quiet, "alexnet-eval: " + note);

    // Items the model cannot be scored on are known before any computation (by every rank alike).
    std::map<std::string, int> skipped;
    // `why`: the message after the item's path ("no such file", "label: expected ..., found ...").
    auto skip_line = [&](const std::string& name, int label, const std::string& kind, const std::string& why) {
        if (o.strict) throw Error(name, why + " (--strict)");
        nlohmann::ordered_json line{{"path", name}, {"class", label}};
        if (label >= 0 && label < int(names.size())) line["label"] = names[size_t(label)];
        line["skipped"] = kind, line["error"] = why;
        return line;
    };
    auto skip = [&](const std::string& name, int label, const std::string& kind, const std::string& why) {
        out.write(skip_line(name, label, kind, why));
        ++skipped[kind];
    };
    std::vector<int> keep;
    keep.reserve(size_t(total));
    std::vector<bool> missing(size_t(total), false);
    for (int i : missing_items(set)) missing[size_t(i)] = true;
    for (int i = 0; i < total; ++i) {
        const int label = set.labels[size_t(i)];
        if (label < 0 || label >= classes)
            skip(set.name(i), label, "label_out_of_range",
                 "label: expected 0.." + std::to_string(classes - 1) + " (the model has " + std::to_string(classes) +
                     " classes), found " + std::to_string(label));
        else if (missing[size_t(i)])
            skip(set.name(i), label, "missing", "no such file");
        else
            keep.push_back(i);
    }
    const LabelledSet work = int(keep.size()) == set.size() ? std::move(set) : subset(set, keep);
    auto name_of = [&](int item) { return work.name(item); };

    const CropMode mode = parse_crop_mode(o.common.crop);
    const int crops = crops_per_image(mode);
    const int k = std::max(1, o.topk);
    const std::string topk_key = "top" + std::to_string(k);
    Evaluation eval(classes, k), reference_eval(classes, k);
    Agreement agreement, rows;  // per image (top-1 of what is scored), per network row (logits)
    const bool tty = isatty(2) && !quiet;
    int64_t unreadable = 0;
    if (work.size() > 0) {
        // Rank r of N scores batches r, r + N, ... of the batches one process makes (the same
        // batches, so the same numbers); after each round rank 0 writes every rank's lines in rank
        // order, which is input order.
        const int per_batch = std::min(work.size(), std::max(1, o.common.batch / crops));
        Loader loader(work, model.spec.preprocessing, Augmentation{}, per_batch, false, 0, o.common.loader_threads, mode,
                      {per_batch * comm.size(), per_batch * comm.rank()});
        // Logits, then softmax here (what the network's prob layer computes), so both can be compared.
        const std::string& logits_layer = model.spec.classifier();
        InferenceNet net(model.spec, model.weights, per_batch * crops, logits_layer, /*release_weights=*/true, precision);
        if (precision != Precision::fp32) log_info(quiet, "alexnet-eval: " + net.plan());
        std::unique_ptr<InferenceNet> ref_net;
        if (reference_model)
            ref_net = std::make_unique<InferenceNet>(reference_model->spec, reference_model->weights, per_batch * crops,
                                                     logits_layer, true);
        const size_t rows_per_batch = size_t(net.batch());
        std::vector<float> logits(rows_per_batch * classes), prob(logits.size()), mean(static_cast<size_t>(classes));
        std::vector<float> ref_logits(ref_net ? logits.size() : 0), ref_prob(ref_logits.size()), ref_mean(mean.size());
        const int shown = std::min(classes, std::max(k, 5));
        auto t_report = clock_type::now();
        int64_t done = 0, done_top1 = 0;  // every rank's, for rank 0's progress line
        loader.start(0);
        for (int b = 0; b < loader.batches_per_epoch(); ++b) {
            const LoaderBatch& batch = loader.next();
            if (batch.count > 0) net.forward(batch.data.data(), logits.data());
            reference::softmax_forward(prob.data(), logits.data(), int(rows_per_batch), classes);
            const Evaluation::Counts before = eval.total();
            std::string lines;  // this batch's output lines, in item order (JSON has no raw newline)
            if (ref_net && batch.count > 0) {
                ref_net->forward(batch.data.data(), ref_logits.data());
                reference::softmax_forward(ref_prob.data(), ref_logits.data(), int(rows_per_batch), classes);
            }
            for (int j = 0; j < batch.count; ++j) {
                const int item = batch.items[size_t(j)], label = batch.labels[size_t(j)];
                const auto failed = std::find(batch.failed.begin(), batch.failed.end(), j);
                if (failed != batch.failed.end()) {
                    const std::string& e = batch.errors[size_t(failed - batch.failed.begin())];
                    const std::string prefix = name_of(item) + ": ";  // errors read "path: reason"
                    lines += dump_line(skip_line(name_of(item), label, "unreadable",
                                                 e.rfind(prefix, 0) == 0 ? e.substr(prefix.size()) : e)) + "\n";
                    ++unreadable;
                    continue;
                }
                average_rows(prob.data() + size_t(j) * crops * classes, crops, classes, mean.data());
                const int rank = eval.add(mean.data(), label);
                if (ref_net) {
                    average_rows(ref_prob.data() + size_t(j) * crops * classes, crops, classes, ref_mean.data());
                    reference_eval.add(ref_mean.data(), label);
                    agreement.add(mean.data(), ref_mean.data(), classes);
                    for (int c = 0; c < crops; ++c) {
                        const size_t row = (size_t(j) * crops + size_t(c)) * classes;
                        rows.add(logits.data() + row, ref_logits.data() + row, classes);
                    }
                }
                if (!o.per_image) continue;
                nlohmann::ordered_json top = nlohmann::ordered_json::array();
                for (int c : top_classes(mean.data(), classes, shown))
                    top.push_back({{"class", c}, {"label", names[size_t(c)]}, {"prob", json_float(mean[size_t(c)])}});
                // "class" and "label" as in "top": the true class's index and its name
                nlohmann::ordered_json line{{"path", name_of(item)}, {"class", label}, {"label", names[size_t(label)]}, {"top", top},
                                            {"correct_top1", rank < 1}};
                if (k > 1) line["correct_" + topk_key] = rank < k;
                lines += dump_line(line) + "\n";
            }
            // A first line "images top1" of this batch, for the progress line, then the lines.
            const std::string part = std::to_string(eval.total().images - before.images) + " " +
                                     std::to_string(eval.total().top1 - before.top1) + "\n" + lines;
            for (const std::string& p : comm.gather(part)) {
                std::istringstream in(p);
                int64_t images = 0, top1 = 0;
                in >> images >> top1;
                done += images, done_top1 += top1;
                std::string line;
                std::getline(in, line);  // the rest of the first line
                while (std::getline(in, line)) out.write_raw(line);
            }
            const auto now = clock_type::now();
            if (!quiet && (now - t_report > std::chrono::milliseconds(tty ? 200 : 10000) ||
                           (tty && b + 1 == loader.batches_per_epoch()))) {
                t_report = now;
                const double s = std::chrono::duration<double>(now - t0).count();
                std::cerr << (tty ? "\r" : "") << "alexnet-eval: " << done << "/" << work.size()
                          << " images, top-1 error " << fixed(done ? 1 - double(done_top1) / done : 0, 4) << ", "
                          << fixed(done / std::max(s, 1e-9), 0) << " images/s" << (tty ? "   " : "\n") << std::flush;
            }
        }
        if (tty) std::cerr << '\n';
    }
    // The ranks' counts summed (one process: its own).
    std::vector<int64_t> counts = eval.counts();
    counts.push_back(unreadable);
    if (reference_model) {
        const std::vector<int64_t> r = reference_eval.counts();
        counts.insert(counts.end(), r.begin(), r.end());
        counts.insert(counts.end(), {agreement.images, agreement.same_top1, agreement.logits, rows.images,
                                     rows.same_top1, rows.logits});
    }
    comm.sum(counts.data(), int64_t(counts.size()));
    const size_t eval_counts = eval.counts().size();
    eval.set_counts({counts.begin(), counts.begin() + std::ptrdiff_t(eval_counts)});
    unreadable = counts[eval_counts];
    if (unreadable > 0) skipped["unreadable"] += int(unreadable);
    if (reference_model) {
        auto at = counts.begin() + std::ptrdiff_t(eval_counts + 1);
        reference_eval.set_counts({at, at + std::ptrdiff_t(eval_counts)});
        at += std::ptrdiff_t(eval_counts);
        agreement.images = at[0], agreement.same_top1 = at[1], agreement.logits = at[2];
        rows.images = at[3], rows.same_top1 = at[4], rows.logits = at[5];
        // Sums in rank order; with several processes the mean may differ from one process's in the last digits.
        double sums[] = {agreement.sum_logit_diff, rows.sum_logit_diff};
        comm.sum(sums, 2);
        agreement.sum_logit_diff = sums[0], rows.sum_logit_diff = sums[1];
        double maxima[] = {agreement.max_logit_diff, rows.max_logit_diff};
        comm.max(maxima, 2);
        agreement.max_logit_diff = maxima[0], rows.max_logit_diff = maxima[1];
    }

    const Evaluation::Counts& n = eval.total();
    const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    nlohmann::ordered_json summary{{"summary", true}, {"images", n.images}};
    summary["top1_error"] = ratio_or_null(n.images - n.top1, n.images);
    if (k > 1) summary[topk_key + "_error"] = ratio_or_null(n.images - n.topk, n.images);
    summary["top1_accuracy"] = ratio_or_null(n.top1, n.images);
    if (k > 1) summary[topk_key + "_accuracy"] = ratio_or_null(n.topk, n.images);
    summary["crop"] = o.common.crop;
    summary["precision"] = to_string(precision);
    int64_t skipped_total = 0;
    nlohmann::ordered_json reasons = nlohmann::ordered_json::object();
    for (const auto& [kind, count] : skipped) reasons[kind] = count, skipped_total += count;
    summary["skipped"] = skipped_total;
    summary["skipped_reasons"] = reasons;
    summary["data"] = source;
    summary["weights"] = model.path;
    summary["seconds"] = json_float(float(seconds));
    summary["images_per_sec"] = json_float(float(n.images / std::max(seconds, 1e-9)));
    nlohmann::ordered_json per_class = nlohmann::ordered_json::array();
    for (int c = 0; c < classes; ++c) {
        const Evaluation::Counts& pc = eval.per_class()[size_t(c)];
        nlohmann::ordered_json row{{"class", c}, {"label", names[size_t(c)]}, {"images", pc.images},
                                   {"top1_accuracy", ratio_or_null(pc.top1, pc.images)}};
        if (k > 1) row[topk_key + "_accuracy"] = ratio_or_null(pc.topk, pc.images);
        per_class.push_back(row);
    }
    if (!o.confusion.empty()) {
        const std::string png =
            lead ? write_confusion(o.confusion, eval, names,
                                   data_name(source) + (split_applies ? " " + o.split : "") +
                                       ", " + (o.common.weights.empty() ? model.spec.arch : data_name(o.common.weights)))
                 : "";
        summary["confusion"] = fs::path(o.confusion).extension() == ".png"
                                   ? fs::path(o.confusion).replace_extension(".csv").string()
                                   : o.confusion;
        if (!png.empty()) summary["confusion_png"] = png;
    }
    summary["per_class"] = per_class;
    if (reference_model) {
        const Evaluation::Counts& r = reference_eval.total();
        const auto accuracy = [](const Evaluation::Counts& c) { return c.images ? double(c.top1) / double(c.images) : 0.0; };
        out.write({{"compare_precision", true}, {"precision", to_string(precision)}, {"reference", "fp32"},
                   {"reference_weights", o.reference.empty() ? o.common.weights : o.reference},
                   {"images", agreement.images}, {"top1_agreement", ratio_or_null(agreement.same_top1, agreement.images)},
                   {"disagreements", agreement.images - agreement.same_top1},
                   {"max_logit_diff", json_float(float(rows.max_logit_diff))},
                   {"mean_logit_diff", json_float(float(rows.mean_logit_diff()))},
                   {"top1_accuracy", ratio_or_null(n.top1, n.images)},
                   {"reference_top1_accuracy", ratio_or_null(r.top1, r.images)},
                   {"top1_accuracy_delta", json_float(float(accuracy(n) - accuracy(r)))}});
        log_info(quiet, std::string("alexnet-eval: ") + to_string(precision) + " vs fp32: top-1 agreement " +
                                     fixed(100 * agreement.top1_agreement(), 2) + "% (" +
                                     std::to_string(agreement.images - agreement.same_top1) + " of " +
                                     std::to_string(agreement.images) + " differ), max logit difference " +
                                     fixed(rows.max_logit_diff, 4) + ", top-1 accuracy " + fixed(100 * accuracy(n), 2) +
                                     "% vs " + fixed(100 * accuracy(r), 2) + "%");
    }
    out.write(summary);
    log_info(quiet, "alexnet-eval: " + count_of(n.images, "image") + ", top-1 error " +
                                 (n.images ? fixed(1 - double(n.top1) / n.images, 4) : "n/a") +
                                 (k > 1 ? ", " + topk_key + " error " + (n.images ? fixed(1 - double(n.topk) / n.images, 4) : "n/a") : "") +
                                 (skipped_total ? ", " + std::to_string(skipped_total) + " skipped" : "") + " (" +
                                 fixed(seconds, 2) + " s)");
    return skipped_total ? 1 : 0;
}

}  // namespace alexnet
