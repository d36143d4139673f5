#include "search/neighbour_sheet.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <opencv2/imgproc.hpp>

#include "core/error.hpp"
#include "core/regular_file.hpp"
#include "data/decode.hpp"
#include "data/labelled_set.hpp"
#include "figures/image_sheet.hpp"
#include "figures/plot.hpp"

namespace alexnet {

namespace fs = std::filesystem;

namespace {

constexpr int kThumbPixels = 160;  // the longer side of a stored thumbnail

// Images by path, the in-memory data sets opened once each.
class ImageFetcher {
public:
    cv::Mat fetch(const std::string& path) {
        const size_t hash = path.rfind('#');
        // "SET#ITEM": item ITEM of a data set (at most 9 digits: below any set's size limit)
        if (hash != std::string::npos && hash + 1 < path.size() && path.size() - hash - 1 <= 9 && !path_exists(path) &&
            path.find_first_not_of("0123456789", hash + 1) == std::string::npos && path_exists(path.substr(0, hash))) {
            const std::string source = path.substr(0, hash);
            auto it = sets_.find(source);
            if (it == sets_.end())
                it = sets_.emplace(source, std::make_unique<LabelledSet>(open_labelled_set(source, Split::train))).first;
            const long long k = std::stoll(path.substr(hash + 1));
            check(k < it->second->size(), path, "item", "below " + std::to_string(it->second->size()), std::to_string(k));
            return it->second->image(int(k));
        }
        return read_image(path, {kThumbPixels, true});
    }

private:
    std::map<std::string, std::unique_ptr<LabelledSet>> sets_;
};

SheetImage thumbnail(ImageFetcher& fetcher, const SheetItem& item) {
    SheetImage im;
    im.caption.push_back(item.distance < 0 ? "query" : "d " + short_number(item.distance));
    if (!item.label.empty()) im.caption.push_back(item.label);
    try {
        cv::Mat bgr = fetcher.fetch(item.path), small, rgb;
        const double scale = double(kThumbPixels) / std::max(bgr.cols, bgr.rows);
        if (scale < 1)
            cv::resize(bgr, small, cv::Size(), scale, scale, cv::INTER_AREA);
        else
            small = bgr;
        cv::cvtColor(small, rgb, small.channels() == 1 ? cv::COLOR_GRAY2RGB : cv::COLOR_BGR2RGB);
        im.width = rgb.cols, im.height = rgb.rows;
        im.rgb.assign(rgb.data, rgb.data + size_t(rgb.cols) * rgb.rows * 3);
    } catch (const Error&) {
        im.caption.push_back("(unreadable)");  // drawn as a grey box
    }
    return im;
}

}  // namespace

void write_neighbour_sheet(const std::string& png_path, const std::string& title, const std::string& subtitle,
                           const std::vector<NeighbourRow>& rows) {
    ImageFetcher fetcher;
    ImageSheet sheet{title, subtitle, {}};
    for (const NeighbourRow& r : rows) {
        SheetRow row{thumbnail(fetcher, r.query), {}};
        for (const SheetItem& n : r.neighbours) row.neighbours.push_back(thumbnail(fetcher, n));
        sheet.rows.push_back(std::move(row));
    }
    write_image_sheet(png_path, sheet);
}

}  // namespace alexnet
