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

}  // namespace alexnet
