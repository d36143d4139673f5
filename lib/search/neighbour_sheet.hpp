#pragma once
// The paper's Figure 4 for alexnet-search query --sheet: each query image and its neighbours as
// thumbnails, captioned with their distance and class. Images are read again from their paths;
// items of in-memory data sets ("train-images-idx3-ubyte.gz#17") from the set itself.
#include <string>
#include <vector>

namespace alexnet {

struct SheetItem {
    std::string path;
    std::string label;      // the class name, "" when unknown
    double distance = -1;   // -1: the query itself
};

struct NeighbourRow {
    SheetItem query;
    std::vector<SheetItem> neighbours;
};

void write_neighbour_sheet(const std::string& png_path, const std::string& title, const std::string& subtitle,
                           const std::vector<NeighbourRow>& rows);

}  // namespace alexnet
