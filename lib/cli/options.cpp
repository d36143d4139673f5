#include "cli/options.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <oneapi/dnnl/dnnl.hpp>
#include <opencv2/core/version.hpp>

#include "parallel/communicator.hpp"
#include "core/error.hpp"
#include "core/signals.hpp"
#include "data/decode.hpp"
#include "io/json_lines.hpp"

namespace alexnet {

void add_common_options(CLI::App& app, CommonOptions& o, bool with_inputs) {
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later flag overrides
    if (with_inputs) {
        app.add_option("inputs", o.inputs, "Images, directories (recursive) or - to read paths from stdin")
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
        app.add_flag("-0,--null", o.null_separated, "Paths on stdin are separated by NUL bytes (find -print0), not lines");
    }
    if (const char* env = std::getenv("ALEXNET_WEIGHTS")) o.weights = env;
    app.add_option("-w,--weights", o.members,
                   "Weights: safetensors, PyTorch .pth, Caffe .caffemodel (+ prototxt beside it) or ONNX; default "
                   "$ALEXNET_WEIGHTS, else the installed default model. alexnet-classify and alexnet-eval take it "
                   "more than once: an ensemble, the members' probabilities averaged")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->allow_extra_args(false)  // one path per --weights, so the inputs after it stay inputs
        ->each([&o](const std::string& path) { o.weights = path; });
    app.add_option("--arch", o.arch,
                   "alexnet | caffenet | alexnet-tv | alexnet-28 | alexnet-32 | convnet-4 | convnet-18pct: settles what weights "
                   "cannot tell (caffenet's pool-before-LRN order)");
    add_batch_option(app, o.batch, "Images per forward pass")->check(in_range(1, 4096));
    add_threads_option(app, o.threads);
    add_loader_threads_option(app, o.loader_threads);
    add_max_pixels_option(app);
    app.add_option("--crop", o.crop, "center | ten (corners and center, mirrored; outputs averaged)")
        ->check(one_of({"center", "ten"}))
        ->capture_default_str();
    app.add_option("--precision", o.precision,
                   "fp32 | bf16 | int8 (a model made by alexnet-quantize); default: int8 for such a model, else fp32")
        ->check(one_of({"fp32", "bf16", "int8"}));
    add_quiet_option(app, o.quiet);
    app.add_flag("--summary", o.summary, "Print the model summary (layers, shapes, params, MACs) as JSON and exit");
    // one comma-separated argument each, so the inputs after it stay inputs
    app.add_option("--mean", o.mean, "Per-channel mean in network channel order, e.g. 104,117,123")
        ->delimiter(',')->allow_extra_args(false);
    app.add_option("--std", o.std, "Per-channel std, e.g. 0.229,0.224,0.225")->delimiter(',')->allow_extra_args(false);
    auto* rgb = app.add_flag("--rgb", o.rgb, "Feed channels in RGB order");
    app.add_flag("--bgr", o.bgr, "Feed channels in BGR order")->excludes(rgb);
    app.add_option("--resize", o.resize, "Resize target before cropping")->check(in_range(1, 100000));
    app.add_option("--crop-size", o.crop_size, "Crop size (the network's input size)")->check(in_range(1, 100000));
}

namespace {
int64_t max_pixels = kDefaultMaxPixels;  // --max-pixels, applied by run_tool
bool exact_decode = false;                // --exact-decode, likewise
}  // namespace

CLI::Option* add_max_pixels_option(CLI::App& app) {
    app.add_flag("--exact-decode", exact_decode,
                 "Decode JPEGs at full size before resizing (default: at the DCT reduction 1/2, 1/4 or 1/8 that "
                 "stays at least as large as the resize target)");
    return app.add_option("--max-pixels", max_pixels, "Refuse images with more pixels (decompression bombs)")
        ->check(in_range(int64_t(1), int64_t(1) << 40))
        ->capture_default_str();
}

CLI::Option* add_batch_option(CLI::App& app, int& batch, const std::string& help) {
    return app.add_option("-b,--batch-size,--batch", batch, help)->capture_default_str();
}

CLI::Option* add_loader_threads_option(CLI::App& app, int& threads) {
    return app.add_option("--loader-threads", threads, "Image decoding threads (run beside the compute threads)")
        ->check(in_range(1, 64))
        ->capture_default_str();
}

CLI::Option* add_threads_option(CLI::App& app, int& threads) {
    return app.add_option("-t,--threads", threads,
                          "Compute threads (0: all cores, shared among a job's processes on one machine)")
        ->check(in_range(0, 1024))
        ->capture_default_str();
}

CLI::Option* add_quiet_option(CLI::App& app, bool& quiet) {
    return app.add_flag("-q,--quiet", quiet, "Nothing on stderr but errors (no progress, no notes)");
}

void require_inputs(const CommonOptions& o) {
    if (o.inputs.empty()) throw UsageError("no inputs: give image files, directories, or - to read paths from stdin");
}

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t substitution = diagonal + (a[i - 1] != b[j - 1]);
            diagonal = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
        }
    }
    return row[b.size()];
}

