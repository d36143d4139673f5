#pragma once
// The run behind alexnet-quantize: calibrate a float model on images, try each calibration method,
// keep the one whose int8 network agrees best with fp32 on held-out images, write the int8 model.
#include <cstdint>
#include <string>
#include <vector>

#include "formats/model_file.hpp"
#include "io/json_lines.hpp"

namespace alexnet {

struct QuantizeOptions {
    std::string weights_arg;          // --weights as given, for messages
    int batch = 32;                   // images per forward pass
    int loader_threads = 2;           // decoding threads
    bool quiet = false;
    std::string calibrate;            // a folder of images, a path-label list, IDX or CIFAR-10
    std::string split = "train";      // which part of an IDX or CIFAR-10 folder
    int images = 500;                 // calibration images
    int check_images = 1000;          // held-out images on which the methods are compared
    std::string method = "auto";      // auto (try every method) | minmax | percentile-P | entropy
    std::vector<std::string> keep_float;  // conv/fc layers left in f32
    std::string output;
    uint64_t seed = 1;                // which images are drawn
};

// Quantizes `model` (a float model, loaded by the caller with the preprocessing overrides applied):
// writes a JSON line per method tried and a summary line; returns the exit code.
int quantize(const QuantizeOptions& o, LoadedModel model, JsonLines& out);

}  // namespace alexnet
