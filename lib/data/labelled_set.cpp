#include "data/labelled_set.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/core.hpp>
#include <sstream>

#include "core/error.hpp"
#include "core/regular_file.hpp"
#include "data/image.hpp"
#include "data/inputs.hpp"
#include "data/labels.hpp"
#include "data/train_loader.hpp"

namespace alexnet {

namespace fs = std::filesystem;

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::vector<std::string> files_in(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file()) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

LabelledSet open_idx(const std::string& images) {
    std::string labels = images;
    const size_t at = labels.find("images-idx3");
    check(at != std::string::npos, images, "file name", "an IDX images file (*-images-idx3-ubyte[.gz])",
          fs::path(images).filename().string());
    labels.replace(at, 11, "labels-idx1");
    check(fs::exists(labels), images, "labels file", labels, "no such file");
    LabelledSet s;
    s.source = images;
    s.images = read_idx(images, labels);
    s.labels = s.images.labels;
    return s;
}

LabelledSet open_cifar(const std::vector<std::string>& files, const fs::path& dir) {
    LabelledSet s;
    s.source = files.size() == 1 ? files[0] : dir.string();
    s.images = read_cifar10(files);
    s.labels = s.images.labels;
    const fs::path meta = dir / "batches.meta.txt";
    if (fs::exists(meta)) {
        std::istringstream names(read_text_file(meta.string(), kMaxListBytes, "CIFAR-10 class names"));
        for (std::string line; std::getline(names, line);)
            if (!line.empty()) s.class_names.push_back(line);
    }
    if (s.class_names.size() != 10) s.class_names.clear();
    return s;
}

LabelledSet open_list(const std::string& list, const std::string& root) {
    std::istringstream in(read_text_file(list, kMaxListBytes, "a path-label list"));
    const fs::path base = root.empty() ? fs::path(list).parent_path() : fs::path(root);
    LabelledSet s;
    s.source = list;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const size_t first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        const size_t last = line.find_last_not_of(" \t");
        const size_t split = line.find_last_of(" \t", last);
        const std::string where = list + ":" + std::to_string(number);
        check(split != std::string::npos && split > first, where, "line", "'path label'", "'" + line + "'");
        const std::string label_text = line.substr(split + 1, last - split);
        int label = -1;
        try {
            size_t used = 0;
            label = std::stoi(label_text, &used);
            if (used != label_text.size()) label = -1;
        } catch (const std::exception&) {
        }
        check(label >= 0 && label < kMaxClasses, where, "label",
              "a class index from 0 to " + std::to_string(kMaxClasses - 1), "'" + label_text + "'");
        const std::string path = line.substr(first, line.find_last_not_of(" \t", split) - first + 1);
        s.paths.push_back(fs::path(path).is_absolute() ? path : (base / path).string());
        s.labels.push_back(label);
    }
    check(!s.labels.empty(), list, "content", "at least one 'path label' line", "none");
    return s;
}

LabelledSet open_folder(const fs::path& root) {
    LabelledSet s;
    s.source = root.string();
    std::vector<std::string> classes;
    for (const auto& e : fs::directory_iterator(root))
        if (e.is_directory()) classes.push_back(e.path().filename().string());
    std::sort(classes.begin(), classes.end());
    int skipped = 0;
    for (size_t c = 0; c < classes.size(); ++c) {
        const Listing listing = list_images((root / classes[c]).string());
        for (const auto& path : listing.images) {
            s.paths.push_back(path);
            s.labels.push_back(int(c));
        }
        for (const auto& [ext, n] : listing.skipped) skipped += n;
        for (const auto& loop : listing.loops)
            s.notes.push_back(loop + ": a link back to a folder already listed; its images were listed once");
    }
    if (skipped)
        s.notes.push_back(root.string() + ": skipped " + std::to_string(skipped) +
                          " files that are not jpg, jpeg, png, bmp, webp or tiff images");
    s.class_names = classes;
    check(!s.labels.empty(), root.string(), "content",
          "IDX files, CIFAR-10 batches, or class folders with images (root/<class>/*.jpg)", "none of them");
    return s;
}

}  // namespace

