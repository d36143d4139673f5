#include "cli/embed_options.hpp"

#include <cmath>
#include <filesystem>
#include <memory>

#include "cli/options.hpp"
#include "cli/run_model.hpp"
#include "core/error.hpp"
#include "formats/model_file.hpp"
#include "formats/npy.hpp"
#include "io/atomic_file.hpp"
#include "model/model.hpp"
#include "parallel/communicator.hpp"

namespace alexnet {

namespace fs = std::filesystem;

void add_embed_options(CLI::App& app, EmbedCli& o) {
    add_common_options(app, o.common);
    app.add_option("-l,--layer", o.layer, "Layer whose output to extract (conv1..conv5 and fc6/fc7 after ReLU, "
                                          "norm1/2, pool1/2/5, fc8 logits, prob)")->capture_default_str();
    app.add_option("--normalize", o.normalize, "l2 | none")->check(one_of({"l2", "none"}))->capture_default_str();
    app.add_option("--format", o.format, "jsonl | npy (default: --output's extension, else jsonl)")
        ->check(one_of({"jsonl", "npy"}));
    app.add_option("-o,--output", o.output,
                   "Write the embeddings to FILE instead of stdout, written whole or not at all: .npy (a float32 "
                   "matrix; its paths in FILE.paths.txt, one per row) or .jsonl; stdout then gets error lines and "
                   "one summary");
    // Moved to alexnet-convert; kept one release so the old command says where it went.
    app.add_option("--convert", o.convert, "Moved: alexnet-convert IN -o OUT");
}

namespace {

// The format follows --output's extension; an explicit --format takes any name but no contradiction.
std::string settle_format(const std::string& format, const std::string& output) {
    const std::string ext = output.empty() ? "" : fs::path(output).extension().string();
    const std::string implied = ext == ".npy" ? "npy" : ext == ".jsonl" ? "jsonl" : "";
    std::string f = format;
    if (f.empty()) {
        check(output.empty() || !implied.empty(), "--output", "", "a .npy or .jsonl file (or --format npy|jsonl)", output);
        f = output.empty() ? "jsonl" : implied;
    }
    check(implied.empty() || implied == f, "--format", "", implied + " (the format of --output " + output + ")", f);
    check(f != "npy" || !output.empty(), "--format", "", "--output FILE with npy", "no --output");
    return f;
}

void l2_normalize(std::vector<float>& row) {
    double norm = 0;
    for (float v : row) norm += double(v) * v;
    norm = std::sqrt(norm);
    if (norm > 0)
        for (float& v : row) v = float(v / norm);
}

// Where the rows go: stdout, or a .npy matrix with its paths file, or a .jsonl file, each written
// atomically by rank 0 alone (under mpirun).
class EmbeddingSink {
public:
    EmbeddingSink(const EmbedCli& o, const std::string& format, int dim, JsonLines& out)
        : o_(o), dim_(dim), out_(out) {
        if (o.output.empty() || !lead_process()) return;
        if (format == "npy") {
            npy_ = std::make_unique<NpyWriter>(o.output, dim);
            paths_ = std::make_unique<AtomicFile>(o.output + ".paths.txt");
        } else {
            jsonl_ = std::make_unique<AtomicFile>(o.output);
        }
    }

    void add(const std::string& path, const std::vector<float>& row) {
        if (npy_) {
            npy_->append(row.data());
            paths_->write(paths_txt_line(path) + "\n");
            return;
        }
        line_ = nlohmann::ordered_json{{"path", path}, {"layer", o_.layer}, {"dim", dim_}}.dump();
        line_.pop_back();  // reopen the object to append the long array by hand
        line_ += ",\"embedding\":[";
        for (int i = 0; i < dim_; ++i) {
            if (i) line_ += ',';
            append_float(line_, row[size_t(i)]);
        }
        line_ += "]}";
        if (jsonl_) {
            line_ += '\n';
            jsonl_->write(line_);
            ++rows_;
        } else if (o_.output.empty()) {
            out_.write_raw(line_);
        }
    }

    // Commits the file and writes the summary line.
    void finish() {
        if (npy_) {
            npy_->finish();
            paths_->commit();
            out_.write({{"output", o_.output}, {"paths", o_.output + ".paths.txt"}, {"layer", o_.layer},
                        {"rows", npy_->rows()}, {"dim", dim_}});
        } else if (jsonl_) {
            jsonl_->commit();
            out_.write({{"output", o_.output}, {"layer", o_.layer}, {"rows", rows_}, {"dim", dim_}});
        }
    }

private:
    const EmbedCli& o_;
    const int dim_;
    JsonLines& out_;
    std::unique_ptr<NpyWriter> npy_;
    std::unique_ptr<AtomicFile> paths_, jsonl_;
    int64_t rows_ = 0;
    std::string line_;  // reused for every image
};

}  // namespace

int run_embed(EmbedCli o, JsonLines& out) {
    if (!o.convert.empty()) throw UsageError("--convert moved to alexnet-convert: alexnet-convert IN -o OUT");
    const std::string format = settle_format(o.format, o.output);
    LoadedModel model = load_tool_model(o.common);
    require_inputs(o.common);
    // An unknown layer lists the known ones, and an unwritable output fails, before any image.
    const int dim = int(infer_shapes(model.spec)[model.spec.index_of_option(o.layer, "--layer")].size());
    EmbeddingSink sink(o, format, dim, out);
    std::vector<float> row;  // reused for every image
    const int failed = run_images(o.common, model, o.layer, [&](const std::string& path, const std::string& error,
                                                                const float* values, int) {
        if (!error.empty()) {
            out.write({{"path", path}, {"error", error}});
            return;
        }
        row.assign(values, values + dim);
        if (o.normalize == "l2") l2_normalize(row);
        sink.add(path, row);
    });
    sink.finish();
    return failed ? 1 : 0;
}

}  // namespace alexnet
