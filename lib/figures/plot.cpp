#include "figures/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <set>

#include "core/error.hpp"
#include "figures/canvas.hpp"

namespace alexnet {

namespace {

constexpr double kMargin = 14, kPlotH = 280, kInset = 6, kTick = 4, kPanelRight = 22;
constexpr double kSwatch = 34, kLegendGap = 22;
constexpr int kMaxXTicks = 9, kMaxYTicks = 7;
const Font kTitleFont{13.5, true}, kSubtitleFont{10.5}, kPanelTitleFont{11.5, true}, kLabelFont{10.5},
    kTickFont{9.5}, kLegendFont{10.5};
const Rgb kInk = hex_rgb(0x222222), kGrid = hex_rgb(0xe4e4e4), kReference = hex_rgb(0x6e6e6e);

// Okabe & Ito's colour-blind-safe palette (yellow left out: too faint on white), each with its
// own dash pattern, marker (polygon sides; 0: a circle) and width.
struct Style {
    Rgb colour;
    std::vector<double> dashes;  // empty: solid
    int sides;
    double marker_turn;  // degrees
};
const Style kStyles[] = {
    {hex_rgb(0x0072b2), {}, 0, 0},
    {hex_rgb(0xd55e00), {7, 3.5}, 4, 45},
    {hex_rgb(0x009e73), {1, 3}, 3, 90},
    {hex_rgb(0xcc79a7), {8, 3, 1.5, 3}, 4, 0},
    {hex_rgb(0xe69f00), {12, 4}, 3, -90},
    {hex_rgb(0x56b4e9), {5, 2.5, 1.5, 2.5, 1.5, 2.5}, 5, 90},
    {hex_rgb(0x000000), {3, 3}, 6, 0},
};
constexpr int kStyleCount = int(std::size(kStyles));

// Earlier series wider, so that a later one drawn on top leaves their edges visible.
double line_width(int style) { return std::max(1.2, 2.6 - 0.25 * style); }
constexpr double kThinWidth = 0.7;  // Series::thin

void set_dashes(Canvas& c, const Style& s) {
    cairo_set_dash(c.cr(), s.dashes.data(), int(s.dashes.size()), 0);
    const bool dotted = s.dashes.size() == 2 && s.dashes[0] < 2;
    cairo_set_line_cap(c.cr(), dotted ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT);
}

void marker(Canvas& c, const Style& s, double x, double y, double r) {
    cairo_t* cr = c.cr();
    cairo_set_dash(cr, nullptr, 0, 0);
    if (s.sides == 0) {
        cairo_new_sub_path(cr);
        cairo_arc(cr, x, y, r * 0.85, 0, 2 * std::numbers::pi);
    } else {
        r *= s.sides == 3 ? 1.3 : s.sides == 4 ? 1.15 : 1.05;  // about the circle's area
        for (int k = 0; k < s.sides; ++k) {
            const double a = (s.marker_turn + 360.0 * k / s.sides) * std::numbers::pi / 180;
            const double px = x + r * std::cos(a), py = y - r * std::sin(a);
            k == 0 ? cairo_move_to(cr, px, py) : cairo_line_to(cr, px, py);
        }
        cairo_close_path(cr);
    }
    c.set_colour(s.colour);
    cairo_fill_preserve(cr);
    c.set_colour({1, 1, 1});
    cairo_set_line_width(cr, 0.8);
    cairo_stroke(cr);
}

// Series names in order of first appearance, then reference names; `series_count`: how many are series.
std::vector<std::string> legend_names(const Figure& f, size_t* series_count) {
    std::vector<std::string> names;
    for (const Panel& p : f.panels)
        for (const Series& s : p.series)
            if (std::find(names.begin(), names.end(), s.name) == names.end()) names.push_back(s.name);
    *series_count = names.size();
    for (const Panel& p : f.panels)
        for (const Reference& r : p.references)
            if (std::find(names.begin(), names.end(), r.name) == names.end()) names.push_back(r.name);
    return names;
}

PanelLayout panel_axes(const Panel& p) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (const Series& s : p.series)
        for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
            if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
                x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]), y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    for (const Reference& r : p.references)
        if (std::isfinite(r.y)) y0 = std::min(y0, r.y), y1 = std::max(y1, r.y);
    if (x0 > x1) x0 = 0, x1 = p.integer_x ? 2 : 1;
    if (y0 > y1) y0 = 0, y1 = 1;
    PanelLayout l;
    l.x = nice_axis(x0, x1, kMaxXTicks, p.integer_x);
    l.y = nice_axis(y0, y1, kMaxYTicks);
    return l;
}

