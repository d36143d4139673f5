#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <numbers>

#include "core/error.hpp"
#include "figures/canvas.hpp"
#include "figures/plot.hpp"

namespace alexnet {

namespace {

constexpr double kMargin = 14, kTick = 3, kBarW = 14, kMaxSide = 480, kMaxCell = 44, kMaxName = 130;
const Font kTitleFont{13.5, true}, kSubtitleFont{10.5}, kLabelFont{10.5}, kTickFont{9.5};
const Rgb kInk = hex_rgb(0x222222);

// Where everything goes, in points (y down): the matrix at (mx, my), the colour bar at bx.
struct HeatmapLayout {
    double cell = 0, side = 0;
    Font name_font;
    int every = 1;  // label rows and columns this far apart
    double degrees = 0, sin_a = 0, cos_a = 0;  // the column names' turn
    std::vector<std::string> names;
    double name_w = 0, name_h = 0, label_h = 0, column_block = 0;
    Axis bar_axis;
    double bar_tick_w = 0;
    double mx = 0, my = 0, bx = 0, width = 0, height = 0;
    std::vector<std::string> title, subtitle;
};

HeatmapLayout layout_heatmap(const Heatmap& m) {
    const int n = m.n;
    HeatmapLayout l;
    l.cell = std::clamp(kMaxSide / n, 4.8, kMaxCell), l.side = l.cell * n;
    l.name_font = Font{n <= 30 ? 9.5 : 7.0};
    l.every = std::max(1, int(std::ceil(1.3 * l.name_font.size / l.cell)));
    l.degrees = n <= 30 ? 45 : 90;
    l.sin_a = std::sin(l.degrees * std::numbers::pi / 180), l.cos_a = std::cos(l.degrees * std::numbers::pi / 180);
    l.names.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        l.names[size_t(i)] = fit_text(i < int(m.names.size()) && !m.names[size_t(i)].empty() ? m.names[size_t(i)] : std::to_string(i),
                                      l.name_font, kMaxName);
        if (i % l.every == 0) l.name_w = std::max(l.name_w, text_width(l.names[size_t(i)], l.name_font));
    }
    l.name_h = text_height(l.name_font), l.label_h = text_height(kLabelFont);
    l.column_block = l.name_w * l.sin_a + l.name_h * l.cos_a;  // the turned names' height
    l.bar_axis = nice_axis(0, 1, 6);
    for (double t : l.bar_axis.ticks) l.bar_tick_w = std::max(l.bar_tick_w, text_width(l.bar_axis.label(t), kTickFont));

