// Writes tests/fuzz/seeds/image: one small file per format fuzz_image reads (BMP, TIFF 8- and
// 16-bit, WebP, PNG with alpha, baseline and progressive JPEG) and the TIFF header whose sizes
// overflowed check_pixels' message. Not part of the build:
//   g++ tests/fuzz/make_image_seeds.cpp -o /tmp/mk $(pkg-config --cflags --libs opencv4) && /tmp/mk tests/fuzz/seeds/image
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <fstream>
int main(int, char** argv) {
    std::string d = argv[1];
    cv::Mat c(9, 12, CV_8UC3), g(7, 5, CV_8UC1), a(6, 6, CV_8UC4), w16(5, 4, CV_16UC3);
    cv::randu(c, 0, 255); cv::randu(g, 0, 255); cv::randu(a, 0, 255); cv::randu(w16, 0, 65535);
    cv::imwrite(d + "/colour.bmp", c);
    cv::imwrite(d + "/grey.bmp", g);
    cv::imwrite(d + "/colour.tiff", c);
    cv::imwrite(d + "/deep16.tiff", w16);
    cv::imwrite(d + "/colour.webp", c, {cv::IMWRITE_WEBP_QUALITY, 80});
    cv::imwrite(d + "/alpha.png", a);
    cv::imwrite(d + "/grey.jpg", g, {cv::IMWRITE_JPEG_QUALITY, 50});
    cv::imwrite(d + "/progressive.jpg", c, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
    // A TIFF header of 3048584629 x 3638089944 (the overflow fuzz_image found in check_pixels).
    std::ofstream t(d + "/huge-header.tiff", std::ios::binary);
    const unsigned char h[] = {'I','I',42,0, 8,0,0,0, 2,0, 0,1, 4,0, 1,0,0,0, 0xb5,0xb5,0xb5,0xb5, 1,1, 4,0, 1,0,0,0, 0xd8,0xd8,0xd8,0xd8, 0,0,0,0};
    t.write(reinterpret_cast<const char*>(h), sizeof h);
}
