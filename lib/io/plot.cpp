#include "io/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.hpp"
#include "io/atomic_file.hpp"

namespace alexnet {

namespace {

constexpr int kW = 640, kH = 440, kLeft = 78, kRight = 20, kTop = 40, kBottom = 58;
const cv::Scalar kColors[] = {{200, 90, 30}, {40, 40, 220}, {40, 160, 40}, {160, 60, 160}, {20, 150, 220}, {90, 90, 90}};
const cv::Scalar kBlack(0, 0, 0), kGrid(225, 225, 225), kWhite(255, 255, 255);
const int kFont = cv::FONT_HERSHEY_SIMPLEX;

// About `target` round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int target) {
    const double span = hi - lo, raw = span / target;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (m * mag >= raw) {
            step = m * mag;
            break;
        }
    std::vector<double> out;
    for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * span; v += step) out.push_back(v);
    return out;
}

std::string fixed_text(double v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

std::string label(double v) {
    char buf[32];
    if (std::fabs(v) < 1e-12) return "0";
    std::snprintf(buf, sizeof buf, "%g", std::round(v * 1e6) / 1e6);
    return buf;
}

void put_text(cv::Mat& img, const std::string& s, cv::Point at, double scale, int align /*-1 left 0 center 1 right*/) {
    int base = 0;
    const cv::Size size = cv::getTextSize(s, kFont, scale, 1, &base);
    at.x -= align < 0 ? 0 : align == 0 ? size.width / 2 : size.width;
    cv::putText(img, s, at, kFont, scale, kBlack, 1, cv::LINE_AA);
}

void draw_panel(cv::Mat& img, const Panel& p) {
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (const auto& s : p.series)
        for (size_t i = 0; i < s.x.size(); ++i) {
            if (!std::isfinite(s.y[i])) continue;
            x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
            y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
        }
    if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
    if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
    const double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
    const std::vector<double> xt = ticks(x0, x1, 6), yt = ticks(y0, y1, 6);
    x0 = std::min(x0, xt.front()), x1 = std::max(x1, xt.back());
    y0 = std::min(y0, yt.front()), y1 = std::max(y1, yt.back());
    const int pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
    auto px = [&](double x) { return kLeft + int(std::lround((x - x0) / (x1 - x0) * pw)); };
    auto py = [&](double y) { return kTop + ph - int(std::lround((y - y0) / (y1 - y0) * ph)); };

    for (double t : xt) {
        cv::line(img, {px(t), kTop}, {px(t), kTop + ph}, kGrid, 1);
        cv::line(img, {px(t), kTop + ph}, {px(t), kTop + ph + 5}, kBlack, 1);
        put_text(img, label(t), {px(t), kTop + ph + 20}, 0.42, 0);
    }
    for (double t : yt) {
        cv::line(img, {kLeft, py(t)}, {kLeft + pw, py(t)}, kGrid, 1);
        cv::line(img, {kLeft - 5, py(t)}, {kLeft, py(t)}, kBlack, 1);
        put_text(img, label(t), {kLeft - 8, py(t) + 5}, 0.42, 1);
    }
    cv::rectangle(img, {kLeft, kTop}, {kLeft + pw, kTop + ph}, kBlack, 1);
    put_text(img, p.title, {kLeft + pw / 2, 26}, 0.6, 0);
    put_text(img, p.x_label, {kLeft + pw / 2, kH - 14}, 0.5, 0);
    {  // y label, rotated
        int base = 0;
        const cv::Size size = cv::getTextSize(p.y_label, kFont, 0.5, 1, &base);
        cv::Mat text(size.height + base + 4, size.width + 4, CV_8UC3, kWhite);
        cv::putText(text, p.y_label, {2, size.height + 2}, kFont, 0.5, kBlack, 1, cv::LINE_AA);
        cv::Mat rotated;
        cv::rotate(text, rotated, cv::ROTATE_90_COUNTERCLOCKWISE);
        const int x = 6, y = std::max(0, kTop + ph / 2 - rotated.rows / 2);
        if (y + rotated.rows <= img.rows && x + rotated.cols <= img.cols)
            rotated.copyTo(img(cv::Rect(x, y, rotated.cols, rotated.rows)));
    }
    int legend_y = kTop + 18;
    for (size_t k = 0; k < p.series.size(); ++k) {
        const Series& s = p.series[k];
        const cv::Scalar color = kColors[k % std::size(kColors)];
        for (size_t i = 0; i + 1 < s.x.size(); ++i) {
            if (!std::isfinite(s.y[i]) || !std::isfinite(s.y[i + 1])) continue;
            const cv::Point a{px(s.x[i]), py(s.y[i])}, b{px(s.x[i + 1]), py(s.y[i + 1])};
            if (!s.dashed) {
                cv::line(img, a, b, color, 2, cv::LINE_AA);
                continue;
            }
            const double len = std::hypot(b.x - a.x, b.y - a.y);
            for (double t = 0; t < len; t += 12) {
                const double u = t / len, v = std::min(1.0, (t + 7) / len);
                cv::line(img, a + (b - a) * u, a + (b - a) * v, color, 2, cv::LINE_AA);
            }
        }
        if (s.x.size() <= 60)
            for (size_t i = 0; i < s.x.size(); ++i)
                if (std::isfinite(s.y[i])) cv::circle(img, {px(s.x[i]), py(s.y[i])}, 3, color, cv::FILLED, cv::LINE_AA);
    }
    // The legend on a white box in the top corner (right or left) that hides fewer points.
    const int box_h = 20 * int(p.series.size()) + 8;
    auto hidden = [&](int x0) {
        int n = 0;
        for (const auto& s : p.series)
            for (size_t i = 0; i < s.x.size(); ++i)
                if (std::isfinite(s.y[i])) {
                    const int x = px(s.x[i]), y = py(s.y[i]);
                    n += x >= x0 - 8 && x <= x0 + 164 && y >= kTop + 4 && y <= kTop + 4 + box_h;
                }
        return n;
    };
    const int right = kLeft + pw - 170, left = kLeft + 16;
    const int lx = hidden(left) < hidden(right) ? left : right;
    cv::rectangle(img, cv::Rect(lx - 8, kTop + 4, 172, 20 * int(p.series.size()) + 8), kWhite, cv::FILLED);
    cv::rectangle(img, cv::Rect(lx - 8, kTop + 4, 172, 20 * int(p.series.size()) + 8), kGrid, 1);
    for (size_t k = 0; k < p.series.size(); ++k) {
        const cv::Scalar color = kColors[k % std::size(kColors)];
        if (p.series[k].dashed)
            for (int t = 0; t < 28; t += 12) cv::line(img, {lx + t, legend_y - 5}, {lx + std::min(28, t + 7), legend_y - 5}, color, 2, cv::LINE_AA);
        else
            cv::line(img, {lx, legend_y - 5}, {lx + 28, legend_y - 5}, color, 2, cv::LINE_AA);
        put_text(img, p.series[k].name, {lx + 36, legend_y}, 0.45, -1);
        legend_y += 20;
    }
}

void write_png(const std::string& path, const cv::Mat& img) {
    std::vector<uint8_t> png;
    if (!cv::imencode(".png", img, png)) throw Error(path, "could not encode the image as PNG");
    AtomicFile out(path);
    out.write(png.data(), png.size());
    out.commit();
}

std::string shorten(const std::string& s, size_t max) { return s.size() <= max ? s : s.substr(0, max - 1) + "."; }

}  // namespace

