// alexnet-eval: top-1 / top-k error of a model on a labelled data set, the way the paper (Table 2)
// and Caffe count it; per-image lines on request, a summary line last.
#include "cli/options.hpp"
#include "io/json_lines.hpp"
#include "cli/run_model.hpp"
#include "eval/evaluator.hpp"

using namespace alexnet;

int main(int argc, char** argv) {
    CLI::App app{"Evaluate AlexNet on a labelled data set: top-1/top-5 error, per class, confusion matrix",
                 "alexnet-eval"};
    EvalOptions o;
    add_common_options(app, o.common);
    app.get_option("inputs")->description(
        "The data set: a path-label list (val.txt), an image folder (root/<class>/...), an IDX file or folder, "
        "CIFAR-10 binaries");
    app.add_option("--root", o.root, "Folder that a list's relative paths start from (default: the list's folder)");
    app.add_option("--split", o.split, "Which part of an IDX or CIFAR-10 folder")
        ->check(one_of({"test", "train"}))->capture_default_str();
    app.add_option("--limit", o.limit, "Evaluate N items drawn across the whole set: each class in proportion to its share, by a fixed "
                                   "seed (the same items every run)")->check(positive_number);
    auto* top5 = app.add_flag_callback("--top5", [&] { o.topk = 5; }, "Report top-5 besides top-1 (-k 5)");
    app.add_option("-k,--top,--topk", o.topk, "Report top-K besides top-1")->check(in_range(1, 1000000))->excludes(top5);
    app.add_flag("--per-image", o.per_image, "A line per image: {path, label, top, correct_top1, correct_topK}");
    app.add_option("--confusion", o.confusion, "Write the confusion matrix as CSV (and beside it a heat map, .png and .svg, for up to 100 classes)");
    app.add_flag("--strict", o.strict, "Stop at the first missing file, unreadable image or out-of-range label");
    app.add_option("--labels", o.labels_file, "Class names, one per line (default: the weights' own)");
    app.add_flag("--compare-precision", o.compare_precision,
                 "Also run the fp32 model: a line with top-1 agreement, logit differences and both accuracies");
    app.add_option("--reference", o.reference, "The fp32 model for --compare-precision (default: --weights; "
                                               "required for an int8 model)");

    return run_tool(app, argc, argv, [&] {
        if (o.common.summary) {
            print_summary(o.common);
            return 0;
        }
        JsonLines out;
        return evaluate(o, out);
    });
}
