#include "eval/confusion.hpp"

#include <filesystem>

#include "figures/plot.hpp"
#include "io/atomic_file.hpp"
#include "io/json_lines.hpp"

namespace alexnet {

namespace fs = std::filesystem;

namespace {

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

}  // namespace

// The confusion matrix as CSV (counts; rows: labels, columns: predictions), and for up to 100
// classes a row-normalised heat map beside it (and its SVG), titled with `what` was evaluated.
// Returns the PNG's path ("" when none).
std::string write_confusion(const std::string& path, const Evaluation& e, const std::vector<std::string>& names,
                            const std::string& what) {
    const int n = e.classes();
    std::string csv = "label\\predicted";
    for (int c = 0; c < n; ++c) csv.append(",").append(csv_field(names[size_t(c)]));
    csv += "\n";
    for (int r = 0; r < n; ++r) {
        csv += csv_field(names[size_t(r)]);
        for (int c = 0; c < n; ++c) csv.append(",").append(std::to_string(e.confusion(r, c)));
        csv += "\n";
    }
    fs::path csv_path(path);
    if (csv_path.extension() == ".png") csv_path.replace_extension(".csv");
    AtomicFile file(csv_path.string());
    file.write(csv);
    file.commit();
    if (n > kHeatmapMaxClasses) return "";
    Heatmap map{"Confusion matrix: " + what,
                count_of(e.total().images, "image") + ", top-1 error " +
                    fixed(e.total().images ? 1 - double(e.total().top1) / e.total().images : 0, 4),
                n, std::vector<double>(size_t(n) * n, 0.0), names, "true class", "predicted class",
                "fraction of the true class"};
    for (int r = 0; r < n; ++r) {
        const double images = double(e.per_class()[size_t(r)].images);
        for (int c = 0; c < n && images > 0; ++c) map.values[size_t(r) * n + c] = double(e.confusion(r, c)) / images;
    }
    const std::string png = fs::path(path).replace_extension(".png").string();
    write_heatmap(png, map);
    return png;
}

}  // namespace alexnet
