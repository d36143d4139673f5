// alexnet-train: trains an AlexNet-family network with the paper's recipe; JSON Lines progress on
// stdout, model.safetensors (best validation), last.safetensors (checkpoint) and curves.png/.svg.
#include "cli/options.hpp"
#include "io/json_lines.hpp"
#include "cli/train_options.hpp"
#include "core/error.hpp"

using namespace alexnet;

int main(int argc, char** argv) {
    CLI::App app{"Train AlexNet on the CPU (SGD, momentum, weight decay, dropout, augmentation)", "alexnet-train"};
    TrainOptions o;
    o.out.clear();
    add_train_options(app, o);
    return run_tool(app, argc, argv, [&] {
        if (o.data.empty() && o.resume.empty()) throw UsageError("--data is required (or --resume CHECKPOINT)");
        JsonLines out;
        return train(o, out);
    });
}
