#include "figures/canvas.hpp"

#include <cairo-svg.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>

#include "core/error.hpp"
#include "io/atomic_file.hpp"

namespace alexnet {

namespace {

// Hinting off: glyph advances are then the same at every scale, on the PNG and in the SVG.
void set_text_options(cairo_t* cr) {
    cairo_font_options_t* fo = cairo_font_options_create();
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    cairo_set_font_options(cr, fo);
    cairo_font_options_destroy(fo);
}

void select_font(cairo_t* cr, Font f) {
    cairo_select_font_face(cr, kFontFamily, CAIRO_FONT_SLANT_NORMAL, f.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, f.size);
}

// A context on a 1x1 surface, for measuring text before anything is drawn.
cairo_t* measuring_context() {
    struct Holder {
        cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
        cairo_t* cr = cairo_create(surface);
        Holder() { set_text_options(cr); }
        ~Holder() { cairo_destroy(cr), cairo_surface_destroy(surface); }
    };
    thread_local Holder h;
    return h.cr;
}

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
    return CAIRO_STATUS_SUCCESS;
}

void check_cairo(cairo_status_t status, const std::string& path) {
    if (status != CAIRO_STATUS_SUCCESS) throw Error(path, std::string("could not draw the figure: ") + cairo_status_to_string(status));
}

}  // namespace

Rgb hex_rgb(unsigned hex) { return {((hex >> 16) & 255) / 255.0, ((hex >> 8) & 255) / 255.0, (hex & 255) / 255.0}; }

Rgb viridis(double v) {
    // matplotlib's viridis at 0, 1/8, ..., 1; linear in between.
    static const unsigned stops[] = {0x440154, 0x46327e, 0x365c8d, 0x277f8e, 0x1fa187, 0x4ac16d, 0x9fda3a, 0xd8e219, 0xfde725};
    v = std::clamp(std::isfinite(v) ? v : 0.0, 0.0, 1.0) * 8;
    const int i = std::min(7, int(v));
    const double t = v - i;
    const Rgb a = hex_rgb(stops[i]), b = hex_rgb(stops[i + 1]);
    return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t};
}

double text_width(const std::string& s, Font f) {
    cairo_t* cr = measuring_context();
    select_font(cr, f);
    cairo_text_extents_t e;
    cairo_text_extents(cr, s.c_str(), &e);
    return e.x_advance;
}

double text_height(Font f) {
    cairo_t* cr = measuring_context();
    select_font(cr, f);
    cairo_font_extents_t e;
    cairo_font_extents(cr, &e);
    return e.ascent + e.descent;
}

std::string fit_text(const std::string& s, Font f, double max_width) {
    if (text_width(s, f) <= max_width) return s;
    std::string cut = s;
    while (!cut.empty()) {
        do cut.pop_back();
        while (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xC0) == 0x80);  // whole UTF-8 characters
        if (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0x80)) cut.pop_back();
        if (text_width(cut + "\u2026", f) <= max_width) return cut + "\u2026";
    }
    return "\u2026";
}

std::vector<std::string> wrap_text(const std::string& s, Font f, double max_width) {
    std::vector<std::string> lines;
    std::string line;
    size_t at = 0;
    while (at < s.size()) {
        size_t end = s.find(' ', at);
        if (end == std::string::npos) end = s.size();
        const std::string word = s.substr(at, end - at);
        at = end + 1;
        if (word.empty()) continue;
        const std::string longer = line.empty() ? word : line + " " + word;
        if (line.empty() || text_width(longer, f) <= max_width) {
            line = longer;
        } else {
            lines.push_back(line);
            line = word;
        }
    }
    if (!line.empty()) lines.push_back(line);
    return lines;
}

Canvas::Canvas(cairo_t* cr) : cr_(cr) {
    set_text_options(cr_);
    cairo_set_line_join(cr_, CAIRO_LINE_JOIN_ROUND);
}

