#include "cli/options.hpp"

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <oneapi/dnnl/dnnl.hpp>

#include "cli/output.hpp"
#include "core/error.hpp"

namespace alexnet {

void add_common_options(CLI::App& app, CommonOptions& o, bool with_inputs) {
    if (with_inputs)
        app.add_option("inputs", o.inputs, "Images, directories (recursive) or - to read paths from stdin");
    if (const char* env = std::getenv("ALEXNET_WEIGHTS")) o.weights = env;
    app.add_option("-w,--weights", o.weights,
                   "Weights: safetensors, PyTorch .pth, Caffe .caffemodel (+ prototxt beside it) or ONNX; default "
                   "$ALEXNET_WEIGHTS");
    app.add_option("--arch", o.arch,
                   "alexnet | caffenet | alexnet-tv | alexnet-28 | alexnet-32 | convnet-4: settles what weights "
                   "cannot tell (caffenet's pool-before-LRN order)");
    app.add_option("-b,--batch", o.batch, "Images per forward pass")->check(CLI::Range(1, 4096))->capture_default_str();
    app.add_option("-t,--threads", o.threads, "Compute threads (0: all cores)")->check(CLI::Range(0, 1024))->capture_default_str();
    app.add_option("--crop", o.crop, "center | ten (corners and center, mirrored; outputs averaged)")
        ->check(CLI::IsMember({"center", "ten"}))
        ->capture_default_str();
    app.add_flag("-q,--quiet", o.quiet, "No diagnostics on stderr");
    app.add_flag("--summary", o.summary, "Print the model summary (layers, shapes, params, MACs) as JSON and exit");
    app.add_option("--mean", o.mean, "Per-channel mean in network channel order, e.g. 104,117,123")
        ->expected(1, 3)->delimiter(',');
    app.add_option("--std", o.std, "Per-channel std, e.g. 0.229,0.224,0.225")->expected(1, 3)->delimiter(',');
    auto* rgb = app.add_flag("--rgb", o.rgb, "Feed channels in RGB order");
    app.add_flag("--bgr", o.bgr, "Feed channels in BGR order")->excludes(rgb);
    app.add_option("--resize", o.resize, "Resize target before cropping")->check(CLI::Range(1, 100000));
    app.add_option("--crop-size", o.crop_size, "Crop size (the network's input size)")->check(CLI::Range(1, 100000));
}

void require_inputs(const CommonOptions& o) {
    if (o.inputs.empty()) throw UsageError("no inputs: give image files, directories, or - to read paths from stdin");
}

void apply_overrides(const CommonOptions& o, ModelSpec& spec) {
    Preprocessing& p = spec.preprocessing;
    const std::string per_channel = std::to_string(p.channels) + " value" + (p.channels > 1 ? "s" : "") + " (one per input channel)";
    if (!o.mean.empty()) {
        check(int(o.mean.size()) == p.channels, "--mean", "", per_channel, std::to_string(o.mean.size()));
        for (int i = 0; i < p.channels; ++i) p.mean[i] = o.mean[i];
    }
    if (!o.std.empty()) {
        check(int(o.std.size()) == p.channels, "--std", "", per_channel, std::to_string(o.std.size()));
        for (int i = 0; i < p.channels; ++i) {
            check(o.std[i] > 0, "--std", "", "positive values", std::to_string(o.std[i]));
            p.std[i] = o.std[i];
        }
    }
    if (o.rgb) p.bgr = false;
    if (o.bgr) p.bgr = true;
    if (o.resize) p.resize = o.resize;
    if (o.crop_size) {
        p.crop = o.crop_size;
        spec.input.h = spec.input.w = o.crop_size;
        infer_shapes(spec);
    }
    check(p.crop <= p.resize, "--crop-size", "", "at most the resize target " + std::to_string(p.resize),
          std::to_string(p.crop));
}

int run_tool(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
    std::signal(SIGPIPE, SIG_IGN);  // a closed stdout becomes EPIPE, handled as BrokenPipe
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    }
    try {
        return body();
    } catch (const BrokenPipe&) {
        return 0;
    } catch (const UsageError& e) {
        std::cerr << app.get_name() << ": " << e.what() << "\nRun with --help for more information.\n";
        return 2;
    } catch (const Error& e) {
        std::cerr << app.get_name() << ": " << e.what() << '\n';
        return 1;
    } catch (const dnnl::error& e) {
        std::cerr << app.get_name() << ": oneDNN: " << e.what() << '\n';
        return 1;
    } catch (const std::bad_alloc&) {
        std::cerr << app.get_name() << ": out of memory\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << app.get_name() << ": " << e.what() << '\n';
        return 1;
    }
}

}  // namespace alexnet
