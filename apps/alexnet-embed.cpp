// alexnet-embed: a layer's activations (fc7 by default) per image, as JSON Lines or a .npy matrix.
#include "cli/embed_options.hpp"
#include "cli/options.hpp"
#include "cli/run_model.hpp"
#include "io/json_lines.hpp"

using namespace alexnet;

int main(int argc, char** argv) {
    CLI::App app{"Extract AlexNet features: {\"path\", \"layer\", \"dim\", \"embedding\"} per image, or a .npy matrix",
                 "alexnet-embed"};
    EmbedCli o;
    add_embed_options(app, o);
    return run_tool(app, argc, argv, [&] {
        if (o.common.summary) {
            print_summary(o.common);
            return 0;
        }
        JsonLines out;
        return run_embed(o, out);
    });
}
