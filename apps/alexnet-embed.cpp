// alexnet-embed: a layer's activations (fc7 by default) per image, as JSON Lines or a .npy matrix.
#include <cmath>
#include <filesystem>
#include <memory>

#include "cli/options.hpp"
#include "io/json_lines.hpp"
#include "cli/run_model.hpp"
#include "parallel/communicator.hpp"
#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "formats/model_file.hpp"
#include "formats/npy.hpp"
#include "model/model.hpp"

using namespace alexnet;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
    CLI::App app{"Extract AlexNet features: {\"path\", \"layer\", \"dim\", \"embedding\"} per image, or a .npy matrix",
                 "alexnet-embed"};
    CommonOptions o;
    std::string layer = "fc7", normalize = "none", format, output;
    add_common_options(app, o);
    app.add_option("-l,--layer", layer, "Layer whose output to extract (conv1..conv5 and fc6/fc7 after ReLU, "
                                        "norm1/2, pool1/2/5, fc8 logits, prob)")->capture_default_str();
    app.add_option("--normalize", normalize, "l2 | none")->check(one_of({"l2", "none"}))->capture_default_str();
    app.add_option("--format", format, "jsonl | npy (default: --output's extension, else jsonl)")
        ->check(one_of({"jsonl", "npy"}));
    app.add_option("-o,--output", output,
                   "Write the embeddings to FILE instead of stdout, written whole or not at all: .npy (a float32 "
                   "matrix; its paths in FILE.paths.txt, one per row) or .jsonl; stdout then gets error lines and "
                   "one summary");
    std::string convert;
    app.add_option("--convert", convert,
                   "Write --weights (any format: .pth, .caffemodel, .onnx, safetensors) as OUT.safetensors with "
                   "full metadata, and exit");

    return run_tool(app, argc, argv, [&] {
        if (o.summary) {
            print_summary(o);
            return 0;
        }
        if (!convert.empty()) {
            const LoadedModel model = load_tool_model(o);
            save_model(convert, model.spec, model.weights, model.labels);
            log_info(o.quiet, "alexnet-embed: wrote " + convert + " (" + model.spec.arch + ", " +
                                  std::to_string(model.spec.num_classes()) + " classes)");
            return 0;
        }
        JsonLines out;
        // The format follows --output's extension; an explicit --format takes any name but no contradiction.
        const std::string ext = output.empty() ? "" : fs::path(output).extension().string();
        const std::string implied = ext == ".npy" ? "npy" : ext == ".jsonl" ? "jsonl" : "";
        if (format.empty()) {
            check(output.empty() || !implied.empty(), "--output", "", "a .npy or .jsonl file (or --format npy|jsonl)",
                  output);
            format = output.empty() ? "jsonl" : implied;
        }
        check(implied.empty() || implied == format, "--format", "",
              implied + " (the format of --output " + output + ")", format);
        check(format != "npy" || !output.empty(), "--format", "", "--output FILE with npy", "no --output");
        LoadedModel model = load_tool_model(o);
        require_inputs(o);
        // An unknown layer lists the known ones, and an unwritable output fails, before any image.
        const int dim = int(infer_shapes(model.spec)[model.spec.index_of_option(layer, "--layer")].size());
        std::unique_ptr<NpyWriter> npy;
        std::unique_ptr<AtomicFile> paths, jsonl;
        if (!output.empty() && lead_process()) {  // under mpirun, rank 0 alone writes
            if (format == "npy") {
                npy = std::make_unique<NpyWriter>(output, dim);
                paths = std::make_unique<AtomicFile>(output + ".paths.txt");
            } else {
                jsonl = std::make_unique<AtomicFile>(output);
            }
        }
        int64_t rows = 0;
        std::string line;
        std::vector<float> row;  // reused for every image
        const int failed = run_images(o, model, layer, [&](const std::string& path, const std::string& error,
                                                           const float* values, int) {
            if (!error.empty()) {
                out.write({{"path", path}, {"error", error}});
                return;
            }
            row.assign(values, values + dim);
            if (normalize == "l2") {
                double norm = 0;
                for (float v : row) norm += double(v) * v;
                norm = std::sqrt(norm);
                if (norm > 0)
                    for (float& v : row) v = float(v / norm);
            }
            if (npy) {
                npy->append(row.data());
                paths->write(paths_txt_line(path) + "\n");
                return;
            }
            line = nlohmann::ordered_json{{"path", path}, {"layer", layer}, {"dim", dim}}.dump();
            line.pop_back();  // reopen the object to append the long array by hand
            line += ",\"embedding\":[";
            for (int i = 0; i < dim; ++i) {
                if (i) line += ',';
                append_float(line, row[i]);
            }
            line += "]}";
            if (jsonl) {
                line += '\n';
                jsonl->write(line);
                ++rows;
            } else if (output.empty()) {
                out.write_raw(line);
            }
        });
        if (npy) {
            npy->finish();
            paths->commit();
            out.write({{"output", output}, {"paths", output + ".paths.txt"}, {"layer", layer},
                       {"rows", npy->rows()}, {"dim", dim}});
        } else if (jsonl) {
            jsonl->commit();
            out.write({{"output", output}, {"layer", layer}, {"rows", rows}, {"dim", dim}});
        }
        return failed ? 1 : 0;
    });
}
