# Makefile: the short commands. CMake does the work (CMakeLists.txt).
#   make test            Release build in build/, then the whole ctest suite
#   make test-sanitize   ASan + UBSan (+ LeakSanitizer) build in build-sanitize/, suite, then fuzz
#   make fuzz            clang libFuzzer build in build-fuzz/, each fuzz target for FUZZ_RUNS inputs
#   make demo            install-deps, build, then `volt fit -c examples/configs/fashion_mnist_cnn.yaml`:
#                        the CNN on Fashion-MNIST, then a test of its best checkpoint
#                        (logs and checkpoints under $(BUILD_DIR)/demo; DEMO_ARGS=... adds
#                        overrides, e.g. DEMO_ARGS=--trainer.max_epochs=1)
#   make cli-reference   docs/cli.md from the option tables
#   make demo-mlp        build, then examples/mlp_fashion_mnist.c (the module written by hand)
#   make bench           build, then bench/run.sh on 2 threads (BENCH_THREADS, BENCH_QUICK=1,
#                        BENCH_SUITES: see bench/README.md), volt vs PyTorch and Lightning
#   make install PREFIX=/usr/local
#   make format | format-check | clean
# Warnings are errors everywhere (WERROR=OFF to relax locally). The CUDA backend
# is built when nvcc is found (CMAKE_ARGS=-DVOLT_CUDA=OFF to leave it out).

BUILD_DIR    ?= build
SAN_DIR      ?= build-sanitize
FUZZ_DIR     ?= build-fuzz
FUZZ_RUNS    ?= 200000
PREFIX       ?= /usr/local
WERROR       ?= ON
JOBS         ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS   ?= 2
CMAKE        ?= cmake
CTEST        ?= ctest
CLANG_FORMAT ?= clang-format
CMAKE_ARGS   ?=
DEMO_CONFIG  ?= examples/configs/fashion_mnist_cnn.yaml
DEMO_ARGS    ?=

# protect_shadow_gap=0: the CUDA driver maps memory where ASan's shadow gap
# would be (harmless without a GPU).
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:protect_shadow_gap=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

FORMAT_DIRS  = $(wildcard src include tests examples bench tools)
FORMAT_FILES = $(shell find $(FORMAT_DIRS) -name '.*' -prune -o \
                 -type f \( -name '*.c' -o -name '*.h' \) -print 2>/dev/null)

# `env -u MAKEFLAGS ...`: cmake --build runs its own make; without this it
# inherits our make level and prints "Entering directory" around every step.

.PHONY: all deps cli-reference build build-sanitize test test-sanitize fuzz demo demo-mlp bench install clean format \
	format-check

all: build

build:
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DVOLT_WERROR=$(WERROR) $(CMAKE_ARGS)
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(CMAKE) --build $(BUILD_DIR) -j$(JOBS)

build-sanitize:
	$(CMAKE) -S . -B $(SAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVOLT_SANITIZE=ON \
		-DVOLT_WERROR=$(WERROR) $(CMAKE_ARGS)
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(CMAKE) --build $(SAN_DIR) -j$(JOBS)

test: build
	$(CTEST) --test-dir $(BUILD_DIR) --output-on-failure -j$(CTEST_JOBS)

test-sanitize: build-sanitize
	$(SAN_ENV) $(CTEST) --test-dir $(SAN_DIR) --output-on-failure -j$(CTEST_JOBS)
	$(MAKE) --no-print-directory fuzz

# The parsers' fuzz targets (tests/fuzz), built with clang by scripts/fuzz.sh.
fuzz:
	FUZZ_RUNS=$(FUZZ_RUNS) scripts/fuzz.sh $(FUZZ_DIR)

# The README's first command: dependencies (silent when present), build, train.
demo: deps build
	./$(BUILD_DIR)/tools/volt/volt fit -c $(DEMO_CONFIG) \
		--trainer.default_root_dir=$(BUILD_DIR)/demo $(DEMO_ARGS)

deps:
	scripts/install-deps.sh

# docs/cli.md from the option tables (the test tools/cli_reference checks it).
cli-reference: build
	scripts/cli-reference.sh $(BUILD_DIR)/tools/volt/volt

demo-mlp: build
	./$(BUILD_DIR)/examples/mlp_fashion_mnist

bench: build
	bash bench/run.sh $(BUILD_DIR) $${BENCH_THREADS:-2}

install: build
	$(CMAKE) --install $(BUILD_DIR) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD_DIR) $(SAN_DIR) $(FUZZ_DIR)

format:
	$(if $(FORMAT_FILES),$(CLANG_FORMAT) -i $(FORMAT_FILES),@echo "make format: no files")

format-check:
	$(if $(FORMAT_FILES),$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES),@echo "make format-check: no files")
