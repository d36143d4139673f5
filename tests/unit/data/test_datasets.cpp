// IDX and CIFAR-10 readers: exact round trips, every header check, and the real Fashion-MNIST
// test set from Debian's dataset-fashion-mnist (installed by the build's dependency step).
#include <doctest/doctest.h>
#include <zlib.h>

#include <fstream>

#include "core/error.hpp"
#include "data/datasets.hpp"
#include "data/image.hpp"
#include "test_util.hpp"

using namespace alexnet;
using test::TempDir;

namespace {

std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

void write(const std::string& path, const std::string& bytes, bool gzip = false) {
    if (!gzip) {
        std::ofstream(path, std::ios::binary) << bytes;
        return;
    }
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), unsigned(bytes.size()));
    gzclose(f);
}

const std::string kFashion = "/usr/share/datasets/fashion-mnist";

}  // namespace

TEST_CASE("IDX: raw and gzip files read back exactly") {
    TempDir d;
    std::string pixels;
    for (int i = 0; i < 3 * 2 * 4; ++i) pixels += char(i * 10);
    const std::string images = be32(0x803) + be32(3) + be32(2) + be32(4) + pixels;
    const std::string labels = be32(0x801) + be32(3) + std::string{7, 0, 9};
    for (bool gz : {false, true}) {
        CAPTURE(gz);
        write(d / "img", images, gz);
        write(d / "lab", labels, gz);
        const ImageSet s = read_idx(d / "img", d / "lab");
        CHECK(s.count == 3);
        CHECK(s.channels == 1);
        CHECK(s.height == 2);
        CHECK(s.width == 4);
        CHECK(s.labels == std::vector<int>{7, 0, 9});
        CHECK(s.image(2)[7] == uint8_t(230));
    }
}

TEST_CASE("IDX: damaged files are named with the field at fault") {
    TempDir d;
    const std::string labels = be32(0x801) + be32(2) + std::string{1, 2};
    write(d / "lab", labels);
    write(d / "img", be32(0x801) + be32(2) + be32(2) + be32(2) + std::string(8, 'x'));
    CHECK_THROWS_WITH_AS(read_idx(d / "img", d / "lab"),
                         (d / "img" + ": IDX magic: expected 0x00000803 (unsigned bytes, 3 dimensions), found 0x00000801").c_str(), Error);
    write(d / "img", be32(0x803) + be32(2) + be32(2) + be32(2) + std::string(7, 'x'));
    CHECK_THROWS_WITH_AS(read_idx(d / "img", d / "lab"),
                         (d / "img" + ": file size: expected 24 bytes for 2 images of 2x2, found 23 bytes").c_str(), Error);
    write(d / "img", be32(0x803) + be32(3) + be32(2) + be32(2) + std::string(12, 'x'));
    CHECK_THROWS_WITH_AS(read_idx(d / "img", d / "lab"),
                         (d / "lab" + ": label count: expected 3 (the image count), found 2").c_str(), Error);
    const std::string full = be32(0x803) + be32(2) + be32(2) + be32(2) + std::string(8, 'x');
    write(d / "img.gz", full, true);
    std::ifstream in(d / "img.gz", std::ios::binary);
    std::string gz((std::istreambuf_iterator<char>(in)), {});
    write(d / "cut.gz", gz.substr(0, gz.size() - 12));
    CHECK_THROWS_WITH_AS(read_idx(d / "cut.gz", d / "lab"),
                         (d / "cut.gz" + ": gzip data: expected a complete gzip stream, found a truncated stream").c_str(), Error);
}

TEST_CASE("CIFAR-10 binary: records, labels, sizes") {
    TempDir d;
    std::string rec1(1 + 3072, '\x05'), rec2(1 + 3072, '\x80');
    rec1[0] = 3;
    rec2[0] = 9;
    write(d / "b1.bin", rec1 + rec2);
    write(d / "b2.bin", rec1);
    const ImageSet s = read_cifar10({d / "b1.bin", d / "b2.bin"});
    CHECK(s.count == 3);
    CHECK(s.channels == 3);
    CHECK(s.labels == std::vector<int>{3, 9, 3});
    CHECK(s.image(1)[3071] == 0x80);
    write(d / "bad.bin", rec1.substr(0, 100));
    CHECK_THROWS_WITH_AS(read_cifar10({d / "bad.bin"}),
                         (d / "bad.bin" + ": file size: expected a multiple of 3073 bytes (1 label + 3072 pixels per record), found 100 bytes").c_str(),
                         Error);
    rec1[0] = 12;
    write(d / "label.bin", rec1);
    CHECK_THROWS_WITH_AS(read_cifar10({d / "label.bin"}), (d / "label.bin" + ": label of record 0: expected 0..9, found 12").c_str(), Error);
}

TEST_CASE("the real Fashion-MNIST test set: 10,000 28x28 images; the first is the demo's ankle boot") {
    const ImageSet s = read_idx(kFashion + "/t10k-images-idx3-ubyte.gz", kFashion + "/t10k-labels-idx1-ubyte.gz");
    CHECK(s.count == 10000);
    CHECK(s.height == 28);
    CHECK(s.width == 28);
    CHECK(s.labels[0] == 9);
    const cv::Mat demo = read_image(std::string(ALEXNET_DATA_DIR) + "/demo/0000-ankle-boot.png");
    bool same = true;
    for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x) same = same && demo.at<cv::Vec3b>(y, x)[1] == s.image(0)[y * 28 + x];
    CHECK(same);
}