double widest_tick_label(const Axis& a) {
    double w = 0;
    for (double t : a.ticks) w = std::max(w, text_width(a.label(t), kTickFont));
    return w;
}

// A series' style: the index of its name among the legend's, modulo the styles there are.
int style_of(const FigureLayout& l, const std::string& name) {
    const size_t i = size_t(std::find(l.legend_names.begin(), l.legend_names.end(), name) - l.legend_names.begin());
    return int(i) % kStyleCount;
}

void draw_titles(Canvas& c, const FigureLayout& l) {
    c.set_colour(kInk);
    double y = kMargin;
    for (const std::string& line : l.title_lines) c.text(line, l.width / 2, y, kTitleFont, 0.5, 0), y += text_height(kTitleFont);
    c.set_colour(hex_rgb(0x444444));
    for (const std::string& line : l.subtitle_lines)
        c.text(line, l.width / 2, y, kSubtitleFont, 0.5, 0), y += text_height(kSubtitleFont);
}

// One series in style `si`: its line (broken where a value is not finite), then its markers.
void draw_series(Canvas& c, const PanelLayout& pl, const Series& s, int si) {
    cairo_t* cr = c.cr();
    const Style& st = kStyles[si];
    set_dashes(c, st);
    cairo_set_line_width(cr, s.thin ? kThinWidth : line_width(si));
    bool pen_down = false;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
            pen_down = false;
            continue;
        }
        pen_down ? cairo_line_to(cr, pl.to_x(s.x[i]), pl.to_y(s.y[i])) : cairo_move_to(cr, pl.to_x(s.x[i]), pl.to_y(s.y[i]));
        pen_down = true;
    }
    c.set_colour(st.colour);
    cairo_stroke(cr);
    // About a dozen markers per series, staggered between series so they do not stack.
    const size_t n = s.thin ? 0 : std::min(s.x.size(), s.y.size());
    const size_t every = n <= 15 ? 1 : (n + 11) / 12;
    for (size_t i = every > 1 ? size_t(si) * every / kStyleCount : 0; i < n; i += every)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) marker(c, st, pl.to_x(s.x[i]), pl.to_y(s.y[i]), 3.6);
}

// The grid, then the reference lines and series clipped to the plot.
void draw_panel_data(Canvas& c, const FigureLayout& l, const Panel& p, const PanelLayout& pl) {
    cairo_t* cr = c.cr();
    const Rect& r = pl.plot;
    c.set_colour(kGrid);
    for (double t : pl.x.ticks) c.line(pl.to_x(t), r.y, pl.to_x(t), r.y + r.h, 0.6);
    for (double t : pl.y.ticks) c.line(r.x, pl.to_y(t), r.x + r.w, pl.to_y(t), 0.6);

    cairo_save(cr);
    c.rect(r.x, r.y, r.w, r.h);
    cairo_clip(cr);
    c.set_colour(kReference);
    for (const Reference& ref : p.references) c.line(r.x, pl.to_y(ref.y), r.x + r.w, pl.to_y(ref.y), 1.1);
    for (const Series& s : p.series) draw_series(c, pl, s, style_of(l, s.name));
    cairo_restore(cr);
}

// The frame, the ticks and their labels, the axis labels and the panel's title.
void draw_panel_frame(Canvas& c, const Panel& p, const PanelLayout& pl) {
    cairo_t* cr = c.cr();
    const Rect& r = pl.plot;
    cairo_set_dash(cr, nullptr, 0, 0);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    c.set_colour(kInk);
    c.rect(r.x, r.y, r.w, r.h);
    cairo_set_line_width(cr, 0.8);
    cairo_stroke(cr);
    for (double t : pl.x.ticks) {
        c.line(pl.to_x(t), r.y + r.h, pl.to_x(t), r.y + r.h + kTick, 0.8);
        c.text(pl.x.label(t), pl.to_x(t), r.y + r.h + kTick + 3, kTickFont, 0.5, 0);
    }
    double widest = 0;
    for (double t : pl.y.ticks) {
        c.line(r.x - kTick, pl.to_y(t), r.x, pl.to_y(t), 0.8);
        c.text(pl.y.label(t), r.x - kTick - 3, pl.to_y(t), kTickFont, 1, 0.5);
        widest = std::max(widest, text_width(pl.y.label(t), kTickFont));
    }
    const double tick_h = text_height(kTickFont);
    c.text(p.x_label, r.x + r.w / 2, r.y + r.h + kTick + 3 + tick_h + 5, kLabelFont, 0.5, 0);
    c.text(p.y_label, r.x - kTick - 3 - widest - 6, r.y + r.h / 2, kLabelFont, 0.5, 1, 90);
    c.text(p.title, r.x + r.w / 2, r.y - 6, kPanelTitleFont, 0.5, 1);
}

