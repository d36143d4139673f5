#pragma once
// The image paths a tool works on, in input order: files as given, directories recursively in
// sorted order (jpg, jpeg, png, bmp, webp, tiff), and "-" for paths read from stdin, one per line.
// Paths come out lazily, so `find ... | alexnet-classify -` streams.
#include <istream>
#include <optional>
#include <string>
#include <vector>

namespace alexnet {

bool has_image_extension(const std::string& path);

// All image files below `dir`, sorted by path.
std::vector<std::string> list_images(const std::string& dir);

class PathSource {
public:
    explicit PathSource(std::vector<std::string> args, std::istream* stdin_stream = nullptr);
    std::optional<std::string> next();
    // The count, when no "-" argument makes it unknowable in advance (for sizing batches).
    // Directory listings made here are kept for next().
    std::optional<size_t> known_count();

private:
    const std::vector<std::string>& listing(size_t arg);
    std::vector<std::string> args_;
    size_t arg_ = 0;
    std::vector<std::vector<std::string>> listings_;  // per argument, once listed
    std::vector<bool> listed_;
    std::vector<std::string> pending_;  // a directory's listing being handed out
    size_t pending_at_ = 0;
    std::istream* stdin_;
    bool reading_stdin_ = false;
};

}  // namespace alexnet
