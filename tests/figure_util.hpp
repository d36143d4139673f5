#pragma once
// Reading back a figure the suite wrote: the PNG and the SVG of the same name beside it.
#include <doctest/doctest.h>

#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <regex>
#include <sstream>
#include <string>

namespace alexnet::test {

struct WrittenFigure {
    cv::Mat png;                  // BGR
    double svg_w = 0, svg_h = 0;  // points, from the SVG's root element
};

inline WrittenFigure read_figure(const std::string& png_path) {
    WrittenFigure f;
    f.png = cv::imread(png_path);
    const std::string svg_path = png_path.substr(0, png_path.rfind('.')) + ".svg";
    std::ifstream in(svg_path);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    std::smatch m;
    INFO(svg_path);
    CHECK(text.rfind("<?xml", 0) == 0);
    CHECK(text.find("</svg>") != std::string::npos);
    if (std::regex_search(text, m, std::regex("<svg[^>]* width=\"([0-9.]+)pt\" height=\"([0-9.]+)pt\"")))
        f.svg_w = std::stod(m[1]), f.svg_h = std::stod(m[2]);
    // One drawing: the PNG has two pixels per point of the SVG.
    CHECK(f.png.cols == int(std::ceil(f.svg_w * 2)));
    CHECK(f.png.rows == int(std::ceil(f.svg_h * 2)));
    return f;
}

// The PNG's size within [min, max] pixels a side.
inline void check_png_size(const WrittenFigure& f, int min_cols, int max_cols, int min_rows, int max_rows) {
    CHECK(f.png.cols >= min_cols);
    CHECK(f.png.cols <= max_cols);
    CHECK(f.png.rows >= min_rows);
    CHECK(f.png.rows <= max_rows);
}

// How many pixels have exactly the colour 0xRRGGBB (a series' colour where its line is solid).
inline int count_colour(const cv::Mat& bgr, unsigned rgb) {
    const cv::Vec3b want(rgb & 255, (rgb >> 8) & 255, (rgb >> 16) & 255);
    int n = 0;
    for (int r = 0; r < bgr.rows; ++r)
        for (int c = 0; c < bgr.cols; ++c) n += bgr.at<cv::Vec3b>(r, c) == want;
    return n;
}

}  // namespace alexnet::test
