#include "data/labels.hpp"

#include <sstream>

#include "core/error.hpp"
#include "core/regular_file.hpp"

namespace alexnet {

extern const char* const kImagenetClassesText;  // generated from data/imagenet_classes.txt

const std::vector<std::string>& imagenet_class_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out;
        std::istringstream in(kImagenetClassesText);
        std::string line;
        while (std::getline(in, line))
            if (!line.empty()) out.push_back(line);
        return out;
    }();
    return names;
}

std::vector<std::string> read_labels_file(const std::string& path) {
    std::istringstream in(read_text_file(path, kMaxListBytes, "a class-name file"));
    std::vector<std::string> out;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        check(!line.empty(), path + ":" + std::to_string(number), "label", "a class name", "an empty line");
        out.push_back(line);
    }
    return out;
}

std::vector<std::string> resolve_labels(const std::string& labels_file, const std::vector<std::string>& from_weights,
                                        int num_classes) {
    if (!labels_file.empty()) {
        std::vector<std::string> labels = read_labels_file(labels_file);
        check(int(labels.size()) == num_classes, labels_file, "lines",
              std::to_string(num_classes) + " class names (one per class of the model)",
              std::to_string(labels.size()));
        return labels;
    }
    if (!from_weights.empty()) return from_weights;
    if (num_classes == 1000) return imagenet_class_names();
    std::vector<std::string> indices;
    for (int i = 0; i < num_classes; ++i) indices.push_back(std::to_string(i));
    return indices;
}

}  // namespace alexnet
