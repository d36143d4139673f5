#include "data/augment.hpp"

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "core/error.hpp"
#include "data/image.hpp"

namespace alexnet {

Lighting imagenet_lighting() {
    Lighting l;
    l.stddev = 0.1f;
    const float val[3] = {0.2175f, 0.0188f, 0.0045f};
    const float vec[3][3] = {{-0.5675f, 0.7192f, 0.4009f}, {-0.5808f, -0.0045f, -0.8140f}, {-0.5836f, -0.6948f, 0.4203f}};
    for (int i = 0; i < 3; ++i) {
        l.eigval[i] = val[i];
        for (int j = 0; j < 3; ++j) l.eigvec[j][i] = vec[i][j];  // rows of the table are R, G, B
    }
    return l;
}

namespace {

cv::Mat to_channels(const cv::Mat& img, int channels) {
    cv::Mat out = img;
    if (channels == 1 && img.channels() == 3) cv::cvtColor(img, out, cv::COLOR_BGR2GRAY);
    if (channels == 3 && img.channels() == 1) cv::cvtColor(img, out, cv::COLOR_GRAY2BGR);
    return out;
}

}  // namespace

void make_example(const cv::Mat& img, const Preprocessing& p, const Augmentation& a, bool train,
                  std::mt19937_64& rng, float* out) {
    cv::Mat resized = resize_for(to_channels(img, p.channels), p);
    if (train && a.pad > 0)
        cv::copyMakeBorder(resized, resized, a.pad, a.pad, a.pad, a.pad, cv::BORDER_CONSTANT, cv::Scalar::all(0));
    const int crop = p.crop;
    if (resized.cols < crop || resized.rows < crop)
        throw Error("preprocessing", "crop", "at most the resized size " + std::to_string(resized.cols) + "x" +
                                                 std::to_string(resized.rows),
                    std::to_string(crop));
    int x0 = center_offset(resized.cols, crop, p.resize_shorter), y0 = center_offset(resized.rows, crop, p.resize_shorter);
    bool mirror = false;
    float shift[3] = {0, 0, 0};  // lighting, per network channel, on the pixel_scale
    if (train) {
        if (a.random_crop) {
            x0 = std::uniform_int_distribution<int>(0, resized.cols - crop)(rng);
            y0 = std::uniform_int_distribution<int>(0, resized.rows - crop)(rng);
        }
        if (a.flip) mirror = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
        if (a.lighting.stddev > 0 && p.channels == 3) {
            std::normal_distribution<float> normal(0.f, a.lighting.stddev);
            float alpha[3];
            for (float& v : alpha) v = normal(rng);
            for (int rgb = 0; rgb < 3; ++rgb) {
                float s = 0;
                for (int k = 0; k < 3; ++k) s += a.lighting.eigvec[rgb][k] * alpha[k] * a.lighting.eigval[k];
                shift[p.bgr ? 2 - rgb : rgb] = s * p.pixel_scale;
            }
        }
    }
    const int channels = p.channels;
    const int64_t plane = int64_t(crop) * crop;
    float scale[3], offset[3];
    for (int c = 0; c < channels; ++c) {
        scale[c] = p.pixel_scale / 255.f / p.std[c];
        offset[c] = (shift[c] - p.mean[c]) / p.std[c];
    }
    for (int y = 0; y < crop; ++y) {
        const uint8_t* row = resized.ptr<uint8_t>(y0 + y);
        for (int x = 0; x < crop; ++x) {
            const uint8_t* px = row + channels * (x0 + (mirror ? crop - 1 - x : x));
            for (int c = 0; c < channels; ++c) {
                const uint8_t v = channels == 1 ? px[0] : px[p.bgr ? c : 2 - c];  // OpenCV pixels are BGR
                out[c * plane + int64_t(y) * crop + x] = float(v) * scale[c] + offset[c];
            }
        }
    }
}

DataStats compute_stats(const LabelledSet& set, const Preprocessing& p, int max_items) {
    DataStats st;
    const int n = std::min(set.size(), std::max(max_items, 1));
    double sum[3] = {0, 0, 0}, cross[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
    double count = 0;
    int used = 0;
    for (int k = 0; k < n; ++k) {
        const int i = int(int64_t(k) * set.size() / n);
        cv::Mat img;
        try {
            img = resize_for(to_channels(set.image(i, size_hint(p)), p.channels), p);
        } catch (const Error&) {
            continue;  // unreadable: training reports (or, --strict, stops at) it when it comes up
        }
        ++used;
        for (int y = 0; y < img.rows; ++y) {
            const uint8_t* row = img.ptr<uint8_t>(y);
            for (int x = 0; x < img.cols; ++x) {
                double v[3];
                for (int c = 0; c < p.channels; ++c)  // RGB order for colour
                    v[c] = (p.channels == 1 ? row[x] : row[x * 3 + 2 - c]) / 255.0;
                for (int c = 0; c < p.channels; ++c) {
                    sum[c] += v[c];
                    for (int d = 0; d < p.channels; ++d) cross[c][d] += v[c] * v[d];
                }
            }
        }
        count += double(img.rows) * img.cols;
    }
    check(used > 0, set.source, "images", "at least one readable image for the data statistics",
          "none of the " + std::to_string(n) + " sampled");
    st.images = used;
    double mean[3], cov[3][3];
    for (int c = 0; c < p.channels; ++c) mean[c] = sum[c] / count;
    for (int c = 0; c < p.channels; ++c)
        for (int d = 0; d < p.channels; ++d) cov[c][d] = cross[c][d] / count - mean[c] * mean[d];
    for (int c = 0; c < p.channels; ++c) {  // network channel order
        const int rgb = p.channels == 1 ? 0 : (p.bgr ? 2 - c : c);
        st.mean[c] = float(mean[rgb]);
        st.std[c] = float(std::sqrt(std::max(cov[rgb][rgb], 1e-12)));
    }
    if (p.channels == 3) {
        cv::Mat C(3, 3, CV_64F), values, vectors;
        for (int c = 0; c < 3; ++c)
            for (int d = 0; d < 3; ++d) C.at<double>(c, d) = cov[c][d];
        cv::eigen(C, values, vectors);  // rows of `vectors` are eigenvectors, values descending
        st.lighting.stddev = 0.1f;
        for (int k = 0; k < 3; ++k) {
            st.lighting.eigval[k] = float(std::max(values.at<double>(k), 0.0));
            for (int rgb = 0; rgb < 3; ++rgb) st.lighting.eigvec[rgb][k] = float(vectors.at<double>(k, rgb));
        }
    }
    return st;
}

}  // namespace alexnet
