// Figures: nice ticks (exact lists), the legend's place (never over the data), and a PNG with an
// SVG of the same size beside every figure and heat map.
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.hpp"
#include "figures/canvas.hpp"
#include "figures/plot.hpp"
#include "figure_util.hpp"
#include "test_util.hpp"

using namespace alexnet;
using alexnet::test::TempDir;
using alexnet::test::read_figure;
using alexnet::test::count_colour;

namespace {

std::vector<std::string> labels(const Axis& a) {
    std::vector<std::string> out;
    for (double t : a.ticks) out.push_back(a.label(t));
    return out;
}

Series curve(const std::string& name, double (*f)(double), double x0, double x1, int n) {
    Series s(name);
    for (int i = 0; i < n; ++i) {
        const double x = x0 + (x1 - x0) * i / (n - 1);
        s.x.push_back(x), s.y.push_back(f(x));
    }
    return s;
}

}  // namespace

TEST_CASE("data_name: the data set a title names, with the parent of a bare split name") {
    CHECK(data_name("/usr/share/datasets/fashion-mnist/") == "fashion-mnist");
    CHECK(data_name("data/shapes/train") == "shapes/train");
    CHECK(data_name("shapes/val/") == "shapes/val");
    CHECK(data_name("/data/ilsvrc/val.txt") == "ilsvrc/val.txt");
    CHECK(data_name("train") == "train");
    CHECK(data_name("/train") == "train");
    CHECK(data_name("cifar-10-batches-bin/data_batch_1.bin") == "data_batch_1.bin");
}

TEST_CASE("nice_axis: 1-2-5 steps, ticks covering the data, one precision per axis") {
    Axis a = nice_axis(0, 1, 6);
    CHECK(a.ticks == std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0});
    CHECK(labels(a) == std::vector<std::string>{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"});
    // Training error from 0.093 to 0.81 in at most 7 ticks: 0.1 would need 10
    a = nice_axis(0.093, 0.81, 7);
    CHECK(a.ticks == std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0});
    CHECK(a.lo == 0);
    CHECK(a.hi == 1.0);
    // Epochs 0.1 .. 7.3 (Figure 1): the axis reaches past the last epoch
    a = nice_axis(0.1, 7.3, 9);
    CHECK(a.ticks == std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8});
    CHECK(labels(a).back() == "8");
    // A one-epoch run: whole epochs only, never 1.2
    a = nice_axis(1, 1, 9, true);
    CHECK(a.ticks == std::vector<double>{0, 1, 2});
    CHECK(labels(a) == std::vector<std::string>{"0", "1", "2"});
    a = nice_axis(1, 3, 9, true);
    CHECK(a.ticks == std::vector<double>{1, 2, 3});
    a = nice_axis(1, 20, 9, true);
    CHECK(a.ticks == std::vector<double>{0, 5, 10, 15, 20});
    a = nice_axis(0.5, 2.5, 9, true);  // fractional data on an integer axis
    CHECK(a.ticks == std::vector<double>{0, 1, 2, 3});
    a = nice_axis(0.1, 7.3, 9, true);
    CHECK(a.ticks == std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8});
    a = nice_axis(0.1, 3.9, 9, true);  // 0.5 steps would fit, but epochs read better whole
    CHECK(a.ticks == std::vector<double>{0, 1, 2, 3, 4});
    a = nice_axis(0.1, 1.0, 9, true);  // under two epochs, fractions of one
    CHECK(a.ticks == std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0});
    // Negative values get a minus sign
    a = nice_axis(-6, 6, 9);
    CHECK(a.ticks == std::vector<double>{-6, -4, -2, 0, 2, 4, 6});
    CHECK(labels(a).front() == "\u22126");
    CHECK(labels(a)[3] == "0");
    // A diverging loss (up to 1.6e26 after 2.3): scientific labels, not 27-digit integers
    a = nice_axis(2.3, 1.6e26, 6);
    CHECK(labels(a) == std::vector<std::string>{"0", "5e25", "1e26", "1.5e26", "2e26"});
    a = nice_axis(1.5e-7, 9.2e-7, 6);
    CHECK(labels(a).back() == "1e\u22126");
    CHECK(labels(a)[1] == "2e\u22127");
    a = nice_axis(0, 4e5, 5);  // below a million: plain numbers
    CHECK(labels(a).back() == "400000");
    // Small values keep the step's precision on every tick
    a = nice_axis(0.0012, 0.0087, 8);
    CHECK(a.ticks == std::vector<double>{0, 0.002, 0.004, 0.006, 0.008, 0.01});
    CHECK(labels(a) == std::vector<std::string>{"0.000", "0.002", "0.004", "0.006", "0.008", "0.010"});
    a = nice_axis(-0.03, 1.0, 7);
    CHECK(a.ticks == std::vector<double>{-0.2, 0, 0.2, 0.4, 0.6, 0.8, 1.0});
    CHECK(labels(a)[1] == "0.0");
    a = nice_axis(1200, 98000, 6);
    CHECK(a.ticks == std::vector<double>{0, 20000, 40000, 60000, 80000, 100000});
    // A flat series is widened around its value
    a = nice_axis(0.25, 0.25, 7);
    CHECK(a.ticks == std::vector<double>{0.22, 0.23, 0.24, 0.25, 0.26, 0.27, 0.28});
    // Nothing to show: 0 .. 1
    a = nice_axis(NAN, 3, 6);
    CHECK(a.ticks.front() == 0);
    CHECK(a.ticks.back() == 1.0);
}

