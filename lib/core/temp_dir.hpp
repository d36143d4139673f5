#pragma once
// A folder of our own under $TMPDIR (mkdtemp: a fresh name, mode 0700), removed with everything
// in it when the object goes, by a normal return or an exception, so scratch files never outlive
// the code that made them.
#include <filesystem>
#include <string>

namespace alexnet {

struct TempDir {
    std::filesystem::path path;

    // `prefix` starts the folder's name ("alexnet-bench" -> /tmp/alexnet-bench-Ab3xYz).
    explicit TempDir(const std::string& prefix = "alexnet-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string operator/(const std::string& name) const { return (path / name).string(); }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace alexnet
