// alexnet-quantize: a float model to int8 (post-training quantization) with scales calibrated on
// images; JSON lines: one per calibration method tried, then a summary.
#include "cli/options.hpp"
#include "cli/quantize_options.hpp"
#include "io/json_lines.hpp"

using namespace alexnet;

int main(int argc, char** argv) {
    CLI::App app{"Quantize an AlexNet model to int8: s8 weights per output channel, activation scales calibrated on images",
                 "alexnet-quantize"};
    QuantizeCli o;
    add_quantize_options(app, o);
    return run_tool(app, argc, argv, [&] {
        JsonLines out;
        return run_quantize(o, out);
    });
}
