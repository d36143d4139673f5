#pragma once
// Figures for reports, drawn with cairo: every figure is written as a PNG (kPngScale pixels per
// point) and, beside it, an SVG of the same name, each atomically.
//
// Line figures: panels side by side, one shared legend below them (never over the data). Series
// are styled by name, the same name the same style in every panel: an Okabe-Ito colour, a dash
// pattern and a marker each, earlier series drawn wider and underneath so that coinciding lines
// stay visible. Reference lines (a target) are thin, grey and named in the legend. Axis ticks
// follow the 1-2-5 rule and cover all the data.
//
// Heat maps: an n x n matrix of fractions (a confusion matrix) in viridis with a colour bar.
#include <string>
#include <utility>
#include <vector>

namespace alexnet {

struct Series {
    explicit Series(std::string n = {}, bool t = false) : name(std::move(n)), thin(t) {}
    std::string name;          // its legend entry and style
    std::vector<double> x, y;  // a non-finite y leaves a gap
    bool thin = false;         // one of several runs under a thick series of the same name: no markers
};

// A horizontal line across the panel at `y`, e.g. a target error.
struct Reference {
    std::string name;
    double y = 0;
};

struct Panel {
    Panel() = default;
    Panel(std::string t, std::string xl, std::string yl, bool integer = false)
        : title(std::move(t)), x_label(std::move(xl)), y_label(std::move(yl)), integer_x(integer) {}
    std::string title, x_label, y_label;
    std::vector<Series> series;
    std::vector<Reference> references;
    bool integer_x = false;  // x counts something (epochs): whole-number ticks over 2 or more
};

struct Figure {
    std::string title;     // what was run: data set, model (wrapped to the figure's width)
    std::string subtitle;  // its settings: batch, rates, ... (optional, smaller)
    std::vector<Panel> panels;
};

void write_figure(const std::string& png_path, const Figure& figure);

// A confusion matrix's rows: values[r * n + c] in [0, 1]; n up to kHeatmapMaxClasses.
constexpr int kHeatmapMaxClasses = 100;
struct Heatmap {
    std::string title, subtitle;
    int n = 0;
    std::vector<double> values;
    std::vector<std::string> names;  // of rows and columns (index numbers when missing)
    std::string row_label, column_label, value_label;
};

void write_heatmap(const std::string& png_path, const Heatmap& map);

// ---- the pieces, exposed for the tests ----

// An axis from lo to hi with ticks at every multiple of `step` in between; lo and hi are ticks.
struct Axis {
    double lo = 0, hi = 1, step = 1;
    int decimals = 0;  // of every tick label, so an axis reads 0.0, 0.5, 1.0 rather than 0, 0.5, 1
    std::vector<double> ticks;
    std::string label(double tick) const;
};

// The smallest step of 1, 2 or 5 x 10^k whose ticks cover [lo, hi] with at most `max_ticks`
// ticks; when `integer` and the range spans 2 or more, k >= 0 (whole numbers). An empty range is
// widened (by one on each side on an integer axis).
Axis nice_axis(double lo, double hi, int max_ticks, bool integer = false);

struct Rect {
    double x = 0, y = 0, w = 0, h = 0;
    bool contains(double px, double py) const { return px >= x && px <= x + w && py >= y && py <= y + h; }
    bool intersects(const Rect& o) const { return x < o.x + o.w && o.x < x + w && y < o.y + o.h && o.y < y + h; }
};

struct PanelLayout {
    Rect plot;  // the frame; the data sit inside it, a little inset
    Axis x, y;
    double to_x(double v) const;
    double to_y(double v) const;
};

// Where everything goes, in points (y down).
struct FigureLayout {
    double width = 0, height = 0;
    std::vector<std::string> title_lines, subtitle_lines;
    std::vector<PanelLayout> panels;
    std::vector<std::string> legend_names;  // series names in order of first appearance, then references
    size_t legend_series = 0;               // how many of them are series
    std::vector<Rect> legend_entries;       // one box per name, all below the panels
};

FigureLayout layout_figure(const Figure& figure);

// A number as short as it reads exactly (0.001, 0.03, 128), for titles.
std::string short_number(double v);

// The last part of a data path (/usr/share/datasets/fashion-mnist/ -> fashion-mnist), or the last
// two when the last is only a split's name (data/shapes/train -> shapes/train, ilsvrc/val.txt ->
// ilsvrc/val.txt), for titles.
std::string data_name(const std::string& path);

}  // namespace alexnet