void draw_legend(Canvas& c, const FigureLayout& l) {
    for (size_t i = 0; i < l.legend_names.size(); ++i) {
        const Rect& e = l.legend_entries[i];
        const double my = e.y + e.h / 2;
        if (i < l.legend_series) {
            const int si = style_of(l, l.legend_names[i]);
            set_dashes(c, kStyles[si]);
            c.set_colour(kStyles[si].colour);
            c.line(e.x, my, e.x + kSwatch, my, line_width(si));
            marker(c, kStyles[si], e.x + kSwatch / 2, my, 3.6);
        } else {
            cairo_set_dash(c.cr(), nullptr, 0, 0);
            c.set_colour(kReference);
            c.line(e.x, my, e.x + kSwatch, my, 1.1);
        }
        c.set_colour(kInk);
        c.text(l.legend_names[i], e.x + kSwatch + 6, my, kLegendFont, 0, 0.5);
    }
}

}  // namespace

std::string Axis::label(double tick) const {
    char buf[64];
    if (std::fabs(tick) < step * 1e-6) tick = 0;
    if (step >= 1e6 || (step > 0 && step < 1e-5)) {
        // Scientific, as 2.5e27 (a diverging loss would otherwise read 2000000000000000009529458688),
        // with the significant digits that tell the ticks apart.
        const double biggest = std::max({std::fabs(lo), std::fabs(hi), step});
        const int digits = std::clamp(int(std::floor(std::log10(biggest)) - std::floor(std::log10(step) + 1e-9)) + 1, 1, 17);
        std::snprintf(buf, sizeof buf, "%.*g", digits, tick);
        std::string s = buf;
        const size_t e = s.find('e');
        if (e != std::string::npos) {  // e+27 -> e27, e-07 -> e-7
            std::string exp = s.substr(e + 1);
            const bool minus = exp[0] == '-';
            exp = exp.substr(exp[0] == '+' || exp[0] == '-' ? 1 : 0);
            exp.erase(0, std::min(exp.find_first_not_of('0'), exp.size() - 1));
            s = s.substr(0, e) + "e" + (minus ? "\u2212" : "") + exp;
        }
        return s[0] == '-' ? "\u2212" + s.substr(1) : s;
    }
    std::snprintf(buf, sizeof buf, "%.*f", decimals, tick);
    const std::string s = buf;
    return s[0] == '-' ? "\u2212" + s.substr(1) : s;  // a minus sign, not a hyphen
}

Axis nice_axis(double lo, double hi, int max_ticks, bool integer) {
    if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi || !std::isfinite(hi - lo)) lo = 0, hi = 1;
    max_ticks = std::max(max_ticks, 3);  // with 3, a step as long as the range always fits
    const double scale = std::max({1.0, std::fabs(lo), std::fabs(hi)});
    if (hi - lo <= 1e-12 * scale) {
        const double widen = integer ? 1 : lo == 0 ? 1 : 0.1 * std::fabs(lo);
        lo -= widen, hi += widen;
    }
    Axis a;
    for (int e = int(std::floor(std::log10((hi - lo) / max_ticks))) - 1;; ++e) {
        for (int m : {1, 2, 5}) {
            if (integer && e < 0 && hi - lo >= 2) continue;
            // m x 10^e exactly as the decimal it stands for: k * m / 10^-e rounds once
            const double p10 = std::pow(10.0, std::abs(e));
            auto value = [&](double k) { return e < 0 ? k * m / p10 : k * m * p10; };
            const double step = value(1);
            const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
            if (last - first + 1 > max_ticks) continue;
            a.step = step;
            a.decimals = std::max(0, -e);
            for (int k = 0; k <= int(last - first); ++k) a.ticks.push_back(value(first + k));
            a.lo = a.ticks.front(), a.hi = a.ticks.back();
            return a;
        }
    }
}