int LabelledSet::num_classes() const {
    if (!class_names.empty()) return int(class_names.size());
    int n = 0;
    for (int l : labels) n = std::max(n, l + 1);
    return n;
}

cv::Mat LabelledSet::image(int i, SizeHint hint) const {
    if (!in_memory()) return read_image(paths[size_t(i)], hint);
    const ImageSet& s = images;
    const uint8_t* px = s.image(i);
    if (s.channels == 1) return cv::Mat(s.height, s.width, CV_8UC1, const_cast<uint8_t*>(px)).clone();
    std::vector<cv::Mat> planes;  // CIFAR stores R, G, B planes; OpenCV wants B, G, R
    for (int c = s.channels - 1; c >= 0; --c)
        planes.emplace_back(s.height, s.width, CV_8UC1, const_cast<uint8_t*>(px + size_t(c) * s.height * s.width));
    cv::Mat out;
    cv::merge(planes, out);
    return out;
}

std::string LabelledSet::name(int i) const {
    return in_memory() ? source + "#" + std::to_string(origin.empty() ? i : origin[size_t(i)]) : paths[size_t(i)];
}

LabelledSet open_labelled_set(const std::string& path, Split split, const std::string& root) {
    check(fs::exists(path), path, "data set", "an existing file or folder", "no such path");
    if (fs::is_directory(path)) {
        const std::vector<std::string> files = files_in(path);
        const std::string idx_prefix = split == Split::train ? "train-images-idx3" : "t10k-images-idx3";
        for (const auto& f : files)
            if (starts_with(f, idx_prefix)) return open_idx((fs::path(path) / f).string());
        std::vector<std::string> cifar;
        for (const auto& f : files)
            if (split == Split::train ? starts_with(f, "data_batch_") && f.size() > 4 &&
                                            f.compare(f.size() - 4, 4, ".bin") == 0
                                      : f == "test_batch.bin")
                cifar.push_back((fs::path(path) / f).string());
        if (!cifar.empty()) return open_cifar(cifar, path);
        return open_folder(path);
    }
    const std::string file = fs::path(path).filename().string();
    if (file.find("images-idx3") != std::string::npos) return open_idx(path);
    if (file.size() > 4 && file.compare(file.size() - 4, 4, ".bin") == 0)
        return open_cifar({path}, fs::path(path).parent_path());
    return open_list(path, root);
}

LabelledSet first_items(LabelledSet set, int limit) {
    if (limit <= 0 || limit >= set.size()) return set;
    std::vector<int> first(static_cast<size_t>(limit));
    for (int i = 0; i < limit; ++i) first[size_t(i)] = i;
    return subset(set, first);
}

LabelledSet sample_items(LabelledSet set, int limit, uint64_t seed) {
    if (limit <= 0 || limit >= set.size()) return set;
    const std::vector<int> order = epoch_order(set.size(), mix_seed(seed, 0x53414d504c45), 0);
    std::map<int, int> class_size, seen;
    for (int label : set.labels) ++class_size[label];
    struct Ranked {
        double rank;
        int position, item;  // position in the shuffled order breaks ties
    };
    std::vector<Ranked> ranked;
    ranked.reserve(order.size());
    for (int p = 0; p < int(order.size()); ++p) {
        const int item = order[size_t(p)], label = set.labels[size_t(item)];
        ranked.push_back({(seen[label]++ + 0.5) / class_size[label], p, item});
    }
    std::nth_element(ranked.begin(), ranked.begin() + limit, ranked.end(), [](const Ranked& a, const Ranked& b) {
        return a.rank != b.rank ? a.rank < b.rank : a.position < b.position;
    });
    std::vector<int> taken;
    taken.reserve(size_t(limit));
    for (int i = 0; i < limit; ++i) taken.push_back(ranked[size_t(i)].item);
    std::sort(taken.begin(), taken.end());
    return subset(set, taken);
}

