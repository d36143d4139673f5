// Input expansion and labels.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "data/image.hpp"
#include "data/inputs.hpp"
#include "data/labels.hpp"
#include "test_util.hpp"

using namespace alexnet;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> drain(PathSource& s) {
    std::vector<std::string> out;
    while (auto p = s.next()) out.push_back(*p);
    return out;
}
}  // namespace

TEST_CASE("inputs: files in order, directories recursive and sorted, only image extensions, stdin lines") {
    TempDir d;
    fs::create_directories(d.path / "b" / "sub");
    for (const char* f : {"b/z.JPG", "b/a.png", "b/sub/m.webp", "b/notes.txt", "b/c.tiff", "x.bmp"})
        std::ofstream(d / f) << "x";
    std::istringstream in("first.jpg\r\n\nsecond.png\n");
    PathSource s({d / "x.bmp", d / "b", "-", d / "missing.jpg"}, &in);
    CHECK(!s.known_count().has_value());  // stdin: unknown in advance
    CHECK(drain(s) == std::vector<std::string>{d / "x.bmp", d / "b/a.png", d / "b/c.tiff", d / "b/sub/m.webp",
                                               d / "b/z.JPG", "first.jpg", "second.png", d / "missing.jpg"});
    PathSource counted({d / "b", d / "x.bmp"});
    CHECK(counted.known_count() == 5);
    CHECK(drain(counted).size() == 5);
}

TEST_CASE("labels: a file must name every class; defaults are the weights', ImageNet's, then indices") {
    TempDir d;
    std::ofstream(d / "three.txt") << "cat\ndog\r\nbird\n";
    CHECK(resolve_labels(d / "three.txt", {}, 3) == std::vector<std::string>{"cat", "dog", "bird"});
    CHECK_THROWS_WITH_AS(resolve_labels(d / "three.txt", {}, 4),
                         (d / "three.txt" + ": lines: expected 4 class names (one per class of the model), found 3").c_str(),
                         Error);
    std::ofstream(d / "gap.txt") << "cat\n\nbird\n";
    CHECK_THROWS_WITH_AS(read_labels_file(d / "gap.txt"),
                         (d / "gap.txt" + ":2: label: expected a class name, found an empty line").c_str(), Error);
    CHECK(resolve_labels("", {"a", "b"}, 2) == std::vector<std::string>{"a", "b"});
    const auto imagenet = resolve_labels("", {}, 1000);
    REQUIRE(imagenet.size() == 1000);
    CHECK(imagenet[0] == "tench");
    CHECK(imagenet[281] == "tabby");
    CHECK(imagenet[999] == "toilet tissue");
    CHECK(resolve_labels("", {}, 3) == std::vector<std::string>{"0", "1", "2"});
}

TEST_CASE("truncated JPEGs are refused; bytes after the end-of-image marker are not") {
    std::ifstream in(std::string(ALEXNET_FIXTURES) + "/exif_rotated.jpg", std::ios::binary);
    const std::string jpeg((std::istreambuf_iterator<char>(in)), {});
    TempDir d;
    std::ofstream(d / "cut.jpg", std::ios::binary) << jpeg.substr(0, jpeg.size() - 300);
    CHECK_THROWS_WITH_AS(read_image(d / "cut.jpg"),
                         (d / "cut.jpg" + ": JPEG data: expected an end-of-image marker after the last scan, found a truncated file").c_str(),
                         Error);
    std::ofstream(d / "tail.jpg", std::ios::binary) << jpeg << "trailing bytes";
    CHECK(read_image(d / "tail.jpg").cols == 30);
    std::ofstream(d / "empty.png", std::ios::binary);
    CHECK_THROWS_WITH_AS(read_image(d / "empty.png"), (d / "empty.png" + ": image: expected image data, found an empty file").c_str(), Error);
    CHECK_THROWS_WITH_AS(read_image(d.path.string()), (d.path.string() + ": input: expected an image file, found a directory").c_str(), Error);
}
