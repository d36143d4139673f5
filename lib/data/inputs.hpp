#pragma once
// The image paths a tool works on, in input order: files as given, directories recursively in
// sorted order (jpg, jpeg, png, bmp, webp, tiff), and "-" for paths read from stdin, one per line
// or (null_separated) one per NUL byte. Paths come out lazily, so `find ... | alexnet-classify -`
// streams, and a reader can wait a bounded time for the next one (a partial batch runs meanwhile).
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace alexnet {

bool has_image_extension(const std::string& path);

// What a directory walk found. Every directory is entered once (by device and inode), so links
// back up the tree are listed once, not forever.
struct Listing {
    std::vector<std::string> images;       // sorted by path
    std::map<std::string, int> skipped;    // files that are not images, by extension (".gif", "no extension")
    std::vector<std::string> loops;        // directories reached again through a link
};
Listing list_images(const std::string& dir);

class PathSource {
public:
    // `stdin_fd`: where "-" reads from (tests pass a pipe).
    explicit PathSource(std::vector<std::string> args, bool null_separated = false, int stdin_fd = 0);
    // The next path, or nullopt at the end. With a timeout (ms), also nullopt when stdin gives no
    // path within it; exhausted() tells the two apart. A NUL byte in a line-separated stdin list is
    // a UsageError (it is find -print0 output: pass -0).
    std::optional<std::string> next(int timeout_ms = -1);
    // From now on next() hands out only one process's share of the paths: positions p (counted over
    // all paths) with (p / block) % processes == index, so process `index` gets blocks index,
    // index + processes, ... of `block` consecutive paths (sharded alexnet-embed under mpirun).
    void keep_share(int block, int index, int processes);
    bool exhausted() const { return arg_ >= args_.size() && pending_at_ >= pending_.size() && !reading_stdin_; }
    // The count, when no "-" argument makes it unknowable in advance (for sizing batches).
    // Directory listings made here are kept for next().
    std::optional<size_t> known_count();
    size_t handed_out() const { return handed_out_; }
    // For people, once the inputs are used up: files skipped in directories (by extension) and
    // links that led back to a directory already listed.
    std::vector<std::string> notes() const;
    // Why there was nothing to do ("data/: no jpg, jpeg, png, bmp, webp or tiff files"), for
    // the "no images among the inputs" error.
    std::string emptiness();

private:
    Listing& listing(size_t arg);
    std::optional<std::string> read_stdin(int timeout_ms, bool& timed_out);
    std::optional<std::string> next_path(int timeout_ms);  // every path, ignoring the share
    std::vector<std::string> args_;
    bool null_separated_;
    int stdin_fd_;
    size_t arg_ = 0, handed_out_ = 0;
    int share_block_ = 1, share_index_ = 0, share_processes_ = 1;
    size_t position_ = 0;  // paths passed so far, in or out of the share
    std::vector<Listing> listings_;  // per argument, once listed
    std::vector<bool> listed_;
    std::vector<std::string> pending_;  // a directory's listing being handed out
    size_t pending_at_ = 0;
    bool reading_stdin_ = false, stdin_done_ = false;
    std::string stdin_buffer_;
    size_t stdin_lines_ = 0;
    std::map<std::string, int> skipped_;
    std::vector<std::string> loops_;
};

}  // namespace alexnet
