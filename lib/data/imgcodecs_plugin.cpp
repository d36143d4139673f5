// alexnet-imgcodecs.so: OpenCV's imgcodecs behind one C function, loaded by lib/data/decode.cpp
// with dlopen only when a BMP or TIFF file appears. Linking imgcodecs into the tools themselves
// costs every run ~0.35 s of start-up (it pulls in GDAL and ~110 other shared libraries), which
// JPEG, PNG and WebP, decoded by their own libraries, never need.
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <exception>

// Decodes `size` bytes into *out (a cv::Mat, the same OpenCV as the caller's) as imdecode with
// IMREAD_ANYDEPTH | IMREAD_ANYCOLOR does. 0: done (an empty Mat: not decodable); 1: OpenCV threw,
// its message in `message`.
extern "C" __attribute__((visibility("default"))) int alexnet_imgcodecs_decode(const unsigned char* data,
                                                                                size_t size, void* out,
                                                                                char* message,
                                                                                size_t message_size) {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);  // imgcodecs' [ WARN:0@...] lines
    try {
        *static_cast<cv::Mat*>(out) = cv::imdecode(
            cv::Mat(1, int(size), CV_8UC1, const_cast<unsigned char*>(data)), cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR);
        return 0;
    } catch (const cv::Exception& e) {
        std::snprintf(message, message_size, "%s", e.err.c_str());
    } catch (const std::exception& e) {
        std::snprintf(message, message_size, "%s", e.what());
    }
    return 1;
}
