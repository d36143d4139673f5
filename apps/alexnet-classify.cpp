// alexnet-classify: top-k labels for images, one JSON line per image in input order.
#include "cli/classify_options.hpp"
#include "cli/options.hpp"
#include "cli/run_model.hpp"
#include "io/json_lines.hpp"

using namespace alexnet;

int main(int argc, char** argv) {
    CLI::App app{"Classify images with AlexNet: prints {\"path\", \"top\": [{\"class\", \"label\", \"prob\"}]} per image",
                 "alexnet-classify"};
    ClassifyCli o;
    add_classify_options(app, o);
    return run_tool(app, argc, argv, [&] {
        if (o.common.summary) {
            print_summary(o.common, /*ensemble=*/true);
            return 0;
        }
        JsonLines out;
        return run_classify(o, out);
    });
}
