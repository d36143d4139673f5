#include "cli/classify_options.hpp"

#include <algorithm>
#include <numeric>

#include "cli/options.hpp"
#include "cli/run_model.hpp"
#include "data/labels.hpp"

namespace alexnet {

void add_classify_options(CLI::App& app, ClassifyCli& o) {
    add_common_options(app, o.common);
    auto* top_k = app.add_option("-k,--top", o.top, "How many classes to print per image")
                      ->check(in_range(1, 1000000))->capture_default_str();
    app.add_flag_callback("--top5", [&o] { o.top = 5; }, "The five most likely classes (-k 5)")->excludes(top_k);
    app.add_option("--labels", o.labels_file, "Class names, one per line (default: the weights' own, else ImageNet's)");
}

int run_classify(const ClassifyCli& o, JsonLines& out) {
    std::vector<LoadedModel> models = load_tool_models(o.common);
    require_inputs(o.common);
    const int classes = models[0].spec.num_classes();
    const std::vector<std::string> labels = resolve_labels(o.labels_file, models[0].labels, classes);
    const int k = std::min(o.top, classes);
    std::vector<int> order(static_cast<size_t>(classes));
    const int failed = run_images(o.common, models, "prob", [&](const std::string& path, const std::string& error,
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
            tops.push_back({{"class", order[size_t(i)]}, {"label", labels[size_t(order[size_t(i)])]},
                            {"prob", json_float(prob[order[size_t(i)]])}});
        out.write({{"path", path}, {"top", tops}});
    });
    return failed ? 1 : 0;
}

}  // namespace alexnet
