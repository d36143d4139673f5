#pragma once
// A sheet of image rows, as the paper's Figure 4: each row a query image, then its neighbours,
// every image a thumbnail with a caption or two beneath it. PNG and SVG (canvas.hpp).
#include <cstdint>
#include <string>
#include <vector>

namespace alexnet {

struct SheetImage {
    int width = 0, height = 0;
    std::vector<uint8_t> rgb;         // height x width x 3, empty: a grey box (the image could not be read)
    std::vector<std::string> caption;  // lines beneath it
};

struct SheetRow {
    SheetImage query;
    std::vector<SheetImage> neighbours;
};

struct ImageSheet {
    std::string title, subtitle;
    std::vector<SheetRow> rows;
};

// Writes `png_path` and the SVG beside it, atomically.
void write_image_sheet(const std::string& png_path, const ImageSheet& sheet);

}  // namespace alexnet
