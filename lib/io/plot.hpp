#pragma once
// Line plots as PNG (training curves, the activation experiment's figures), drawn with OpenCV:
// panels side by side, each with axes, ticks, grid, title and a legend. Written atomically.
#include <string>
#include <utility>
#include <vector>

namespace alexnet {

struct Series {
    explicit Series(std::string n = {}, bool d = false) : name(std::move(n)), dashed(d) {}
    std::string name;
    bool dashed = false;
    std::vector<double> x, y;
};

struct Panel {
    std::string title, x_label, y_label;
    std::vector<Series> series;
};

void write_plot_png(const std::string& path, const std::vector<Panel>& panels);

// An n x n matrix of values in [0, 1] (row-major) as a heat map with a colour bar; rows and
// columns named by `names` (every one up to 30, else every few).
void write_heatmap_png(const std::string& path, const std::string& title, const std::vector<double>& values, int n,
                       const std::vector<std::string>& names, const std::string& row_label,
                       const std::string& column_label);

}  // namespace alexnet