void write_heatmap_png(const std::string& path, const std::string& title, const std::vector<double>& values, int n,
                       const std::vector<std::string>& names, const std::string& row_label,
                       const std::string& column_label) {
    check(n > 0 && values.size() == size_t(n) * n, path, "heat map", "n x n values", std::to_string(values.size()));
    const int cell = std::max(4, std::min(48, 720 / n));
    const int left = 150, top = 50, bottom = 160, bar = 70;
    const int side = cell * n;
    cv::Mat img(top + side + bottom, left + side + bar + 60, CV_8UC3, kWhite);
    cv::Mat grey(1, 256, CV_8UC1);
    for (int i = 0; i < 256; ++i) grey.at<uint8_t>(0, i) = uint8_t(i);
    cv::Mat palette;
    cv::applyColorMap(grey, palette, cv::COLORMAP_VIRIDIS);
    auto colour = [&](double v) {
        const int i = std::clamp(int(std::lround(v * 255)), 0, 255);
        const cv::Vec3b c = palette.at<cv::Vec3b>(0, i);
        return cv::Scalar(c[0], c[1], c[2]);
    };
    for (int r = 0; r < n; ++r)
        for (int c = 0; c < n; ++c) {
            const double v = values[size_t(r) * n + c];
            const cv::Rect box(left + c * cell, top + r * cell, cell, cell);
            cv::rectangle(img, box, colour(v), cv::FILLED);
            if (cell >= 36 && v >= 0.005)
                cv::putText(img, fixed_text(v), {box.x + 3, box.y + cell / 2 + 4}, kFont, 0.33,
                            v > 0.6 ? kBlack : kWhite, 1, cv::LINE_AA);
        }
    cv::rectangle(img, cv::Rect(left, top, side, side), kBlack, 1);
    const int every = n <= 30 ? 1 : (n + 29) / 30;
    for (int i = 0; i < n; i += every) {
        const std::string name = shorten(i < int(names.size()) ? names[size_t(i)] : std::to_string(i), 18);
        put_text(img, name, {left - 6, top + i * cell + cell / 2 + 4}, 0.38, 1);
        cv::Mat text(18, 130, CV_8UC3, kWhite);  // column names, written sideways
        put_text(text, name, {128, 13}, 0.38, 1);
        cv::Mat turned;
        cv::rotate(text, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
        const int x = left + i * cell + cell / 2 - 9;
        if (x >= 0 && x + turned.cols <= img.cols) turned.copyTo(img(cv::Rect(x, top + side + 2, turned.cols, turned.rows)));
    }
    put_text(img, title, {img.cols / 2, 28}, 0.55, 0);
    put_text(img, row_label, {8, top - 8}, 0.4, -1);
    put_text(img, column_label, {left + side / 2, top + side + 146}, 0.4, 0);
    const int bx = left + side + 20;
    for (int y = 0; y < side; ++y) cv::line(img, {bx, top + y}, {bx + 18, top + y}, colour(1.0 - double(y) / side));
    cv::rectangle(img, cv::Rect(bx, top, 18, side), kBlack, 1);
    for (double v : {0.0, 0.25, 0.5, 0.75, 1.0})
        put_text(img, label(v), {bx + 22, top + int((1 - v) * side) + 4}, 0.38, -1);
    write_png(path, img);
}

void write_plot_png(const std::string& path, const std::vector<Panel>& panels) {
    check(!panels.empty(), path, "plot", "at least one panel", "none");
    cv::Mat img(kH, kW * int(panels.size()), CV_8UC3, kWhite);
    for (size_t i = 0; i < panels.size(); ++i) {
        cv::Mat view = img(cv::Rect(int(i) * kW, 0, kW, kH));
        draw_panel(view, panels[i]);
    }
    write_png(path, img);
}

}  // namespace alexnet
