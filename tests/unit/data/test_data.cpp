// Input expansion and labels.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "data/image.hpp"
#include "data/input_blocks.hpp"
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

// A pipe holding `text` (closed for writing unless `keep_open`); the read end is returned.
struct Pipe {
    int read_fd = -1, write_fd = -1;
    explicit Pipe(const std::string& text, bool keep_open = false) {
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        read_fd = fds[0], write_fd = fds[1];
        REQUIRE(write(write_fd, text.data(), text.size()) == ssize_t(text.size()));
        if (!keep_open) close_write();
    }
    void close_write() {
        if (write_fd >= 0) close(write_fd);
        write_fd = -1;
    }
    ~Pipe() {
        close_write();
        close(read_fd);
    }
};

TEST_CASE("inputs: files in order, directories recursive and sorted, only image extensions, stdin lines") {
    TempDir d;
    fs::create_directories(d.path / "b" / "sub");
    for (const char* f : {"b/z.JPG", "b/a.png", "b/sub/m.webp", "b/notes.txt", "b/c.tiff", "x.bmp"})
        std::ofstream(d / f) << "x";
    Pipe in("first.jpg\r\n\nsecond.png\n");
    PathSource s({d / "x.bmp", d / "b", "-", d / "missing.jpg"}, false, in.read_fd);
    CHECK(!s.known_count().has_value());  // stdin: unknown in advance
    CHECK(drain(s) == std::vector<std::string>{d / "x.bmp", d / "b/a.png", d / "b/c.tiff", d / "b/sub/m.webp",
                                               d / "b/z.JPG", "first.jpg", "second.png", d / "missing.jpg"});
    CHECK(s.notes() == std::vector<std::string>{
                           "skipped 1 file in the input folders that are not jpg, jpeg, png, bmp, webp or tiff images (1 .txt)"});
    PathSource counted({d / "b", d / "x.bmp"});
    CHECK(counted.known_count() == 5);
    CHECK(drain(counted).size() == 5);
}

TEST_CASE("inputs: NUL-separated stdin with -0; a NUL byte in a line list is refused, naming -0") {
    Pipe nul(std::string("a.jpg\0dir/b c.jpg\0\0", 19));
    PathSource s({"-"}, true, nul.read_fd);
    CHECK(drain(s) == std::vector<std::string>{"a.jpg", "dir/b c.jpg"});
    Pipe lines(std::string("a.jpg\0b.jpg\0", 12));
    PathSource refused({"-"}, false, lines.read_fd);
    CHECK_THROWS_WITH_AS(drain(refused),
                         "stdin: line 1: expected paths one per line, found a NUL byte (for find -print0 output, pass -0/--null)",
                         UsageError);
}

TEST_CASE("inputs: a quiet stdin gives way after the timeout, then goes on") {
    Pipe in("first.jpg\n", /*keep_open=*/true);
    PathSource s({"-"}, false, in.read_fd);
    CHECK(s.next(50) == std::optional<std::string>("first.jpg"));
    CHECK(s.next(50) == std::nullopt);  // nothing yet: the caller runs a partial batch
    CHECK(!s.exhausted());
    REQUIRE(write(in.write_fd, "second.jpg\n", 11) == 11);
    in.close_write();
    CHECK(s.next(50) == std::optional<std::string>("second.jpg"));
    CHECK(s.next(50) == std::nullopt);
    CHECK(s.exhausted());
}

TEST_CASE("inputs: links back up the tree are followed once; two such links still end") {
    TempDir d;
    fs::create_directories(d.path / "photos" / "sub");
    std::ofstream(d / "photos/a.jpg") << "x";
    std::ofstream(d / "photos/sub/b.png") << "x";
    fs::create_directory_symlink(".", d.path / "photos" / "self");
    fs::create_directory_symlink("..", d.path / "photos" / "sub" / "up");
    const Listing l = list_images(d / "photos");
    CHECK(l.images.size() == 2);  // not 41 copies, not an endless walk
    CHECK(l.loops.size() == 2);
    PathSource s({d / "photos"});
    CHECK(drain(s).size() == 2);
    REQUIRE(s.notes().size() == 2);
    CHECK(s.notes()[0].find("a link back to a folder already listed") != std::string::npos);
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
    CHECK_THROWS_WITH_AS(read_image(d.path.string()), (d.path.string() + ": file type: expected a regular file, found a directory").c_str(), Error);
}

