# The two everyday commands are `make run` and `make test`; CMake does the real work.

RELEASE_CC ?= gcc
TEST_CC ?= clang
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 300
PORT ?= 8080

BUILD := build
TEST_BUILD := build-test

# cmake --build runs make underneath; keep its output to the compiler lines.
MAKEFLAGS += --no-print-directory

.PHONY: all build run test bench fuzz format clean deps deps-bench

all: build

deps:
	@bash scripts/deps.sh

deps-bench:
	@bash scripts/deps.sh bench

# Configure once; afterwards `cmake --build` re-runs CMake itself when a CMakeLists.txt changes.
$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_C_COMPILER=$(RELEASE_CC) -DCMAKE_BUILD_TYPE=Release

$(TEST_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(TEST_BUILD) -DCMAKE_C_COMPILER=$(TEST_CC) -DCMAKE_BUILD_TYPE=Debug \
	  -DTINCAN_SANITIZE=ON -DTINCAN_FUZZ=ON

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

run: build
	exec ./$(BUILD)/tincan --host 127.0.0.1 --port $(PORT)

test: build $(TEST_BUILD)/CMakeCache.txt
	cmake --build $(TEST_BUILD) -j$(JOBS)
	ctest --test-dir $(TEST_BUILD) --output-on-failure -j2

bench: deps-bench $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)
	bash bench/http_wrk.sh
	bash bench/ws_echo.sh
	bash bench/sio_echo.sh
	bash bench/stun.sh

# Longer runs than the ctest smoke runs, one fuzzer at a time; finds land in fuzz/corpus-run/.
fuzz: deps $(TEST_BUILD)/CMakeCache.txt
	cmake --build $(TEST_BUILD) -j$(JOBS)
	@set -e; for f in $(TEST_BUILD)/fuzz/fuzz_*; do \
	  [ -x "$$f" ] || continue; \
	  name=$$(basename "$$f"); \
	  seeds=fuzz/corpus/$$name; [ -d "$$seeds" ] || seeds=; \
	  mkdir -p fuzz/corpus-run/$$name; \
	  echo "== $$name for $(FUZZ_SECONDS) s"; \
	  "$$f" -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=fuzz/corpus-run/ fuzz/corpus-run/$$name $$seeds; \
	done

format:
	find src include apps tests fuzz bench -name '*.[ch]' -print0 2>/dev/null | xargs -0 -r clang-format -i

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