    // The matrix's left edge: right of the row names and their title, and far enough right for the
    // first column's turned name, which reaches left of the matrix.
    l.mx = std::max(kMargin + l.label_h + 8 + l.name_w + 4 + kTick, kMargin + l.name_w * l.cos_a + l.name_h - l.cell / 2);
    l.bx = l.mx + l.side + 18;
    l.width = l.bx + kBarW + kTick + 3 + l.bar_tick_w + 8 + l.label_h + kMargin;
    l.title = wrap_text(m.title, kTitleFont, l.width - 2 * kMargin);
    l.subtitle = wrap_text(m.subtitle, kSubtitleFont, l.width - 2 * kMargin);
    l.my = kMargin + l.title.size() * text_height(kTitleFont) + l.subtitle.size() * text_height(kSubtitleFont) + 12;
    l.height = l.my + l.side + kTick + 4 + l.column_block + 8 + l.label_h + kMargin;
    return l;
}

double cell_value(const Heatmap& m, int r, int col) {
    const double v = m.values[size_t(r) * m.n + col];
    return std::isfinite(v) ? std::clamp(v, 0.0, 1.0) : 0.0;
}

// The cells as one bitmap with whole pixels per cell, drawn unsmoothed: no seams between
// neighbours in any viewer, and one image in the SVG rather than n^2 rectangles. Values are
// written in cells wide enough to hold them.
void draw_cells(Canvas& c, const Heatmap& m, const HeatmapLayout& l) {
    cairo_t* cr = c.cr();
    const int n = m.n;
    const int px = int(std::ceil(l.cell * kPngScale));
    std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> cells(
        cairo_image_surface_create(CAIRO_FORMAT_RGB24, n * px, n * px), cairo_surface_destroy);
    cairo_surface_flush(cells.get());
    unsigned char* data = cairo_image_surface_get_data(cells.get());
    const int stride = cairo_image_surface_get_stride(cells.get());
    for (int r = 0; r < n * px; ++r)
        for (int col = 0; col < n * px; ++col) {
            const Rgb rgb = viridis(cell_value(m, r / px, col / px));
            auto* pixel = reinterpret_cast<uint32_t*>(data + size_t(r) * stride) + col;
            *pixel = uint32_t(std::lround(rgb.r * 255)) << 16 | uint32_t(std::lround(rgb.g * 255)) << 8 |
                     uint32_t(std::lround(rgb.b * 255));
        }
    cairo_surface_mark_dirty(cells.get());
    cairo_save(cr);
    cairo_translate(cr, l.mx, l.my);
    cairo_scale(cr, l.cell / px, l.cell / px);
    cairo_set_source_surface(cr, cells.get(), 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, n * px, n * px);
    cairo_fill(cr);
    cairo_restore(cr);
    const Font value_font{std::min(9.5, l.cell * 0.24)};
    for (int r = 0; r < n && l.cell >= 26; ++r)
        for (int col = 0; col < n; ++col) {
            const double v = cell_value(m, r, col);
            if (v < 0.005) continue;
            char buf[16];
            std::snprintf(buf, sizeof buf, "%.2f", v);
            c.set_colour(v < 0.55 ? Rgb{1, 1, 1} : kInk);
            c.text(buf, l.mx + (col + 0.5) * l.cell, l.my + (r + 0.5) * l.cell, value_font, 0.5, 0.5);
        }
}

// The matrix's frame, its row and column names and the axes' labels.
void draw_names(Canvas& c, const Heatmap& m, const HeatmapLayout& l) {
    const double mx = l.mx, my = l.my, side = l.side;
    c.set_colour(kInk);
    c.rect(mx, my, side, side);
    cairo_set_line_width(c.cr(), 0.8);
    cairo_stroke(c.cr());
    for (int i = 0; i < m.n; i += l.every) {
        const double at = (i + 0.5) * l.cell;
        c.line(mx - kTick, my + at, mx, my + at, 0.8);
        c.text(l.names[size_t(i)], mx - kTick - 3, my + at, l.name_font, 1, 0.5);
        c.line(mx + at, my + side, mx + at, my + side + kTick, 0.8);
        // turned about its end, which sits under the column
        c.text(l.names[size_t(i)], mx + at + (l.degrees < 90 ? l.name_h * 0.3 : 0), my + side + kTick + 2, l.name_font, 1,
               0.5, l.degrees);
    }
    c.text(m.column_label, mx + side / 2, my + side + kTick + 4 + l.column_block + 6, kLabelFont, 0.5, 0);
    c.text(m.row_label, mx - kTick - 4 - l.name_w - 6, my + side / 2, kLabelFont, 0.5, 1, 90);
}

void draw_colour_bar(Canvas& c, const Heatmap& m, const HeatmapLayout& l) {
    cairo_t* cr = c.cr();
    const double bx = l.bx, my = l.my, side = l.side;
    cairo_pattern_t* ramp = cairo_pattern_create_linear(0, my + side, 0, my);
    for (int k = 0; k <= 8; ++k) {
        const Rgb col = viridis(k / 8.0);
        cairo_pattern_add_color_stop_rgb(ramp, k / 8.0, col.r, col.g, col.b);
    }
    c.rect(bx, my, kBarW, side);
    cairo_set_source(cr, ramp);
    cairo_fill(cr);
    cairo_pattern_destroy(ramp);
    c.set_colour(kInk);
    c.rect(bx, my, kBarW, side);
    cairo_set_line_width(cr, 0.8);
    cairo_stroke(cr);
    for (double t : l.bar_axis.ticks) {
        const double ty = my + side - t * side;
        c.line(bx + kBarW, ty, bx + kBarW + kTick, ty, 0.8);
        c.text(l.bar_axis.label(t), bx + kBarW + kTick + 3, ty, kTickFont, 0, 0.5);
    }
    c.text(m.value_label, bx + kBarW + kTick + 3 + l.bar_tick_w + 6, my + side / 2, kLabelFont, 0.5, 0, 90);
}

}  // namespace

void write_heatmap(const std::string& png_path, const Heatmap& m) {
    const int n = m.n;
    check(n > 0 && n <= kHeatmapMaxClasses, png_path, "heat map", "1.." + std::to_string(kHeatmapMaxClasses) + " classes",
          std::to_string(n));
    check(m.values.size() == size_t(n) * size_t(n), png_path, "heat map", "n x n values", std::to_string(m.values.size()));
    const HeatmapLayout l = layout_heatmap(m);
    write_png_and_svg(png_path, l.width, l.height, m.title, [&](Canvas& c) {
        double y = kMargin;
        c.set_colour(kInk);
        for (const std::string& line : l.title) c.text(line, l.width / 2, y, kTitleFont, 0.5, 0), y += text_height(kTitleFont);
        c.set_colour(hex_rgb(0x444444));
        for (const std::string& line : l.subtitle)
            c.text(line, l.width / 2, y, kSubtitleFont, 0.5, 0), y += text_height(kSubtitleFont);
        draw_cells(c, m, l);
        draw_names(c, m, l);
        draw_colour_bar(c, m, l);
    });
}

}  // namespace alexnet
