#include "cli/eval_options.hpp"

#include "cli/options.hpp"
#include "core/error.hpp"
#include "engine/inference_net.hpp"
#include "parallel/communicator.hpp"

namespace alexnet {

void add_eval_options(CLI::App& app, EvalCli& o) {
    add_common_options(app, o.common);
    app.get_option("inputs")->description(
        "The data set: a path-label list (val.txt), an image folder (root/<class>/...), an IDX file or folder, "
        "CIFAR-10 binaries");
    EvalOptions& e = o.eval;
    app.add_option("--root", e.root, "Folder that a list's relative paths start from (default: the list's folder)");
    app.add_option("--split", e.split, "Which part of an IDX or CIFAR-10 folder")
        ->check(one_of({"test", "train"}))->capture_default_str();
    app.add_option("--limit", e.limit, "Evaluate N items drawn across the whole set: each class in proportion to its share, by a fixed "
                                   "seed (the same items every run)")->check(positive_number);
    auto* top5 = app.add_flag_callback("--top5", [&e] { e.topk = 5; }, "Report top-5 besides top-1 (-k 5)");
    app.add_option("-k,--top,--topk", e.topk, "Report top-K besides top-1")->check(in_range(1, 1000000))->excludes(top5);
    app.add_flag("--per-image", e.per_image, "A line per image: {path, label, top, correct_top1, correct_topK}");
    app.add_option("--confusion", e.confusion, "Write the confusion matrix as CSV (and beside it a heat map, .png and .svg, for up to 100 classes)");
    app.add_flag("--strict", e.strict, "Stop at the first missing file, unreadable image or out-of-range label");
    app.add_option("--labels", e.labels_file, "Class names, one per line (default: the weights' own)");
    app.add_flag("--compare-precision", o.compare_precision,
                 "Also run the fp32 model: a line with top-1 agreement, logit differences and both accuracies");
    app.add_option("--reference", o.reference, "The fp32 model for --compare-precision (default: --weights; "
                                               "required for an int8 model)");
}

namespace {

// --compare-precision's fp32 model: --reference, else --weights itself (which must then be float).
LoadedModel load_reference(const EvalCli& o, const LoadedModel& model) {
    if (o.reference.empty() && model.weights.metadata.count(kQuantizationKey))
        throw UsageError("--compare-precision: " + o.common.weights +
                         " is an int8 model, which holds no fp32 weights: give --reference FLOAT_MODEL");
    CommonOptions ref = o.common;
    if (!o.reference.empty()) ref.weights = o.reference, ref.members = {o.reference};
    LoadedModel r = load_tool_model(ref);
    check(!r.weights.metadata.count(kQuantizationKey), ref.weights, "--reference", "a float model", "a quantized model");
    check(r.spec.num_classes() == model.spec.num_classes(), ref.weights, "--reference",
          std::to_string(model.spec.num_classes()) + " classes", std::to_string(r.spec.num_classes()));
    return r;
}

}  // namespace

int run_eval(const EvalCli& o, JsonLines& out) {
    if (o.common.inputs.size() != 1)
        throw UsageError("give one data set (a path-label list, an image folder, an IDX file or folder, or CIFAR-10 "
                         "binaries); found " + std::to_string(o.common.inputs.size()) + " inputs");
    set_num_threads(threads_per_process(o.common.threads));
    EvalModels m;
    for (LoadedModel& model : load_tool_models(o.common)) {
        const Precision precision = resolve_precision(o.common, model);
        m.members.push_back({std::move(model), precision});
    }
    if (o.compare_precision && m.ensemble())
        throw UsageError("--compare-precision compares one model with its fp32 self; give one --weights");
    if (o.compare_precision) m.reference = load_reference(o, m.first());
    EvalOptions e = o.eval;
    e.data = o.common.inputs[0], e.weights_arg = o.common.weights, e.reference_arg = o.reference;
    e.batch = o.common.batch, e.loader_threads = o.common.loader_threads, e.crop = o.common.crop;
    e.quiet = o.common.quiet || !lead_process();
    return evaluate(e, m, out);
}

}  // namespace alexnet
