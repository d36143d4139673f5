#include "data/inputs.hpp"

#include <algorithm>
#include <filesystem>
#include <iostream>

namespace alexnet {

namespace fs = std::filesystem;

bool has_image_extension(const std::string& path) {
    std::string ext = fs::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const char* known : {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
        if (ext == known) return true;
    return false;
}

std::vector<std::string> list_images(const std::string& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    const auto options = fs::directory_options::follow_directory_symlink | fs::directory_options::skip_permission_denied;
    for (fs::recursive_directory_iterator it(dir, options, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code type_ec;
        if (it->is_regular_file(type_ec) && has_image_extension(it->path().string()))
            out.push_back(it->path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

PathSource::PathSource(std::vector<std::string> args, std::istream* stdin_stream)
    : args_(std::move(args)), listings_(args_.size()), listed_(args_.size(), false),
      stdin_(stdin_stream ? stdin_stream : &std::cin) {}

const std::vector<std::string>& PathSource::listing(size_t arg) {
    if (!listed_[arg]) {
        listings_[arg] = list_images(args_[arg]);
        listed_[arg] = true;
    }
    return listings_[arg];
}

std::optional<std::string> PathSource::next() {
    while (true) {
        if (pending_at_ < pending_.size()) return pending_[pending_at_++];
        if (reading_stdin_) {
            std::string line;
            while (std::getline(*stdin_, line)) {
                if (!line.empty() && line.back() == '\r') line.pop_back();
                if (!line.empty()) return line;
            }
            reading_stdin_ = false;
        }
        if (arg_ >= args_.size()) return std::nullopt;
        const size_t at = arg_++;
        const std::string& a = args_[at];
        std::error_code ec;
        if (a == "-") {
            reading_stdin_ = true;
        } else if (fs::is_directory(a, ec)) {
            pending_ = std::move(listings_[at]);
            if (!listed_[at]) pending_ = list_images(a);
            listed_[at] = false;
            pending_at_ = 0;
        } else {
            return a;  // a file, or a path that fails later with its own error line
        }
    }
}

std::optional<size_t> PathSource::known_count() {
    size_t n = 0;
    for (size_t i = 0; i < args_.size(); ++i) {
        if (args_[i] == "-") return std::nullopt;
        std::error_code ec;
        n += fs::is_directory(args_[i], ec) ? listing(i).size() : 1;
    }
    return n;
}

}  // namespace alexnet