double PanelLayout::to_x(double v) const { return plot.x + kInset + (v - x.lo) / (x.hi - x.lo) * (plot.w - 2 * kInset); }
double PanelLayout::to_y(double v) const { return plot.y + plot.h - kInset - (v - y.lo) / (y.hi - y.lo) * (plot.h - 2 * kInset); }

FigureLayout layout_figure(const Figure& f) {
    FigureLayout l;
    l.legend_names = legend_names(f, &l.legend_series);
    const double label_h = text_height(kLabelFont), tick_h = text_height(kTickFont);
    const double panel_title_h = text_height(kPanelTitleFont);
    const double plot_w = f.panels.size() == 1 ? 520 : 420;
    double x = kMargin;
    for (const Panel& p : f.panels) {
        PanelLayout pl = panel_axes(p);
        x += label_h + 8 + widest_tick_label(pl.y) + kTick + 4;
        pl.plot = {x, 0, plot_w, kPlotH};
        x += plot_w + kPanelRight;
        l.panels.push_back(pl);
    }
    l.width = x + kMargin - kPanelRight / 2;
    const double text_w = l.width - 2 * kMargin;
    l.title_lines = wrap_text(f.title, kTitleFont, text_w);
    l.subtitle_lines = wrap_text(f.subtitle, kSubtitleFont, text_w);
    double y = kMargin + l.title_lines.size() * text_height(kTitleFont) + l.subtitle_lines.size() * text_height(kSubtitleFont);
    y += 8 + panel_title_h + 6;
    for (PanelLayout& pl : l.panels) pl.plot.y = y;
    y += kPlotH + kTick + 3 + tick_h + 6 + label_h + 14;

    // The legend: rows of entries centred below the panels.
    const double row_h = std::max(text_height(kLegendFont), 12.0) + 6;
    std::vector<std::vector<size_t>> rows(1);
    std::vector<double> widths, row_w(1, 0);
    for (size_t i = 0; i < l.legend_names.size(); ++i) {
        const double w = kSwatch + 6 + text_width(l.legend_names[i], kLegendFont);
        widths.push_back(w);
        if (!rows.back().empty() && row_w.back() + kLegendGap + w > text_w) rows.push_back({}), row_w.push_back(0);
        row_w.back() += (rows.back().empty() ? 0 : kLegendGap) + w;
        rows.back().push_back(i);
    }
    l.legend_entries.resize(l.legend_names.size());
    for (size_t r = 0; r < rows.size() && !l.legend_names.empty(); ++r) {
        double ex = (l.width - row_w[r]) / 2;
        for (size_t i : rows[r]) {
            l.legend_entries[i] = {ex, y, widths[i], row_h};
            ex += widths[i] + kLegendGap;
        }
        y += row_h;
    }
    l.height = y + kMargin - (l.legend_names.empty() ? 14 : 4);
    return l;
}

void write_figure(const std::string& png_path, const Figure& f) {
    check(!f.panels.empty(), png_path, "figure", "at least one panel", "none");
    const FigureLayout l = layout_figure(f);
    write_png_and_svg(png_path, l.width, l.height, f.title, [&](Canvas& c) {
        draw_titles(c, l);
        for (size_t pi = 0; pi < f.panels.size(); ++pi) {
            draw_panel_data(c, l, f.panels[pi], l.panels[pi]);
            draw_panel_frame(c, f.panels[pi], l.panels[pi]);
        }
        draw_legend(c, l);
    });
}

std::string short_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

std::string data_name(const std::string& path) {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    const size_t slash = p.find_last_of('/');
    const std::string last = slash == std::string::npos ? p : p.substr(slash + 1);
    // A split's name says little alone ("train"): with its parent it names the data set.
    std::string stem = last.substr(0, last.find('.'));
    std::transform(stem.begin(), stem.end(), stem.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    static const std::set<std::string> generic{"train", "training", "val", "valid", "validation", "test",
                                               "testing", "eval", "images", "data"};
    if (!generic.count(stem) || slash == std::string::npos || slash == 0) return last;
    const size_t before = p.find_last_of('/', slash - 1);
    return p.substr(before == std::string::npos ? 0 : before + 1);
}

}  // namespace alexnet
