// alexnet-search: nearest neighbours by a layer's vectors (fc7 by default), the paper's Figure 4:
// index images, data sets or alexnet-embed output; query it; find near-duplicates. On FAISS.
#include "cli/options.hpp"
#include "cli/search_options.hpp"
#include "io/json_lines.hpp"

using namespace alexnet;

int main(int argc, char** argv) {
    CLI::App app{"Nearest neighbours by AlexNet features (FAISS): index, query, duplicates", "alexnet-search"};
    SearchCli o;
    add_search_options(app, o);
    return run_tool(app, argc, argv, [&] {
        JsonLines out;
        return run_search(app, o, out);
    });
}
