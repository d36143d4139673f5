# Thin wrapper over CMake. `make demo` and `make test` work on a fresh Debian 12 machine: they
# install the Debian packages they need first (only what is missing).
BUILD ?= build
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)
WEIGHTS ?= data/alexnet-28-fmnist.safetensors

.PHONY: all deps build test demo bench install fixtures model clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Classifies the shipped Fashion-MNIST test images with the embedded default model.
demo: build
	$(BUILD)/alexnet-classify --weights $(WEIGHTS) --top 3 data/demo

# Speed and memory figures (README "Performance"); prints JSON lines.
bench: build
	$(BUILD)/alexnet-bench --arch alexnet
	$(BUILD)/alexnet-bench --arch alexnet-tv --skip-embed --batches 32
	@scripts/install-deps.sh time
	@scripts/measure-classify-rss.sh $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# Regenerates the PyTorch golden fixtures (needs python3-torch, python3-torchvision, python3-opencv).
fixtures:
	@scripts/install-deps.sh python3-torch python3-torchvision python3-opencv
	/usr/bin/python3 tests/fixtures/make_fixtures.py

# Retrains the embedded default (interim: PyTorch; needs python3-torch and dataset-fashion-mnist).
model:
	@scripts/install-deps.sh python3-torch python3-pil dataset-fashion-mnist
	/usr/bin/python3 scripts/train_fmnist_pytorch.py

clean:
	rm -rf $(BUILD)