std::string version_text(const std::string& tool) {
    const dnnl_version_t* v = dnnl_version();
    return tool + " " + ALEXNET_VERSION + " (oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) +
           "." + std::to_string(v->patch) + ", OpenCV " + CV_VERSION + ")";
}

// CLI11's messages, one line, naming the tool; an unknown option gets the nearest known one.
std::string parse_error_message(const CLI::App& app, const CLI::ParseError& e) {
    const std::string tool = app.get_name();
    if (const auto* extras = dynamic_cast<const CLI::ExtrasError*>(&e)) {
        (void)extras;
        for (const std::string& arg : app.remaining()) {
            if (arg.size() < 2 || arg[0] != '-') continue;
            const std::string name = arg.substr(0, arg.find('='));
            const std::string near = nearest_option(app, name);
            // Options other tools have (PyTorch scripts, Caffe, our own older ones) that mean
            // something here without a near name.
            const std::string cpu_only = "the suite runs on the CPU (oneDNN); --threads sets how many cores";
            static const std::map<std::string, std::string> hints{
                {"alexnet-eval --per-class", "per-class accuracy is always in the summary line (\"per_class\")"},
                {"--gpu", cpu_only}, {"--device", cpu_only}, {"--cuda", cpu_only},
            };
            auto hint = hints.find(tool + " " + name);
            if (hint == hints.end()) hint = hints.find(name);
            if (near.empty() && hint != hints.end())
                return tool + ": unknown option '" + name + "': " + hint->second + " (--help lists the options)";
            return tool + ": unknown option '" + name + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?") +
                   " (--help lists the options)";
        }
        return tool + ": unexpected argument" + (app.remaining().size() > 1 ? "s" : std::string()) + " '" +
               CLI::detail::join(app.remaining(), "' '") + "' (--help lists the options)";
    }
    std::string message = e.what();
    std::replace(message.begin(), message.end(), '\n', ' ');
    return tool + ": " + message;
}

// Decoders' warnings become the tool's own lines ("alexnet-classify: a.jpg: warning: ..."), one
// at a time, or nothing with --quiet.
void configure_decoding_messages(const std::string& tool, bool quiet) {
    DecodeSettings s;
    s.max_pixels = max_pixels;
    s.exact = exact_decode;
    if (!quiet)
        s.on_warning = [tool](const std::string& path, const std::string& message) {
            static std::mutex mutex;
            std::lock_guard lock(mutex);
            std::cerr << tool << ": " << path << ": warning: " << message << '\n';
        };
    configure_decoding(s);
}

std::string number_text(double v) {
    if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(int64_t(v));
    std::ostringstream s;
    s << v;
    return s.str();
}

// `text` as a number (the whole of it), or nullopt.
std::optional<double> as_number(const std::string& text) {
    try {
        size_t used = 0;
        const double v = std::stod(text, &used);
        if (used == text.size() && std::isfinite(v)) return v;
    } catch (const std::exception&) {
    }
    return std::nullopt;
}

