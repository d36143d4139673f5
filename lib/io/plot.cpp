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
        const int lx = kLeft + pw - 170;
        cv::line(img, {lx, legend_y - 5}, {lx + 28, legend_y - 5}, color, 2, cv::LINE_AA);
        put_text(img, s.name, {lx + 36, legend_y}, 0.45, -1);
        legend_y += 20;
    }
}

}  // namespace

void write_plot_png(const std::string& path, const std::vector<Panel>& panels) {
    check(!panels.empty(), path, "plot", "at least one panel", "none");
    cv::Mat img(kH, kW * int(panels.size()), CV_8UC3, kWhite);
    for (size_t i = 0; i < panels.size(); ++i) {
        cv::Mat view = img(cv::Rect(int(i) * kW, 0, kW, kH));
        draw_panel(view, panels[i]);
    }
    std::vector<uint8_t> png;
    if (!cv::imencode(".png", img, png)) throw Error(path, "could not encode the plot as PNG");
    AtomicFile out(path);
    out.write(png.data(), png.size());
    out.commit();
}

}  // namespace alexnet
