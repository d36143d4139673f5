#include "figures/image_sheet.hpp"

#include <algorithm>
#include <memory>

#include "core/error.hpp"
#include "figures/canvas.hpp"

namespace alexnet {

namespace {

constexpr double kThumb = 64;    // points: the longer side of a thumbnail
constexpr double kGap = 8;       // between thumbnails
constexpr double kQueryGap = 20; // between the query and its neighbours
constexpr double kMargin = 16;
const Font kTitle{12, true}, kSubtitle{9, false}, kCaption{7, false};

// The image as a cairo surface (xRGB, the format cairo draws from).
std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface_of(const SheetImage& im) {
    std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> s(
        cairo_image_surface_create(CAIRO_FORMAT_RGB24, im.width, im.height), cairo_surface_destroy);
    cairo_surface_flush(s.get());
    unsigned char* data = cairo_image_surface_get_data(s.get());
    const int stride = cairo_image_surface_get_stride(s.get());
    for (int y = 0; y < im.height; ++y)
        for (int x = 0; x < im.width; ++x) {
            const uint8_t* p = &im.rgb[(size_t(y) * im.width + x) * 3];
            auto* out = reinterpret_cast<uint32_t*>(data + size_t(y) * stride) + x;
            *out = uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2];
        }
    cairo_surface_mark_dirty(s.get());
    return s;
}

// One thumbnail in a kThumb square cell at (x, y), scaled to fit (nearest neighbour when enlarged,
// so small images such as Fashion-MNIST's stay sharp), and its caption lines below.
void draw_thumbnail(Canvas& c, const SheetImage& im, double x, double y) {
    cairo_t* cr = c.cr();
    const bool readable = im.width > 0 && im.height > 0 && im.rgb.size() == size_t(im.width) * im.height * 3;
    if (readable) {
        const double scale = kThumb / std::max(im.width, im.height);
        const double w = im.width * scale, h = im.height * scale;
        auto surface = surface_of(im);
        cairo_save(cr);
        cairo_translate(cr, x + (kThumb - w) / 2, y + (kThumb - h) / 2);
        cairo_scale(cr, scale, scale);
        cairo_set_source_surface(cr, surface.get(), 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr), scale > 1 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
        cairo_paint(cr);
        cairo_restore(cr);
    } else {
        c.set_colour(hex_rgb(0xdddddd));
        c.rect(x, y, kThumb, kThumb);
        cairo_fill(cr);
    }
    c.set_colour(hex_rgb(0x222222));
    double ty = y + kThumb + 2;
    for (const std::string& line : im.caption) {
        c.text(fit_text(line, kCaption, kThumb + kGap - 2), x + kThumb / 2, ty, kCaption, 0.5, 0);
        ty += text_height(kCaption);
    }
}

}  // namespace

void write_image_sheet(const std::string& png_path, const ImageSheet& sheet) {
    check(!sheet.rows.empty(), png_path, "sheet", "at least one row", "none");
    size_t columns = 0, caption_lines = 0;
    for (const SheetRow& r : sheet.rows) {
        columns = std::max(columns, r.neighbours.size());
        caption_lines = std::max(caption_lines, r.query.caption.size());
        for (const SheetImage& n : r.neighbours) caption_lines = std::max(caption_lines, n.caption.size());
    }
    const double row_height = kThumb + 4 + caption_lines * text_height(kCaption) + kGap;
    const double head = kMargin + text_height(kTitle) + 4 + text_height(kSubtitle) + 10 + text_height(kCaption) + 4;
    const double width = 2 * kMargin + kThumb + kQueryGap + columns * (kThumb + kGap) - kGap;
    const double height = head + sheet.rows.size() * row_height + kMargin - kGap;
    write_png_and_svg(png_path, std::max(width, 320.0), height, sheet.title, [&](Canvas& c) {
        c.set_colour(hex_rgb(0x111111));
        c.text(fit_text(sheet.title, kTitle, width - 2 * kMargin), kMargin, kMargin, kTitle, 0, 0);
        c.set_colour(hex_rgb(0x555555));
        c.text(fit_text(sheet.subtitle, kSubtitle, std::max(width, 320.0) - 2 * kMargin), kMargin,
               kMargin + text_height(kTitle) + 4, kSubtitle, 0, 0);
        const double labels_y = head - text_height(kCaption) - 4;
        const double first = kMargin + kThumb + kQueryGap;
        c.text("query", kMargin + kThumb / 2, labels_y, kCaption, 0.5, 0);
        for (size_t j = 0; j < columns; ++j)
            c.text("neighbour " + std::to_string(j + 1), first + j * (kThumb + kGap) + kThumb / 2, labels_y, kCaption, 0.5, 0);
        for (size_t i = 0; i < sheet.rows.size(); ++i) {
            const double y = head + i * row_height;
            draw_thumbnail(c, sheet.rows[i].query, kMargin, y);
            c.set_colour(hex_rgb(0xbbbbbb));
            c.line(kMargin + kThumb + kQueryGap / 2, y, kMargin + kThumb + kQueryGap / 2, y + kThumb, 0.75);
            for (size_t j = 0; j < sheet.rows[i].neighbours.size(); ++j)
                draw_thumbnail(c, sheet.rows[i].neighbours[j], first + j * (kThumb + kGap), y);
        }
    });
}

}  // namespace alexnet
