// alexnet-eval: top-1 / top-k error of a model on a labelled data set, the way the paper (Table 2)
// and Caffe count it; per-image lines on request, a summary line last.
#include "cli/eval_options.hpp"
#include "cli/options.hpp"
#include "cli/run_model.hpp"
#include "io/json_lines.hpp"

using namespace alexnet;

int main(int argc, char** argv) {
    CLI::App app{"Evaluate AlexNet on a labelled data set: top-1/top-5 error, per class, confusion matrix",
                 "alexnet-eval"};
    EvalCli o;
    add_eval_options(app, o);
    return run_tool(app, argc, argv, [&] {
        if (o.common.summary) {
            print_summary(o.common, /*ensemble=*/true);
            return 0;
        }
        JsonLines out;
        return run_eval(o, out);
    });
}