void Canvas::set_colour(Rgb c, double alpha) { cairo_set_source_rgba(cr_, c.r, c.g, c.b, alpha); }

void Canvas::text(const std::string& s, double x, double y, Font f, double align, double valign, double degrees) {
    select_font(cr_, f);
    cairo_font_extents_t fe;
    cairo_font_extents(cr_, &fe);
    const double w = text_width(s, f);
    cairo_save(cr_);
    cairo_translate(cr_, x, y);
    cairo_rotate(cr_, -degrees * std::numbers::pi / 180);
    // baseline below the anchor: the top of the font box is at valign 0, its bottom at 1
    cairo_move_to(cr_, -align * w, fe.ascent - valign * (fe.ascent + fe.descent));
    cairo_show_text(cr_, s.c_str());
    cairo_restore(cr_);
}

void Canvas::line(double x0, double y0, double x1, double y1, double width) {
    cairo_set_line_width(cr_, width);
    cairo_move_to(cr_, x0, y0);
    cairo_line_to(cr_, x1, y1);
    cairo_stroke(cr_);
}

void Canvas::rect(double x, double y, double w, double h) { cairo_rectangle(cr_, x, y, w, h); }

std::string svg_path_beside(const std::string& png_path) {
    const size_t slash = png_path.find_last_of('/'), dot = png_path.find_last_of('.');
    const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash + 1);
    return (has_ext ? png_path.substr(0, dot) : png_path) + ".svg";
}

void write_png_and_svg(const std::string& png_path, double width, double height, const std::string& title,
                       const std::function<void(Canvas&)>& draw) {
    const std::string svg_path = svg_path_beside(png_path);
    std::string png, svg;
    {
        const int w = int(std::ceil(width * kPngScale)), h = int(std::ceil(height * kPngScale));
        std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface(
            cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h), cairo_surface_destroy);
        check_cairo(cairo_surface_status(surface.get()), png_path);
        std::unique_ptr<cairo_t, decltype(&cairo_destroy)> cr(cairo_create(surface.get()), cairo_destroy);
        cairo_scale(cr.get(), kPngScale, kPngScale);
        cairo_set_source_rgb(cr.get(), 1, 1, 1);
        cairo_paint(cr.get());
        Canvas canvas(cr.get());
        draw(canvas);
        check_cairo(cairo_status(cr.get()), png_path);
        cairo_surface_flush(surface.get());
        check_cairo(cairo_surface_write_to_png_stream(surface.get(), append_bytes, &png), png_path);
    }
    {
        std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface(
            cairo_svg_surface_create_for_stream(append_bytes, &svg, width, height), cairo_surface_destroy);
        check_cairo(cairo_surface_status(surface.get()), svg_path);
        cairo_svg_surface_set_document_unit(surface.get(), CAIRO_SVG_UNIT_PT);
        std::unique_ptr<cairo_t, decltype(&cairo_destroy)> cr(cairo_create(surface.get()), cairo_destroy);
        cairo_set_source_rgb(cr.get(), 1, 1, 1);
        cairo_paint(cr.get());
        Canvas canvas(cr.get());
        draw(canvas);
        check_cairo(cairo_status(cr.get()), svg_path);
        cr.reset();
        cairo_surface_finish(surface.get());
        check_cairo(cairo_surface_status(surface.get()), svg_path);
    }
    if (const size_t root = svg.find("<svg"); root != std::string::npos && !title.empty()) {
        std::string escaped;
        for (const char ch : title)  // control characters are not allowed in XML 1.0: a space instead
            escaped += ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '&' ? "&amp;"
                       : (unsigned char)ch < 0x20 ? std::string(" ") : std::string(1, ch);
        const size_t end = svg.find('>', root);
        if (end != std::string::npos) svg.insert(end + 1, "\n<title>" + escaped + "</title>");
    }
    AtomicFile png_file(png_path), svg_file(svg_path);
    png_file.write(png);
    svg_file.write(svg);
    png_file.commit();
    svg_file.commit();
}

}  // namespace alexnet