std::vector<int> missing_items(const LabelledSet& set) {
    std::vector<int> missing;
    std::error_code ec;
    for (int i = 0; i < int(set.paths.size()); ++i)
        if (!fs::exists(set.paths[size_t(i)], ec)) missing.push_back(i);
    return missing;
}

namespace {

std::string loose_class_key(const std::string& name) {
    std::string key;
    bool gap = false;
    for (unsigned char c : name) {
        if (std::isalnum(c)) {
            if (gap && !key.empty()) key += '_';
            key += char(std::tolower(c));
            gap = false;
        } else {
            gap = true;
        }
    }
    return key;
}

std::string quoted_list(const std::vector<std::string>& names, size_t max_shown = 12) {
    std::string out;
    for (size_t i = 0; i < names.size() && i < max_shown; ++i) out += (i ? ", '" : "'") + names[i] + "'";
    if (names.size() > max_shown) out += ", ... (" + std::to_string(names.size()) + " in all)";
    return out;
}

}  // namespace

void map_classes_by_name(LabelledSet& set, const std::vector<std::string>& names, const std::string& names_source) {
    if (set.class_names.empty() || set.class_names == names) return;
    std::map<std::string, int> exact, loose;
    for (size_t c = 0; c < names.size(); ++c) {
        exact.emplace(names[c], int(c));
        const auto [it, fresh] = loose.emplace(loose_class_key(names[c]), int(c));
        if (!fresh) it->second = -1;  // two classes with one loose key: only exact names match them
    }
    std::vector<int> to(set.class_names.size(), -1);
    std::vector<std::string> unknown, twice;
    std::vector<int> taken(names.size(), -1);
    for (size_t f = 0; f < set.class_names.size(); ++f) {
        const std::string& folder = set.class_names[f];
        auto e = exact.find(folder);
        auto l = loose.find(loose_class_key(folder));
        const int c = e != exact.end() ? e->second : l != loose.end() ? l->second : -1;
        if (c < 0) {
            unknown.push_back(folder);
            continue;
        }
        if (taken[size_t(c)] >= 0) twice.push_back(folder + "' and '" + set.class_names[size_t(taken[size_t(c)])]);
        taken[size_t(c)] = int(f);
        to[f] = c;
    }
    const std::string expected = "class names among the " + std::to_string(names.size()) + " of " + names_source +
                                 " (" + quoted_list(names) + ")";
    if (!unknown.empty())
        throw Error(set.source, "classes", expected,
                    std::string(unknown.size() == 1 ? "a folder that is" : "folders that are") + " not: " +
                        quoted_list(unknown) + " (pass --labels FILE with the model's class names in its order to map them)");
    if (!twice.empty()) throw Error(set.source, "classes", "one folder per class", "'" + twice.front() + "' for one class");
    for (int& label : set.labels)
        if (label >= 0 && label < int(to.size())) label = to[size_t(label)];
    set.images.labels = set.labels;
    set.class_names = names;
}

LabelledSet subset(const LabelledSet& set, const std::vector<int>& indices) {
    LabelledSet s;
    s.source = set.source;
    s.class_names = set.class_names;
    if (set.in_memory()) {
        const ImageSet& from = set.images;
        s.images.channels = from.channels, s.images.height = from.height, s.images.width = from.width;
        const size_t stride = size_t(from.channels) * from.height * from.width;
        s.images.pixels.resize(indices.size() * stride);
        for (size_t k = 0; k < indices.size(); ++k)
            std::copy_n(from.image(indices[k]), stride, s.images.pixels.data() + k * stride);
        s.images.count = int(indices.size());
    }
    for (int i : indices) {
        if (!set.in_memory()) s.paths.push_back(set.paths[size_t(i)]);
        if (set.in_memory()) s.origin.push_back(set.origin.empty() ? i : set.origin[size_t(i)]);
        s.labels.push_back(set.labels[size_t(i)]);
    }
    s.images.labels = s.labels;
    return s;
}

}  // namespace alexnet
