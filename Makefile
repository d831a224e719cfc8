# Thin wrapper over CMake and scripts/. The two commands of the README:
#   make demo   install what is missing, build, start a private Redis and the
#               supervisor with the example plugin, enqueue sample jobs (Ctrl-C stops)
#   make test   install what is missing, build plain + ASan/UBSan, run every suite
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build demo test clean
all: build

build:
	@scripts/deps.sh build
	cmake -S . -B $(BUILD) -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCH=OFF >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

demo:
	@scripts/demo.sh

test:
	@scripts/test.sh

clean:
	rm -rf build build-asan build.build.log build-asan.build.log