TEST_CASE("a FIFO is refused as an image instead of blocking for ever") {
    TempDir d;
    REQUIRE(mkfifo((d / "fifo.jpg").c_str(), 0600) == 0);
    CHECK_THROWS_WITH_AS(read_image(d / "fifo.jpg"), (d / "fifo.jpg" + ": file type: expected a regular file, found a FIFO (named pipe)").c_str(), Error);
}

TEST_CASE("input blocks: each image preprocessed once per block, block after block; equal preprocessings share one") {
    Preprocessing grey;
    grey.channels = 1, grey.resize = 9, grey.crop = 5, grey.mean[0] = 0.5f, grey.pixel_scale = 1.f;
    Preprocessing colour;  // Caffe's: BGR, 256 -> 227 scaled down to 12 -> 7
    colour.resize = 12, colour.crop = 7;
    std::vector<Preprocessing> blocks;
    CHECK(add_block(blocks, grey) == 0);
    CHECK(add_block(blocks, colour) == 1);
    Preprocessing same = grey;
    CHECK(add_block(blocks, same) == 0);
    same.mean[0] = 0.25f;
    CHECK(add_block(blocks, same) == 2);  // another mean is another block
    {
        std::vector<int> decoded_for;
        const InputBlocks three(blocks, CropMode::center);  // grey, colour, grey with another mean
        std::vector<float> batch(three.batch_floats(1));
        cv::Mat img(20, 30, CV_8UC3, cv::Scalar(1, 2, 3));
        three.preprocess([&](SizeHint hint) { decoded_for.push_back(hint.resize); return img; }, batch.data(), 1, 0);
        CHECK(decoded_for == std::vector<int>{9, 12});  // the two grey blocks (resize 9) share a decode
    }
    blocks.pop_back();
    for (CropMode mode : {CropMode::center, CropMode::ten}) {
        const InputBlocks in(blocks, mode);
        const size_t crops = size_t(crops_per_image(mode));
        CHECK(in.image_floats(0) == crops * 25);
        CHECK(in.image_floats(1) == crops * 3 * 49);
        const int images = 3;
        CHECK(in.block_offset(1, images) == 3 * in.image_floats(0));
        CHECK(in.batch_floats(images) == 3 * (in.image_floats(0) + in.image_floats(1)));
        std::vector<float> batch(in.batch_floats(images), -1.f);
        cv::Mat img(20, 30, CV_8UC3);
        cv::randu(img, 0, 255);
        std::vector<int> decoded_for;  // one decode per resize target, at that target
        in.preprocess([&](SizeHint hint) { decoded_for.push_back(hint.resize); return img; }, batch.data(), images, 2);
        CHECK(decoded_for == std::vector<int>{9, 12});
        for (size_t b = 0; b < 2; ++b) {
            std::vector<float> alone(in.image_floats(b));
            preprocess(img, in.block(b), mode, alone.data());
            const float* at = batch.data() + in.block_offset(b, images) + 2 * in.image_floats(b);
            CHECK(std::equal(alone.begin(), alone.end(), at));
            CHECK(batch[in.block_offset(b, images)] == -1.f);  // image 0 untouched
        }
        std::vector<float> one(in.batch_floats(1));
        in.copy_image(batch.data(), images, 2, one.data(), 1, 0);
        in.copy_image(one.data(), 1, 0, batch.data(), images, 0);
        for (size_t b = 0; b < 2; ++b)
            CHECK(std::equal(batch.begin() + std::ptrdiff_t(in.block_offset(b, images)),
                             batch.begin() + std::ptrdiff_t(in.block_offset(b, images) + in.image_floats(b)),
                             batch.begin() + std::ptrdiff_t(in.block_offset(b, images) + 2 * in.image_floats(b))));
    }
}
