#include "data/inputs.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/error.hpp"

namespace alexnet {

namespace fs = std::filesystem;

namespace {

constexpr const char* kImageExtensions[] = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"};

std::string lower_extension(const std::string& path) {
    std::string ext = fs::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return ext;
}

}  // namespace

bool has_image_extension(const std::string& path) {
    const std::string ext = lower_extension(path);
    return std::any_of(std::begin(kImageExtensions), std::end(kImageExtensions), [&](const char* e) { return ext == e; });
}

Listing list_images(const std::string& dir) {
    Listing out;
    std::set<std::pair<dev_t, ino_t>> entered;
    std::vector<std::string> stack{dir};
    while (!stack.empty()) {  // iterative: a deep tree cannot overflow the stack
        const std::string at = std::move(stack.back());
        stack.pop_back();
        struct stat st {};
        if (::stat(at.c_str(), &st) != 0) continue;
        if (!entered.insert({st.st_dev, st.st_ino}).second) {
            out.loops.push_back(at);
            continue;
        }
        std::error_code ec;
        for (fs::directory_iterator it(at, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
             it.increment(ec)) {
            const std::string path = it->path().string();
            struct stat entry {};
            if (::stat(path.c_str(), &entry) != 0) continue;  // a dangling link
            if (S_ISDIR(entry.st_mode)) {
                stack.push_back(path);
            } else if (S_ISREG(entry.st_mode) && has_image_extension(path)) {
                out.images.push_back(path);
            } else if (it->path().filename().string()[0] != '.') {  // hidden files are no one's images
                const std::string ext = S_ISREG(entry.st_mode) ? lower_extension(path) : "";
                ++out.skipped[S_ISREG(entry.st_mode) ? (ext.empty() ? "no extension" : ext) : "not a regular file"];
            }
        }
    }
    std::sort(out.images.begin(), out.images.end());
    return out;
}

PathSource::PathSource(std::vector<std::string> args, bool null_separated, int stdin_fd)
    : args_(std::move(args)), null_separated_(null_separated), stdin_fd_(stdin_fd), listings_(args_.size()),
      listed_(args_.size(), false) {}

Listing& PathSource::listing(size_t arg) {
    if (!listed_[arg]) {
        listings_[arg] = list_images(args_[arg]);
        listed_[arg] = true;
    }
    return listings_[arg];
}

// One path from stdin: waits at most `timeout_ms` (-1: for ever) for it.
std::optional<std::string> PathSource::read_stdin(int timeout_ms, bool& timed_out) {
    const char separator = null_separated_ ? '\0' : '\n';
    while (true) {
        const size_t end = stdin_buffer_.find(separator);
        if (end != std::string::npos || (stdin_done_ && !stdin_buffer_.empty())) {
            std::string line = stdin_buffer_.substr(0, end);
            stdin_buffer_.erase(0, end == std::string::npos ? std::string::npos : end + 1);
            ++stdin_lines_;
            if (!null_separated_) {
                if (line.find('\0') != std::string::npos)
                    throw UsageError("stdin: line " + std::to_string(stdin_lines_) +
                                     ": expected paths one per line, found a NUL byte (for find -print0 output, pass "
                                     "-0/--null)");
                if (!line.empty() && line.back() == '\r') line.pop_back();
            }
            if (!line.empty()) return line;
            continue;
        }
        if (stdin_done_) return std::nullopt;
        if (timeout_ms >= 0) {
            pollfd p{stdin_fd_, POLLIN, 0};
            const int ready = ::poll(&p, 1, timeout_ms);
            if (ready == 0) {
                timed_out = true;
                return std::nullopt;
            }
        }
        char buf[65536];
        const ssize_t n = ::read(stdin_fd_, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error("stdin", std::string("cannot read: ") + std::strerror(errno));
        if (n == 0)
            stdin_done_ = true;
        else
            stdin_buffer_.append(buf, size_t(n));
    }
}

void PathSource::keep_share(int block, int index, int processes) {
    check(block > 0 && processes > 0 && index >= 0 && index < processes, "inputs", "share",
          "a block > 0 and a process index below the process count",
          std::to_string(block) + ", " + std::to_string(index) + " of " + std::to_string(processes));
    share_block_ = block, share_index_ = index, share_processes_ = processes;
}

std::optional<std::string> PathSource::next(int timeout_ms) {
    while (std::optional<std::string> path = next_path(timeout_ms)) {
        const size_t p = position_++;
        if (int((p / size_t(share_block_)) % size_t(share_processes_)) == share_index_) return path;
    }
    return std::nullopt;
}

std::optional<std::string> PathSource::next_path(int timeout_ms) {
    while (true) {
        if (pending_at_ < pending_.size()) {
            ++handed_out_;
            return pending_[pending_at_++];
        }
        if (reading_stdin_) {
            bool timed_out = false;
            if (auto line = read_stdin(timeout_ms, timed_out)) {
                ++handed_out_;
                return line;
            }
            if (timed_out) return std::nullopt;
            reading_stdin_ = false;
        }
        if (arg_ >= args_.size()) return std::nullopt;
        const size_t at = arg_++;
        const std::string& a = args_[at];
        std::error_code ec;
        if (a == "-") {
            reading_stdin_ = true;
        } else if (fs::is_directory(a, ec)) {
            Listing l = std::move(listing(at));
            listed_[at] = false;
            pending_ = std::move(l.images);
            pending_at_ = 0;
            for (const auto& [ext, n] : l.skipped) skipped_[ext] += n;
            loops_.insert(loops_.end(), l.loops.begin(), l.loops.end());
        } else {
            ++handed_out_;
            return a;  // a file, or a path that fails later with its own error line
        }
    }
}

std::optional<size_t> PathSource::known_count() {
    size_t n = 0;
    for (size_t i = 0; i < args_.size(); ++i) {
        if (args_[i] == "-") return std::nullopt;
        std::error_code ec;
        n += fs::is_directory(args_[i], ec) ? listing(i).images.size() : 1;
    }
    return n;
}

std::vector<std::string> PathSource::notes() const {
    std::vector<std::string> out;
    if (!skipped_.empty()) {
        int total = 0;
        std::string kinds;
        for (const auto& [ext, n] : skipped_) {
            total += n;
            kinds += (kinds.empty() ? "" : ", ") + std::to_string(n) + " " + ext;
        }
        out.push_back("skipped " + std::to_string(total) + " file" + (total == 1 ? "" : "s") +
                      " in the input folders that are not jpg, jpeg, png, bmp, webp or tiff images (" + kinds + ")");
    }
    for (const auto& dir : loops_)
        out.push_back(dir + ": a link back to a folder already listed; its images were listed once");
    return out;
}

std::string PathSource::emptiness() {
    std::string why;
    for (size_t i = 0; i < args_.size(); ++i) {
        std::error_code ec;
        const std::string part = args_[i] == "-" ? "stdin: no paths"
                                 : fs::is_directory(args_[i], ec)
                                     ? args_[i] + ": a folder with no jpg, jpeg, png, bmp, webp or tiff files"
                                     : "";
        if (!part.empty()) why += (why.empty() ? "" : "; ") + part;
    }
    return args_.empty() ? "no inputs given" : why;
}

}  // namespace alexnet
