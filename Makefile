# Thin wrapper over CMake and scripts/. The two commands of the README:
#   make demo   install what is missing, build, start a private Redis and the
#               supervisor with the example plugin, enqueue sample jobs (Ctrl-C stops)
#   make test   install what is missing, build plain + ASan/UBSan, run every suite
#   make lint   install clang-tidy if missing, run the checks of .clang-tidy over the
#               product's sources (scripts/lint.sh); any finding fails. make test runs it too
#   make fuzz   build the libFuzzer harnesses (tests/fuzz/) and fuzz each target for
#               FUZZ_SECONDS (default 60); FUZZ_TARGETS picks some (default all)
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

.PHONY: all build demo test lint fuzz clean
all: build

build:
	@scripts/deps.sh build
	cmake -S . -B $(BUILD) -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCH=OFF >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

demo:
	@scripts/demo.sh

test:
	@scripts/test.sh

lint:
	@scripts/lint.sh

fuzz:
	@scripts/deps.sh test
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh fuzz $(FUZZ_TARGETS)

clean:
	rm -rf build build-asan build-fuzz build-lint build.build.log build-asan.build.log build-lint.build.log
