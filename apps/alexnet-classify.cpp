// alexnet-classify: top-k labels for images, one JSON line per image in input order.
#include <algorithm>
#include <numeric>

#include "cli/options.hpp"
#include "io/json_lines.hpp"
#include "cli/run_model.hpp"
#include "data/labels.hpp"

using namespace alexnet;

int main(int argc, char** argv) {
    CLI::App app{"Classify images with AlexNet: prints {\"path\", \"top\": [{\"class\", \"label\", \"prob\"}]} per image",
                 "alexnet-classify"};
    CommonOptions o;
    int top = 5;
    std::string labels_file;
    add_common_options(app, o);
    auto* top_k = app.add_option("-k,--top", top, "How many classes to print per image")
                      ->check(in_range(1, 1000000))->capture_default_str();
    app.add_flag_callback("--top5", [&] { top = 5; }, "The five most likely classes (-k 5)")->excludes(top_k);
    app.add_option("--labels", labels_file, "Class names, one per line (default: the weights' own, else ImageNet's)");

    return run_tool(app, argc, argv, [&] {
        if (o.summary) {
            print_summary(o);
            return 0;
        }
        JsonLines out;
        LoadedModel model = load_tool_model(o);
        require_inputs(o);
        const int classes = model.spec.num_classes();
        const std::vector<std::string> labels = resolve_labels(labels_file, model.labels, classes);
        const int k = std::min(top, classes);
        std::vector<int> order(classes);
        const int failed = run_images(o, model, "prob", [&](const std::string& path, const std::string& error,
                                                            const float* prob, int) {
            if (!error.empty()) {
                out.write({{"path", path}, {"error", error}});
                return;
            }
            std::iota(order.begin(), order.end(), 0);
            std::partial_sort(order.begin(), order.begin() + k, order.end(),
                              [&](int a, int b) { return prob[a] > prob[b] || (prob[a] == prob[b] && a < b); });
            nlohmann::ordered_json tops = nlohmann::ordered_json::array();
            for (int i = 0; i < k; ++i)
                tops.push_back({{"class", order[i]}, {"label", labels[order[i]]}, {"prob", json_float(prob[order[i]])}});
            out.write({{"path", path}, {"top", tops}});
        });
        return failed ? 1 : 0;
    });
}