TEST_CASE("layout_figure: the legend sits below the plots, off every data point") {
    Panel f("activation functions", "x", "f(x)"), d("derivatives", "x", "f'(x)");
    f.series = {curve("relu", [](double x) { return std::max(0.0, x); }, -6, 6, 241),
                curve("tanh", [](double x) { return std::tanh(x); }, -6, 6, 241),
                curve("leaky-relu", [](double x) { return x > 0 ? x : 0.01 * x; }, -6, 6, 241)};
    d.series = {curve("relu", [](double x) { return x > 0 ? 1.0 : 0.0; }, -6, 6, 241),
                curve("tanh", [](double x) { return 1 - std::tanh(x) * std::tanh(x); }, -6, 6, 241),
                curve("leaky-relu", [](double x) { return x > 0 ? 1.0 : 0.01; }, -6, 6, 241)};
    d.references.push_back({"target 0.10", 0.1});
    Panel many("many", "epoch", "error", true);
    for (int k = 0; k < 9; ++k) {
        Series s("a rather long series name number " + std::to_string(k));
        for (int e = 1; e <= 3; ++e) s.x.push_back(e), s.y.push_back(1.0 / (e + k));
        many.series.push_back(s);
    }
    for (const Figure& fig : {Figure{"two panels", "", {f, d}}, Figure{"one panel, nine series in rows", "", {many}}}) {
        CAPTURE(fig.title);
        const FigureLayout l = layout_figure(fig);
        REQUIRE(l.panels.size() == fig.panels.size());
        REQUIRE(l.legend_entries.size() == l.legend_names.size());
        for (size_t i = 0; i < l.legend_entries.size(); ++i) {
            const Rect& e = l.legend_entries[i];
            CHECK(e.w > 0);
            CHECK(e.x >= 0);
            CHECK(e.x + e.w <= l.width);
            CHECK(e.y + e.h <= l.height);
            for (const PanelLayout& p : l.panels) CHECK_FALSE(e.intersects(p.plot));
            for (size_t j = 0; j < i; ++j) CHECK_FALSE(e.intersects(l.legend_entries[j]));
        }
        // Every data point and reference lies inside its own plot, so no legend box covers one.
        for (size_t k = 0; k < fig.panels.size(); ++k) {
            const PanelLayout& p = l.panels[k];
            CHECK(p.plot.x + p.plot.w <= l.width);
            for (size_t o = 0; o < k; ++o) CHECK_FALSE(p.plot.intersects(l.panels[o].plot));
            for (const Series& s : fig.panels[k].series)
                for (size_t i = 0; i < s.x.size(); ++i) {
                    const double x = p.to_x(s.x[i]), y = p.to_y(s.y[i]);
                    CHECK(p.plot.contains(x, y));
                    for (const Rect& e : l.legend_entries) CHECK_FALSE(e.contains(x, y));
                }
            for (const Reference& r : fig.panels[k].references) CHECK(p.plot.contains(p.to_x(p.x.lo), p.to_y(r.y)));
        }
    }
    // Names are listed once, in order of first appearance, the references after the series.
    const FigureLayout l = layout_figure(Figure{"", "", {f, d}});
    CHECK(l.legend_names == std::vector<std::string>{"relu", "tanh", "leaky-relu", "target 0.10"});
    CHECK(l.legend_series == 3);
    // The nine long names do not fit one row
    const FigureLayout rows = layout_figure(Figure{"", "", {many}});
    CHECK(rows.legend_entries.back().y > rows.legend_entries.front().y);
}

TEST_CASE("write_figure and write_heatmap: a PNG and an SVG of the same size, written atomically") {
    TempDir dir;
    Panel p("error", "epoch", "error", true);
    Series s("training");
    s.x = {1, 2, 3}, s.y = {0.5, NAN, 0.2};  // a gap, not a crash
    p.series = {s};
    p.references = {{"target 0.25", 0.25}};
    const Figure fig{"a title long enough to be wrapped onto a second line of text when the figure is a single panel",
                     "subtitle", {p}};
    write_figure(dir / "fig.png", fig);
    const FigureLayout l = layout_figure(fig);
    CHECK(l.title_lines.size() == 2);
    const auto written = read_figure(dir / "fig.png");
    CHECK(written.svg_w == doctest::Approx(l.width).epsilon(0.001));
    CHECK(written.svg_h == doctest::Approx(l.height).epsilon(0.001));
    CHECK(written.png.cols >= 1100);  // about 8 inches at 144 dpi
    CHECK(count_colour(written.png, 0x0072b2) > 50);  // the first series: Okabe-Ito blue
    CHECK(count_colour(written.png, 0x6e6e6e) > 50);  // the reference: grey

    Heatmap m{"confusion", "", 3, {1, 0, 0, 0.25, 0.75, 0, 0, 0.5, 0.5}, {"a", "b"}, "true class", "predicted class", "fraction"};
    write_heatmap(dir / "conf.png", m);
    read_figure(dir / "conf.png");
    // 100 classes draw; 101 are refused, and nothing is left behind
    m.n = 100;
    m.values.assign(100 * 100, 0.01);
    write_heatmap(dir / "c100.png", m);
    CHECK(read_figure(dir / "c100.png").png.cols > 900);
    m.n = 101;
    m.values.assign(101 * 101, 0.01);
    CHECK_THROWS_WITH_AS(write_heatmap(dir / "c101.png", m),
                         (dir / "c101.png" + ": heat map: expected 1..100 classes, found 101").c_str(), Error);
    CHECK_FALSE(std::filesystem::exists(dir / "c101.png"));
    CHECK_FALSE(std::filesystem::exists(dir / "c101.svg"));
    CHECK_THROWS_AS(write_figure(dir / "none.png", Figure{}), Error);
    CHECK(svg_path_beside("runs/a.b/curves.png") == "runs/a.b/curves.svg");
    CHECK(svg_path_beside("runs/a.b/curves") == "runs/a.b/curves.svg");
}
