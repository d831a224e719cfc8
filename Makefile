# Thin wrapper over CMake and scripts/. The two commands of the README:
#   make demo   install what is missing, build, start a private Redis and the
#               supervisor with the example plugin, enqueue sample jobs (Ctrl-C stops)
#   make test   install what is missing, build plain + ASan/UBSan, run every suite
#   make test-unit  the fast subset: build the unit suites (tests/unit/) in the
#               plain build and run them (ctest -L unit); no Redis, no processes
#   make lint   install clang-tidy if missing, run the checks of .clang-tidy over the
#               product's sources (scripts/lint.sh); any finding fails. make test runs it too
#   make format rewrite every .c/.h/.cpp as .clang-format says (make test checks it)
#   make fuzz   build the libFuzzer harnesses (tests/fuzz/) and fuzz each target for
#               FUZZ_SECONDS (default 60); FUZZ_TARGETS picks some (default all)
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
UNIT_TESTS := $(basename $(notdir $(wildcard tests/unit/test_*.c)))

.PHONY: all build demo test test-unit lint format fuzz clean
all: build

build:
	@scripts/deps.sh build
	cmake -S . -B $(BUILD) -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCH=OFF >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

demo:
	@scripts/demo.sh

test:
	@scripts/test.sh

test-unit:
	@scripts/deps.sh test
	cmake -S . -B $(BUILD) -DSLUICE_WERROR=ON -DSLUICE_BUILD_TESTS=ON >/dev/null
	cmake --build $(BUILD) -j$(JOBS) --target $(UNIT_TESTS)
	cd $(BUILD) && ctest -L unit --output-on-failure -j$(JOBS)

lint:
	@scripts/lint.sh

format:
	@scripts/check-format.sh --fix

fuzz:
	@scripts/deps.sh test
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh fuzz $(FUZZ_TARGETS)

clean:
	rm -rf build build-asan build-fuzz build-lint build.build.log build-asan.build.log build-lint.build.log
