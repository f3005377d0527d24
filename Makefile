# mproc front door.  `make demo` and `make test` do all set-up themselves.
#
#   make demo      build and run examples/pi.c (serial, threads, processes)
#   make test      plain build + ctest, then the same suite under
#                  ASan+UBSan (clang) and under ThreadSanitizer (clang)
#   make bench     run every benchmark against its anchor (BENCH_ARGS=--json)
#   make install   PREFIX=/usr/local (default)
#   make clean

PREFIX   ?= /usr/local
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_Q  := -Wno-dev --log-level=WARNING
MAKEFLAGS += --no-print-directory
CTEST    := ctest --output-on-failure --timeout 600 -j $(JOBS)

.PHONY: all build demo test test-plain test-asan test-tsan test-valgrind test-fuzz bench install clean deps-build deps-test deps-bench

all: build

deps-build: ; @bash scripts/deps.sh build
deps-test:  ; @bash scripts/deps.sh test
deps-bench: ; @bash scripts/deps.sh bench

build: deps-build
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release $(CMAKE_Q)
	@cmake --build build -j $(JOBS)

demo: build
	@./build/examples/pi

test: deps-test test-plain test-valgrind test-asan test-tsan test-fuzz
	@echo "make test: all suites passed (plain, valgrind, asan+ubsan, tsan, fuzz)"

test-plain: deps-test
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release $(CMAKE_Q)
	@cmake --build build -j $(JOBS)
	@cd build && $(CTEST)

test-valgrind: test-plain
	@bash scripts/valgrind-tests.sh build

test-asan: deps-test
	@CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPROC_SANITIZE=address,undefined -DMPROC_BENCH=OFF $(CMAKE_Q)
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(CTEST) -LE nosan

test-tsan: deps-test
	@CC=clang cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPROC_SANITIZE=thread -DMPROC_BENCH=OFF $(CMAKE_Q)
	@cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(CTEST) -LE nosan

# libFuzzer on the mproc run option and replacement-string parsers, 25 s.
test-fuzz: deps-test
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPROC_FUZZ=ON -DMPROC_TESTS=OFF -DMPROC_BENCH=OFF -DMPROC_EXAMPLES=OFF $(CMAKE_Q)
	@cmake --build build-fuzz -j $(JOBS) --target mproc-fuzz-parser
	@mkdir -p build-fuzz/corpus
	@./build-fuzz/cli/mproc-fuzz-parser -max_total_time=25 -timeout=10 -print_final_stats=0 build-fuzz/corpus tests/cli/fuzz-seeds 2>build-fuzz/fuzz.log || { tail -60 build-fuzz/fuzz.log; exit 1; }
	@echo "test-fuzz: mproc run parsers fuzzed for 25 s, no crash"

bench: deps-bench build
	@./build/bench/mproc-bench $(BENCH_ARGS)

install: build
	@cmake --install build --prefix $(PREFIX)

clean:
	@rm -rf build build-asan build-tsan build-fuzz

# Only the example programs (examples/README.md): no test package needed.
.PHONY: examples
examples: deps-build
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release $(CMAKE_Q)
	@cmake --build build -j $(JOBS) --target mproc-examples