CLI::Validator number_check(const std::string& expected, const std::string& description,
                            std::function<bool(double)> ok) {
    return CLI::Validator(
        [expected, ok](std::string& text) -> std::string {
            const std::optional<double> v = as_number(text);
            if (v && ok(*v)) return "";
            return "expected " + expected + ", found " + (v ? text : "'" + text + "'");
        },
        description);
}

}  // namespace

CLI::Validator in_range(double lo, double hi) {
    return number_check("a number from " + number_text(lo) + " to " + number_text(hi),
                        "[" + number_text(lo) + " - " + number_text(hi) + "]", [lo, hi](double v) { return v >= lo && v <= hi; });
}

const CLI::Validator positive_number = number_check("a number above 0", "POSITIVE", [](double v) { return v > 0; });
const CLI::Validator non_negative_number = number_check("a number of 0 or more", "NONNEGATIVE", [](double v) { return v >= 0; });

CLI::Validator one_of(std::vector<std::string> names) {
    std::string listed, braces;
    for (const std::string& n : names) listed += (listed.empty() ? "" : ", ") + n, braces += (braces.empty() ? "" : ",") + n;
    return CLI::Validator(
        [names, listed](std::string& text) -> std::string {
            if (std::find(names.begin(), names.end(), text) != names.end()) return "";
            return "expected one of " + listed + ", found '" + text + "'";
        },
        "{" + braces + "}");
}

std::string nearest_option(const CLI::App& app, const std::string& arg) {
    std::string best;
    size_t best_distance = std::max<size_t>(2, arg.size() / 3) + 1;
    for (const CLI::Option* opt : app.get_options()) {
        std::vector<std::string> names;
        for (const auto& l : opt->get_lnames()) names.push_back("--" + l);
        for (const auto& s : opt->get_snames()) names.push_back("-" + s);
        for (const auto& name : names) {
            // a prefix of a longer option ("--top" for "--top5") is as good as one edit
            const size_t d = name.rfind(arg, 0) == 0 && arg.size() > 3 ? 1 : edit_distance(arg, name);
            if (d < best_distance) best_distance = d, best = name;
        }
    }
    return best;
}

int run_tool(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
    std::signal(SIGPIPE, SIG_IGN);  // a closed stdout becomes EPIPE, handled as BrokenPipe
    app.set_version_flag("--version", version_text(app.get_name()));
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << parse_error_message(app, e) << '\n';
        return 2;
    }
    const CLI::Option* quiet_option = app.get_option_no_throw("--quiet");
    const bool quiet = quiet_option && quiet_option->count() > 0;
    start_stop_signals(app.get_name(), quiet);  // before any thread: they inherit its mask
    configure_decoding_messages(app.get_name(), quiet);
    // Every rank of a job reports its own error, tagged with its rank, and then ends the whole job:
    // the other ranks would otherwise wait for it forever.
    auto fail = [&](const std::string& message, int code) {
        // One write, so the lines of several ranks do not interleave on mpirun's stderr.
        const std::string line = app.get_name() + rank_tag() + ": " + message + "\n";
        std::fwrite(line.data(), 1, line.size(), stderr);
        std::fflush(stderr);
        if (in_parallel_job()) world().abort(code);
        return code;
    };
    try {
        const int code = body();
        if (in_parallel_job()) world().finish();
        return code;
    } catch (const BrokenPipe&) {
        if (in_parallel_job()) world().abort(0);
        return 0;
    } catch (const Error& e) {
        return fail(e.what(), e.is_usage() ? 2 : 1);
    } catch (const dnnl::error& e) {
        return fail(std::string("oneDNN: ") + e.what(), 1);
    } catch (const std::bad_alloc&) {
        return fail("out of memory", 1);
    } catch (const std::exception& e) {
        return fail(e.what(), 1);
    }
}

}  // namespace alexnet
