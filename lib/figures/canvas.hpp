#pragma once
// What the figures (plot.cpp, heatmap.cpp) share: text measured and drawn with cairo in points,
// the colour-blind-safe palettes, and one drawing rendered to a PNG and an SVG, both written
// atomically. Internal to lib/io; callers use plot.hpp.
#include <cairo.h>

#include <functional>
#include <string>
#include <vector>

namespace alexnet {

constexpr double kPngScale = 2;  // PNG pixels per point (144 dpi)
constexpr const char* kFontFamily = "DejaVu Sans";

struct Rgb {
    double r = 0, g = 0, b = 0;
};
Rgb hex_rgb(unsigned hex);

// Viridis (perceptually uniform, readable in grey and by colour-blind readers) at v in [0, 1].
Rgb viridis(double v);

struct Font {
    double size = 10;
    bool bold = false;
};

// Text extents without a surface, as drawn (hinting off, so a PNG and an SVG lay out alike).
double text_width(const std::string& s, Font f);
double text_height(Font f);  // ascent + descent of the font

// `s` cut to at most `max_width` points, ending in an ellipsis when cut.
std::string fit_text(const std::string& s, Font f, double max_width);

// `s` broken at spaces into lines no wider than `max_width` (a word wider than that stands alone).
std::vector<std::string> wrap_text(const std::string& s, Font f, double max_width);

// A cairo context in points with the suite's text settings.
class Canvas {
public:
    explicit Canvas(cairo_t* cr);
    cairo_t* cr() const { return cr_; }
    void set_colour(Rgb c, double alpha = 1);
    // Text whose anchor (x, y) is at horizontal `align` (0 left, 0.5 centre, 1 right) and vertical
    // `valign` (0 top, 0.5 middle, 1 bottom of the font box), turned by `degrees` anticlockwise
    // about the anchor.
    void text(const std::string& s, double x, double y, Font f, double align = 0, double valign = 1, double degrees = 0);
    void line(double x0, double y0, double x1, double y1, double width);
    void rect(double x, double y, double w, double h);  // a path, to fill or stroke

private:
    cairo_t* cr_;
};

// Calls `draw` once onto a width x height point PNG (kPngScale pixels per point) and once onto an
// SVG of the same size, then writes `png_path` and the same name with `.svg`, each atomically.
// The SVG carries `title` as its <title> (cairo draws text as glyph outlines: this is the text a
// browser, a screen reader or a search finds).
void write_png_and_svg(const std::string& png_path, double width, double height, const std::string& title,
                       const std::function<void(Canvas&)>& draw);

// `png_path` with its extension replaced by `.svg` (or `.svg` appended when it has none).
std::string svg_path_beside(const std::string& png_path);

}  // namespace alexnet
