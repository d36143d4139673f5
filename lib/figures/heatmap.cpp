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

}  // namespace

void write_heatmap(const std::string& png_path, const Heatmap& m) {
    const int n = m.n;
    check(n > 0 && n <= kHeatmapMaxClasses, png_path, "heat map", "1.." + std::to_string(kHeatmapMaxClasses) + " classes",
          std::to_string(n));
    check(m.values.size() == size_t(n) * size_t(n), png_path, "heat map", "n x n values", std::to_string(m.values.size()));
    const double cell = std::clamp(kMaxSide / n, 4.8, kMaxCell), side = cell * n;
    const Font name_font{n <= 30 ? 9.5 : 7.0};
    const int every = std::max(1, int(std::ceil(1.3 * name_font.size / cell)));  // label rows and columns this far apart
    const double degrees = n <= 30 ? 45 : 90;
    const double sin_a = std::sin(degrees * std::numbers::pi / 180), cos_a = std::cos(degrees * std::numbers::pi / 180);
    std::vector<std::string> names(static_cast<size_t>(n));
    double name_w = 0;
    for (int i = 0; i < n; ++i) {
        names[size_t(i)] = fit_text(i < int(m.names.size()) && !m.names[size_t(i)].empty() ? m.names[size_t(i)] : std::to_string(i),
                                    name_font, kMaxName);
        if (i % every == 0) name_w = std::max(name_w, text_width(names[size_t(i)], name_font));
    }
    const double name_h = text_height(name_font), label_h = text_height(kLabelFont);
    const double column_block = name_w * sin_a + name_h * cos_a;  // the turned names' height
    const Axis bar_axis = nice_axis(0, 1, 6);
    double bar_tick_w = 0;
    for (double t : bar_axis.ticks) bar_tick_w = std::max(bar_tick_w, text_width(bar_axis.label(t), kTickFont));

    // The matrix's left edge: right of the row names and their title, and far enough right for the
    // first column's turned name, which reaches left of the matrix.
    const double mx = std::max(kMargin + label_h + 8 + name_w + 4 + kTick, kMargin + name_w * cos_a + name_h - cell / 2);
    const double bx = mx + side + 18;  // the colour bar's
    const double width = bx + kBarW + kTick + 3 + bar_tick_w + 8 + label_h + kMargin;
    const std::vector<std::string> title = wrap_text(m.title, kTitleFont, width - 2 * kMargin);
    const std::vector<std::string> subtitle = wrap_text(m.subtitle, kSubtitleFont, width - 2 * kMargin);
    const double my = kMargin + title.size() * text_height(kTitleFont) + subtitle.size() * text_height(kSubtitleFont) + 12;
    const double height = my + side + kTick + 4 + column_block + 8 + label_h + kMargin;

    auto value = [&](int r, int col) {
        const double v = m.values[size_t(r) * n + col];
        return std::isfinite(v) ? std::clamp(v, 0.0, 1.0) : 0.0;
    };
    write_png_and_svg(png_path, width, height, m.title, [&](Canvas& c) {
        cairo_t* cr = c.cr();
        double y = kMargin;
        c.set_colour(kInk);
        for (const std::string& line : title) c.text(line, width / 2, y, kTitleFont, 0.5, 0), y += text_height(kTitleFont);
        c.set_colour(hex_rgb(0x444444));
        for (const std::string& line : subtitle) c.text(line, width / 2, y, kSubtitleFont, 0.5, 0), y += text_height(kSubtitleFont);

        // The cells as one bitmap with whole pixels per cell, drawn unsmoothed: no seams between
        // neighbours in any viewer, and one image in the SVG rather than n^2 rectangles.
        const int px = int(std::ceil(cell * kPngScale));
        std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> cells(
            cairo_image_surface_create(CAIRO_FORMAT_RGB24, n * px, n * px), cairo_surface_destroy);
        cairo_surface_flush(cells.get());
        unsigned char* data = cairo_image_surface_get_data(cells.get());
        const int stride = cairo_image_surface_get_stride(cells.get());
        for (int r = 0; r < n * px; ++r)
            for (int col = 0; col < n * px; ++col) {
                const Rgb rgb = viridis(value(r / px, col / px));
                auto* pixel = reinterpret_cast<uint32_t*>(data + size_t(r) * stride) + col;
                *pixel = uint32_t(std::lround(rgb.r * 255)) << 16 | uint32_t(std::lround(rgb.g * 255)) << 8 |
                         uint32_t(std::lround(rgb.b * 255));
            }
        cairo_surface_mark_dirty(cells.get());
        cairo_save(cr);
        cairo_translate(cr, mx, my);
        cairo_scale(cr, cell / px, cell / px);
        cairo_set_source_surface(cr, cells.get(), 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
        cairo_rectangle(cr, 0, 0, n * px, n * px);
        cairo_fill(cr);
        cairo_restore(cr);
        const Font value_font{std::min(9.5, cell * 0.24)};
        for (int r = 0; r < n && cell >= 26; ++r)
            for (int col = 0; col < n; ++col) {
                const double v = value(r, col);
                if (v < 0.005) continue;
                char buf[16];
                std::snprintf(buf, sizeof buf, "%.2f", v);
                c.set_colour(v < 0.55 ? Rgb{1, 1, 1} : kInk);
                c.text(buf, mx + (col + 0.5) * cell, my + (r + 0.5) * cell, value_font, 0.5, 0.5);
            }
        c.set_colour(kInk);
        c.rect(mx, my, side, side);
        cairo_set_line_width(cr, 0.8);
        cairo_stroke(cr);
        for (int i = 0; i < n; i += every) {
            const double at = (i + 0.5) * cell;
            c.line(mx - kTick, my + at, mx, my + at, 0.8);
            c.text(names[size_t(i)], mx - kTick - 3, my + at, name_font, 1, 0.5);
            c.line(mx + at, my + side, mx + at, my + side + kTick, 0.8);
            // turned about its end, which sits under the column
            c.text(names[size_t(i)], mx + at + (degrees < 90 ? name_h * 0.3 : 0), my + side + kTick + 2, name_font, 1,
                   0.5, degrees);
        }
        c.text(m.column_label, mx + side / 2, my + side + kTick + 4 + column_block + 6, kLabelFont, 0.5, 0);
        c.text(m.row_label, mx - kTick - 4 - name_w - 6, my + side / 2, kLabelFont, 0.5, 1, 90);

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
        for (double t : bar_axis.ticks) {
            const double ty = my + side - t * side;
            c.line(bx + kBarW, ty, bx + kBarW + kTick, ty, 0.8);
            c.text(bar_axis.label(t), bx + kBarW + kTick + 3, ty, kTickFont, 0, 0.5);
        }
        c.text(m.value_label, bx + kBarW + kTick + 3 + bar_tick_w + 6, my + side / 2, kLabelFont, 0.5, 0, 90);
    });
}

}  // namespace alexnet
