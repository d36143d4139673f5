#include "quantize/quantizer.hpp"

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "data/inputs.hpp"
#include "data/labelled_set.hpp"
#include "data/train_loader.hpp"
#include "engine/inference_net.hpp"
#include "engine/precision.hpp"
#include "metrics/agreement.hpp"
#include "quantize/calibration.hpp"

namespace alexnet {

namespace {

// A labelled set as alexnet-eval opens it, or any folder of images (labels unused).
LabelledSet open_images(const std::string& path, Split split) {
    try {
        return open_labelled_set(path, split);
    } catch (const Error&) {
        if (!std::filesystem::is_directory(path)) throw;
        LabelledSet set;
        set.source = path;
        set.paths = list_images(path).images;
        if (set.paths.empty()) throw;
        set.labels.assign(set.paths.size(), 0);
        return set;
    }
}

// The preprocessed center crops of `set`'s items, unreadable ones left out (counted).
std::vector<float> load_inputs(const LabelledSet& set, const ModelSpec& spec, int batch, int loader_threads, int& count,
                               int& failed) {
    std::vector<float> data;
    count = failed = 0;
    if (set.size() == 0) return data;
    const size_t image = size_t(spec.input.size());
    Loader loader(set, spec.preprocessing, Augmentation{}, std::min(batch, set.size()), false, 0, loader_threads);
    loader.start(0);
    for (int b = 0; b < loader.batches_per_epoch(); ++b) {
        const LoaderBatch& lb = loader.next();
        for (int j = 0; j < lb.count; ++j) {
            if (std::find(lb.failed.begin(), lb.failed.end(), j) != lb.failed.end()) {
                ++failed;
                continue;
            }
            data.insert(data.end(), lb.data.begin() + ptrdiff_t(size_t(j) * image),
                        lb.data.begin() + ptrdiff_t(size_t(j + 1) * image));
            ++count;
        }
    }
    return data;
}

// The classifier's outputs (logits) for `n` images.
std::vector<float> logits_of(const ModelSpec& spec, Weights& w, const std::vector<float>& inputs, int n, int batch,
                             Precision precision) {
    const int b = std::max(1, std::min(batch, n));
    InferenceNet net(spec, w, b, spec.classifier(), false, precision);
    const size_t image = size_t(spec.input.size()), classes = size_t(spec.num_classes());
    std::vector<float> in(size_t(b) * image), out(size_t(b) * classes), all(size_t(n) * classes);
    for (int b0 = 0; b0 < n; b0 += b) {
        const int count = std::min(b, n - b0);
        std::fill(in.begin(), in.end(), 0.f);
        std::copy_n(inputs.begin() + ptrdiff_t(size_t(b0) * image), size_t(count) * image, in.begin());
        net.forward(in.data(), out.data());
        std::copy_n(out.begin(), size_t(count) * classes, all.begin() + ptrdiff_t(size_t(b0) * classes));
    }
    return all;
}

}  // namespace

int quantize(const QuantizeOptions& o, LoadedModel model, JsonLines& out) {
    check(!model.weights.metadata.count(kQuantizationKey), o.weights_arg, "weights",
          "a float model to quantize", "a quantized model");
    const ModelSpec& spec = model.spec;
    for (const auto& name : o.keep_float) {
        const int i = spec.index_of(name);
        check(spec.layers[size_t(i)].has_params(), "--keep-float", name, "a conv or fc layer",
              to_string(spec.layers[size_t(i)].kind));
    }

    // Calibration and check images: disjoint, drawn by a seeded shuffle.
    const LabelledSet all = open_images(o.calibrate, o.split == "test" ? Split::test : Split::train);
    const std::vector<int> order = epoch_order(all.size(), o.seed, 0);
    const int n_cal = std::min(o.images, all.size());
    const int n_check = std::min(o.check_images, all.size() - n_cal);
    const LabelledSet cal_set = subset(all, std::vector<int>(order.begin(), order.begin() + n_cal));
    const LabelledSet check_set = subset(all, std::vector<int>(order.begin() + n_cal, order.begin() + n_cal + n_check));
    int cal_count = 0, check_count = 0, cal_failed = 0, check_failed = 0;
    const int batch = o.batch;
    const std::vector<float> cal = load_inputs(cal_set, spec, batch, o.loader_threads, cal_count, cal_failed);
    std::vector<float> check_inputs = load_inputs(check_set, spec, batch, o.loader_threads, check_count, check_failed);
    check(cal_count > 0, o.calibrate, "calibration images", "at least one readable image", "none");
    const bool held_out = check_count > 0;
    if (!held_out) {  // too few images to hold any out: compare on the calibration images
        check_inputs = cal;
        check_count = cal_count;
    }
    log_info(o.quiet, "alexnet-quantize: calibrating on " + count_of(cal_count, "image") + ", comparing on " +
                                 std::to_string(check_count) + (held_out ? " held-out" : " (the same)") +
                                 (check_count == 1 ? " image" : " images"));

    const std::vector<TensorHistogram> hists = collect_histograms(spec, model.weights, cal, cal_count, batch);
    std::vector<std::string> int8_names;
    Weights qw = quantize_weights(spec, model.weights, o.keep_float, int8_names);
    const std::vector<float> reference = logits_of(spec, model.weights, check_inputs, check_count, batch, Precision::fp32);
    const int classes = spec.num_classes();

    const std::vector<std::string> methods = o.method == "auto" ? calibration_methods() : std::vector<std::string>{o.method};
    Quantization best;
    Agreement best_agreement;
    nlohmann::ordered_json tried = nlohmann::ordered_json::object();
    for (const auto& method : methods) {
        const Quantization q = activation_scales(hists, method);
        qw.metadata[kQuantizationKey] = to_json(q);
        const std::vector<float> logits = logits_of(spec, qw, check_inputs, check_count, batch, Precision::int8);
        Agreement a;
        for (int i = 0; i < check_count; ++i)
            a.add(logits.data() + size_t(i) * classes, reference.data() + size_t(i) * classes, classes);
        out.write({{"method", method}, {"images", a.images}, {"top1_agreement", json_float(float(a.top1_agreement()))},
                   {"max_logit_diff", json_float(float(a.max_logit_diff))},
                   {"mean_logit_diff", json_float(float(a.mean_logit_diff()))}});
        tried[method] = a.top1_agreement();
        const bool better = best.empty() || a.same_top1 > best_agreement.same_top1 ||
                            (a.same_top1 == best_agreement.same_top1 && a.sum_logit_diff < best_agreement.sum_logit_diff);
        if (better) best = q, best_agreement = a;
    }

    Weights extra;  // the steps travel with the s8 weights (save_model)
    extra.metadata[kQuantizationKey] = to_json(best);
    nlohmann::ordered_json report{{"method", best.method}, {"calibration", o.calibrate}, {"calibration_images", cal_count},
                                  {"check_images", check_count}, {"held_out", held_out},
                                  {"top1_agreement", best_agreement.top1_agreement()},
                                  {"max_logit_diff", best_agreement.max_logit_diff},
                                  {"methods", tried}, {"cpu_isa", cpu_isa_name()}};
    extra.metadata["quantization_report"] = report.dump();
    save_model(o.output, spec, qw, model.labels, &extra);

    nlohmann::ordered_json summary{{"summary", true}, {"output", o.output}, {"method", best.method},
                                   {"calibration_images", cal_count}, {"check_images", check_count},
                                   {"held_out", held_out},
                                   {"top1_agreement", json_float(float(best_agreement.top1_agreement()))},
                                   {"max_logit_diff", json_float(float(best_agreement.max_logit_diff))},
                                   {"int8_layers", int8_names.size()}, {"unreadable", cal_failed + check_failed}};
    out.write(summary);
    log_info(o.quiet, "alexnet-quantize: wrote " + o.output + " (" + best.method + ", top-1 agreement with fp32 " +
                                 fixed(100 * best_agreement.top1_agreement(), 2) + "% on " +
                                 count_of(check_count, "image") + ")");
    return 0;
}

}  // namespace alexnet
