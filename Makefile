# Thin wrapper over CMake. `make demo` and `make test` work on a fresh Debian 12 machine: they
# install the Debian packages they need first (only what is missing).
BUILD ?= build
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)
WEIGHTS ?= data/alexnet-28-fmnist.safetensors
FMNIST ?= /usr/share/datasets/fashion-mnist
FMNIST_RECIPE ?= --init kaiming --epochs 20 --batch-size 64 --lr 0.025 --warmup-epochs 1 \
  --lr-policy cosine --pad 1

# make sanitize / make fuzz: one clang build with AddressSanitizer + UndefinedBehaviorSanitizer and
# the libFuzzer harnesses (tests/fuzz), in its own folder. make check (what CI runs) = make test,
# then make sanitize, whose CTest run also fuzzes each harness for FUZZ_SECONDS.
SANITIZE_BUILD ?= build-sanitize
FUZZ_SECONDS ?= 30
SANITIZE_DEPS = clang libclang-rt-14-dev llvm-14

.PHONY: all deps build test check demo bench install fixtures model clean model-int8 sanitize-build sanitize fuzz tsan-build tsan bench-peer

all: build

# Installs the missing Debian packages: one line per step on stderr, apt's output appended to
# $(BUILD)/setup.log (printed with the log's tail when a step fails).
deps:
	@BUILD='$(BUILD)' scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

$(SANITIZE_BUILD)/CMakeCache.txt: | deps
	@scripts/install-deps.sh $(SANITIZE_DEPS)
	cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG" -DALEXNET_SANITIZE=ON -DALEXNET_FUZZ=ON \
	  -DALEXNET_FUZZ_SECONDS=$(FUZZ_SECONDS)

sanitize-build: deps $(SANITIZE_BUILD)/CMakeCache.txt
	cmake --build $(SANITIZE_BUILD) -j $(JOBS)

# The whole test suite under ASan + UBSan + LSan (a report fails the test), and each libFuzzer
# harness for FUZZ_SECONDS (as set when the build was configured) as the CTest tests fuzz_*. The
# reruns under a capped ONEDNN_MAX_CPU_ISA (label isa) stay in make test: our code is the same
# whatever kernels oneDNN picks.
sanitize: sanitize-build
	cd $(SANITIZE_BUILD) && ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14 ASAN_OPTIONS=detect_leaks=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp ctest --output-on-failure -j $(JOBS) -LE isa

# ThreadSanitizer (clang 14) on the tests that run threads of ours (CTest label "threads"), in its
# own folder; tests/tsan.supp holds what the uninstrumented libraries need (libgomp, TBB, oneDNN,
# GDAL, Open MPI). No thread-leak reports: a tool ended by a signal exits with its threads running.
TSAN_BUILD ?= build-tsan
TSAN_TESTS = test_threads test_decode test_data test_train_data test_train test_cli test_messy_inputs \
  test_data_parallel test_signals

$(TSAN_BUILD)/CMakeCache.txt: | deps
	@scripts/install-deps.sh $(SANITIZE_DEPS)
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG" -DALEXNET_TSAN=ON

tsan-build: deps $(TSAN_BUILD)/CMakeCache.txt
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TESTS)

tsan: tsan-build
	cd $(TSAN_BUILD) && TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1 report_thread_leaks=0" \
	  ctest --output-on-failure -j $(JOBS) -L threads

# What CI runs (.ci/run): the Release suite, then the sanitizer suite with the fuzzers, then the
# threaded tests under ThreadSanitizer.
check: test sanitize tsan

# Each libFuzzer harness for FUZZ_SECONDS (JOBS at a time), seeded from the committed fixtures;
# findings go to $(SANITIZE_BUILD)/fuzz-findings.
fuzz: sanitize-build
	@FUZZ_JOBS=$(JOBS) scripts/run-fuzzers.sh $(SANITIZE_BUILD) $(FUZZ_SECONDS)

# Classifies the shipped Fashion-MNIST test images with the embedded default model (builds only
# alexnet-classify).
demo: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target alexnet-classify
	$(BUILD)/alexnet-classify --weights $(WEIGHTS) --top 3 data/demo

# Speed and memory figures (docs/performance.md); prints JSON lines.
bench: build
	$(BUILD)/alexnet-bench --arch alexnet
	$(BUILD)/alexnet-bench precision --arch alexnet
	$(BUILD)/alexnet-bench --arch alexnet-tv --skip-embed --batches 32
	$(BUILD)/alexnet-bench training --arch alexnet
	$(BUILD)/alexnet-bench under-load 1 --arch alexnet
	$(BUILD)/alexnet-bench search
	OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np 2 \
	  $(BUILD)/alexnet-bench allreduce --arch alexnet --train-batch 32 --runs 5
	@scripts/install-deps.sh time
	@scripts/measure-classify-rss.sh $(BUILD)

# The peer in the same minutes: ONNX Runtime on torchvision's AlexNet beside alexnet-bench's alexnet-tv
# (installs onnxruntime-node and Debian's PyTorch into $(BUILD)/peer-ort on first use).
bench-peer: build
	$(BUILD)/alexnet-bench --arch alexnet-tv --skip-embed --batches 32
	scripts/peer-ort/run.sh $(BUILD)
	$(BUILD)/alexnet-bench --arch alexnet-tv --skip-embed --batches 32

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# Regenerates the PyTorch golden fixtures (needs python3-torch, python3-torchvision, python3-opencv).
fixtures:
	@scripts/install-deps.sh python3-torch python3-torchvision python3-opencv python3-pil
	/usr/bin/python3 tests/fixtures/make_fixtures.py
	/usr/bin/python3 tests/fixtures/make_import_fixtures.py
	/usr/bin/python3 tests/fixtures/make_convnet18pct_fixture.py
	/usr/bin/python3 scripts/fmnist_reference.py

# Retrains the embedded default with alexnet-train (about 14 minutes on 2 cores). The test set is
# only reported (--keep last: no model selection on it).
# SEED=1 (the default) remakes the shipped model; another seed (same recipe) writes
# $(BUILD)/alexnet-28-fmnist-seedN.safetensors, e.g. the members of an ensemble.
SEED ?= 1
model: build
	$(BUILD)/alexnet-train --data $(FMNIST) --val $(FMNIST) --arch alexnet-28 \
	  --labels data/fashion_mnist_classes.txt $(FMNIST_RECIPE) --seed $(SEED) --keep last \
	  --out $(BUILD)/fmnist-model-seed$(SEED)
ifeq ($(SEED),1)
	cp $(BUILD)/fmnist-model-seed1/model.safetensors data/.alexnet-28-fmnist.tmp
	mv data/.alexnet-28-fmnist.tmp data/alexnet-28-fmnist.safetensors
else
	cp $(BUILD)/fmnist-model-seed$(SEED)/model.safetensors $(BUILD)/alexnet-28-fmnist-seed$(SEED).safetensors
endif

# Remakes the shipped int8 version of the default model: calibrated on 500 training images, the
# methods compared on 2000 others (the test set is only measured, by alexnet-eval).
model-int8: build
	$(BUILD)/alexnet-quantize -w $(WEIGHTS) --calibrate $(FMNIST) --images 500 --check-images 2000 \
	  -o data/alexnet-28-fmnist-int8.safetensors

clean:
	rm -rf $(BUILD) $(SANITIZE_BUILD) $(TSAN_BUILD)
