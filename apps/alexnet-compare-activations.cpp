// alexnet-compare-activations: the paper's Figure 1 ("ReLU trains six times faster than tanh") on
// the user's data, and the book's Figure 2-3 curves. JSON Lines on stdout, the summary last.
#include "cli/options.hpp"
#include "cli/study_options.hpp"
#include "io/json_lines.hpp"

using namespace alexnet;

int main(int argc, char** argv) {
    CLI::App app{"Time ReLU, tanh, sigmoid (and others) to a training-error target with identical starts",
                 "alexnet-compare-activations"};
    ExperimentOptions o;
    add_study_options(app, o);
    return run_tool(app, argc, argv, [&] {
        JsonLines out;
        return run_activation_experiment(o, out);
    });
}
