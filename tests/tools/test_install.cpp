// The installed tools (cmake --install into a fresh prefix), as the README promises them: the
// default model found without --weights, exit codes, and -q.
#include <doctest/doctest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "cli_util.hpp"
#include "test_util.hpp"

using alexnet::test::kBin;
using alexnet::test::mpirun;
using alexnet::test::run;
using alexnet::test::Run;
using alexnet::test::TempDir;
namespace fs = std::filesystem;

TEST_CASE("installed tools: the default model without --weights, exit codes 0/1/2, -q") {
    TempDir prefix;
    const Run install = run("cmake --install " + kBin + " --prefix " + prefix.path.string() + " >/dev/null");
    REQUIRE(install.status == 0);
    const std::string model = prefix / "share/alexnet/alexnet-28-fmnist.safetensors";
    CHECK(fs::is_regular_file(model));
    CHECK(fs::is_regular_file(prefix / "share/alexnet/fashion_mnist_classes.txt"));
    const std::string bin = "env -u ALEXNET_WEIGHTS " + prefix / "bin/";
    const std::string img = std::string(ALEXNET_DATA_DIR) + "/demo/0002-trouser.png";

    const Run c = run(bin + "alexnet-classify " + img);
    CHECK(c.status == 0);
    CHECK(c.lines().at(0)["top"][0]["label"] == "Trouser");
    CHECK(c.err.rfind("alexnet-classify: no --weights given; using the installed default model " + model +
                          " (Fashion-MNIST, 10 classes)\n", 0) == 0);
    const Run quiet = run(bin + "alexnet-classify -q " + img);
    CHECK(quiet.status == 0);
    CHECK(quiet.err.empty());
    CHECK(quiet.out == c.out);

    const Run eval = run(bin + "alexnet-eval -q --limit 100 /usr/share/datasets/fashion-mnist");
    CHECK(eval.status == 0);
    CHECK(eval.err.empty());
    CHECK(eval.lines().back()["weights"] == model);

    // --precision int8 without --weights: the installed quantized twin; a float model named in the message
    const std::string model8 = prefix / "share/alexnet/alexnet-28-fmnist-int8.safetensors";
    CHECK(fs::is_regular_file(model8));
    const Run c8 = run(bin + "alexnet-classify --precision int8 " + img);
    CHECK(c8.status == 0);
    CHECK(c8.lines().at(0)["top"][0]["label"] == "Trouser");
    CHECK(c8.err.rfind("alexnet-classify: no --weights given; using the installed default model " + model8 +
                           " (Fashion-MNIST, 10 classes, int8)\n", 0) == 0);
    const Run e8 = run(bin + "alexnet-eval -q --precision int8 --limit 100 /usr/share/datasets/fashion-mnist");
    CHECK(e8.status == 0);
    CHECK(e8.lines().back()["weights"] == model8);
    CHECK(e8.lines().back()["precision"] == "int8");
    const Run float8 = run(bin + "alexnet-classify -q --precision int8 -w " + model + " " + img);
    CHECK(float8.status == 2);
    CHECK(float8.err == "alexnet-classify: --precision int8: expected a quantized model (alexnet-quantize -w " + model +
                            " --calibrate IMAGES -o MODEL-int8.safetensors), found float weights in " + model + "\n");
    const Run fp32 = run(bin + "alexnet-classify --precision fp32 -w " + model8 + " " + img);
    CHECK(fp32.status == 0);
    CHECK(fp32.err.rfind("alexnet-classify: " + model8 + ": an int8 model run in fp32 on its dequantized weights\n"
                         "alexnet-classify: 1 image (0 failed) in ", 0) == 0);

    const Run usage = run(bin + "alexnet-embed --layr fc7 " + img);
    CHECK(usage.status == 2);
    CHECK(usage.err == "alexnet-embed: unknown option '--layr'; did you mean '--layer'? (--help lists the options)\n");
    const Run runtime = run(bin + "alexnet-classify -q " + prefix / "missing.png");
    CHECK(runtime.status == 1);
    CHECK(runtime.err.empty());  // the error is the item's JSON line
    CHECK(runtime.lines().at(0)["error"] == prefix / "missing.png" + ": cannot open: No such file or directory");
    const Run env = run("ALEXNET_WEIGHTS=" + prefix / "nope.safetensors " + prefix / "bin/alexnet-classify -q " + img);
    CHECK(env.status == 1);  // $ALEXNET_WEIGHTS wins over the default, and a bad one is an error
    CHECK(env.err == "alexnet-classify: " + prefix / "nope.safetensors" + ": cannot open weights file: No such file or directory\n");

    // BMP and TIFF go through OpenCV's imgcodecs, loaded from PREFIX/LIBDIR/alexnet only when such a
    // file appears; the tools themselves do not link it (it costs ~0.35 s of start-up).
    const std::string bmp = prefix / "trouser.bmp";
    REQUIRE(cv::imwrite(bmp, cv::imread(img)));
    const std::string plain = "env -u ALEXNET_WEIGHTS -u ALEXNET_IMGCODECS " + prefix / "bin/";
    const Run b = run(plain + "alexnet-classify -q " + bmp);
    CHECK(b.status == 0);
    CHECK(b.lines().at(0)["top"][0]["label"] == "Trouser");
    CHECK(run("ldd " + prefix / "bin/alexnet-classify" + " | grep -c imgcodecs").out == "0\n");

    // Open MPI likewise: only a process started by mpirun loads alexnet-mpi.so.
    const std::string mpi_plain = "env -u ALEXNET_WEIGHTS -u ALEXNET_MPI " + prefix / "bin/";
    for (const char* tool : {"alexnet-classify", "alexnet-embed", "alexnet-train", "alexnet-eval"})
        CHECK(run("ldd " + prefix / (std::string("bin/") + tool) + " | grep -c libmpi").out == "0\n");
    // libonnx and libprotobuf likewise: only alexnet-convert links them (lib/convert).
    for (const char* tool : {"alexnet-classify", "alexnet-embed", "alexnet-train", "alexnet-eval", "alexnet-search"})
        CHECK(run("ldd " + prefix / (std::string("bin/") + tool) + " | grep -c -e libonnx -e libprotobuf").out == "0\n");
    CHECK(run("ldd " + prefix / "bin/alexnet-convert" + " | grep -c libonnx").out != "0\n");
    const Run job = run(mpirun(2, mpi_plain + "alexnet-eval -q --limit 20 /usr/share/datasets/fashion-mnist"));
    CHECK_MESSAGE(job.status == 0, job.err);
    CHECK(job.lines().size() == 1);  // rank 0 writes the summary of both ranks' shares
    CHECK(job.lines().at(0)["images"] == 20);
    std::string mpi_plugin;
    for (const auto& e : fs::recursive_directory_iterator(prefix.path))
        if (e.path().filename() == "alexnet-mpi.so") mpi_plugin = e.path();
    REQUIRE(!mpi_plugin.empty());
    fs::remove(mpi_plugin);
    const Run nompi = run(mpirun(2, mpi_plain + "alexnet-eval -q --limit 20 /usr/share/datasets/fashion-mnist"));
    CHECK_MESSAGE(nompi.status == 1, nompi.err);  // an install fault, not a usage error
    CHECK(nompi.err.find("alexnet-eval: mpirun: MPI: expected Open MPI (alexnet-mpi.so), found alexnet-mpi.so not found (looked for ") !=
          std::string::npos);

    std::string plugin;
    for (const auto& e : fs::recursive_directory_iterator(prefix.path))
        if (e.path().filename() == "alexnet-imgcodecs.so") plugin = e.path();
    REQUIRE(!plugin.empty());
    fs::remove(plugin);  // without it: BMP is an error line, PNG still works
    const Run nob = run(plain + "alexnet-classify -q " + bmp + " " + img);
    CHECK(nob.status == 1);
    CHECK(nob.lines().at(0)["error"].get<std::string>().rfind(
              bmp + ": BMP decoder: expected OpenCV's imgcodecs (alexnet-imgcodecs.so), found alexnet-imgcodecs.so not found (looked for ", 0) == 0);
    CHECK(nob.lines().at(1)["top"][0]["label"] == "Trouser");
}
