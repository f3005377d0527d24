# mproc front door.  `make demo` and `make test` do all set-up themselves.
#
#   make demo      build and run examples/pi.c (serial, threads, processes);
#                  needs only the build packages (no test package)
#   make test      the demo without any test package, plain build + ctest,
#                  valgrind, the same suite under ASan+UBSan (clang) and
#                  under ThreadSanitizer (clang), a short fuzz run
#   make bench     run every benchmark against its anchor (BENCH_ARGS=--json)
#   make install   PREFIX=/usr/local (default)
#   make clean

PREFIX   ?= /usr/local
BUILD    ?= build
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_Q  := -Wno-dev --log-level=WARNING
MAKEFLAGS += --no-print-directory
CTEST    := ctest --output-on-failure --timeout 600 -j $(JOBS)

.PHONY: all build demo test test-demo test-plain test-asan test-tsan test-valgrind test-fuzz bench install clean deps-build deps-test deps-bench

all: build

deps-build: ; @bash scripts/deps.sh build
deps-test:  ; @bash scripts/deps.sh test
deps-bench: ; @bash scripts/deps.sh bench

# The library, the examples, the benchmarks and the mproc command.  Tests
# are configured only where asked for (-DMPROC_TESTS=ON, the test targets).
build: deps-build
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_Q)
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@./$(BUILD)/examples/pi

test: deps-test test-demo test-plain test-valgrind test-asan test-tsan test-fuzz
	@echo "make test: all suites passed (demo, plain, valgrind, asan+ubsan, tsan, fuzz)"

# `make demo` as it runs on a machine without the test packages: in a build
# directory of its own, configured afresh, with a pkg-config that finds
# nothing (so not cmocka), the demo builds and runs and mproc works.
NO_PKG_CONFIG := $(CURDIR)/build-demo/no-pkg-config
test-demo: deps-build
	@mkdir -p $(NO_PKG_CONFIG) && rm -f build-demo/CMakeCache.txt
	@! PKG_CONFIG_LIBDIR=$(NO_PKG_CONFIG) PKG_CONFIG_PATH= pkg-config --exists cmocka || \
	  { echo "test-demo: pkg-config still finds cmocka"; exit 1; }
	@PKG_CONFIG_LIBDIR=$(NO_PKG_CONFIG) PKG_CONFIG_PATH= $(MAKE) demo BUILD=build-demo
	@[ "$$(./build-demo/cli/mproc run -k echo ::: a b c | tr '\n' ' ')" = "a b c " ] || \
	  { echo "test-demo: mproc run did not print a b c"; exit 1; }
	@echo "test-demo: the demo and mproc build and run without cmocka"

# GNU parallel's results in the differential suite do not depend on how mproc
# was built: the plain run records them afresh, the ASan+UBSan run compares
# its mproc with those records (tests/cli/differential.py --records).
RECORDS := $(CURDIR)/build/differential-records

test-plain: deps-test
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMPROC_TESTS=ON $(CMAKE_Q)
	@cmake --build build -j $(JOBS)
	@rm -rf $(RECORDS)
	@cd build && MPROC_DIFFERENTIAL_RECORDS=$(RECORDS) $(CTEST)

test-valgrind: test-plain
	@bash scripts/valgrind-tests.sh build

# Where the differential suite of `mproc run` against GNU parallel (label
# differential, tests/cli/differential.py) runs: in the plain build and under
# ASan+UBSan (the CLI's memory errors); not under TSan (label notsan), since
# `mproc run` runs a single thread there (no pool; its --bar thread starts only
# on a terminal).  valgrind runs only our C test programs.  Every C test
# program runs under both sanitizers.
test-asan: deps-test
	@CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPROC_SANITIZE=address,undefined -DMPROC_TESTS=ON -DMPROC_BENCH=OFF $(CMAKE_Q)
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && MPROC_DIFFERENTIAL_RECORDS=$(RECORDS) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(CTEST) -LE nosan

test-tsan: deps-test
	@CC=clang cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPROC_SANITIZE=thread -DMPROC_TESTS=ON -DMPROC_BENCH=OFF $(CMAKE_Q)
	@cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(CTEST) -LE 'nosan|notsan'

# libFuzzer on the mproc run option and replacement-string parsers, 25 s.
test-fuzz: deps-test
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPROC_FUZZ=ON -DMPROC_TESTS=OFF -DMPROC_BENCH=OFF -DMPROC_EXAMPLES=OFF $(CMAKE_Q)
	@cmake --build build-fuzz -j $(JOBS) --target mproc-fuzz-parser
	@mkdir -p build-fuzz/corpus
	@./build-fuzz/cli/mproc-fuzz-parser -max_total_time=25 -timeout=10 -print_final_stats=0 build-fuzz/corpus tests/cli/fuzz-seeds 2>build-fuzz/fuzz.log || { tail -60 build-fuzz/fuzz.log; exit 1; }
	@echo "test-fuzz: mproc run parsers fuzzed for 25 s, no crash"

bench: deps-bench build
	@./$(BUILD)/bench/mproc-bench $(BENCH_ARGS)

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	@rm -rf build build-demo build-asan build-tsan build-fuzz

# The tutorials' pi exercise as a plot: speedup at 1..4 workers, the ideal
# line and Amdahl's law fitted, in build/pi-speedup.svg (and .json).
.PHONY: speedup-pi
speedup-pi: build
	@./$(BUILD)/cli/mproc speedup --max 4 --svg $(BUILD)/pi-speedup.svg --json $(BUILD)/pi-speedup.json -- \
	  ./$(BUILD)/examples/pi_workers --once
	@echo "speedup-pi: the plot is $(BUILD)/pi-speedup.svg"

# Only the example programs (examples/README.md): no test package needed.
.PHONY: examples
examples: deps-build
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_Q)
	@cmake --build $(BUILD) -j $(JOBS) --target mproc-examples
