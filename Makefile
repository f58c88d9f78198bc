# SPDX-License-Identifier: Apache-2.0
# The front door. Meson does the building; this file only names the everyday tasks.
#   make        install missing packages, build build/vigil
#   make run    the same, then `vigil serve` on the embedded defaults (127.0.0.1:8080, ./vigil.db)
#   make test   the same, then every suite (unit, conformance, e2e, ASan+UBSan, TSan, fuzz smoke)
#   make fuzz   run every fuzz target for longer (FUZZ_SECONDS each)
#   make bench  print the benchmarks' figures

SHARED ?= $(abspath ../shared)
PYTHON ?= /usr/bin/python3
FUZZ_SECONDS ?= 300
SMOKE_SECONDS ?= 10
MESON_FLAGS = -Dwerror=true
export VIGIL_SHARED := $(SHARED)

.PHONY: all deps build run test unit e2e asan tsan fuzz-build fuzz-smoke fuzz bench format clean

all: build

deps:
	@scripts/install-deps

build/build.ninja: | deps
	meson setup build --buildtype=release $(MESON_FLAGS)

build: deps build/build.ninja
	ninja -C build

build-asan/build.ninja: | deps
	meson setup build-asan --buildtype=debugoptimized $(MESON_FLAGS) \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args='-fno-sanitize-recover=all -fno-omit-frame-pointer'

build-fuzz/build.ninja: | deps
	CC=clang meson setup build-fuzz --buildtype=debugoptimized $(MESON_FLAGS) \
		-Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args='-fno-sanitize-recover=all -fno-omit-frame-pointer'

run: build
	build/vigil serve

unit: build
	meson test -C build --print-errorlogs --suite unit

e2e: build
	$(PYTHON) -m pytest -q tests/e2e

asan: deps build-asan/build.ninja
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		meson test -C build-asan --print-errorlogs --suite unit

build-tsan/build.ninja: | deps
	meson setup build-tsan --buildtype=debugoptimized $(MESON_FLAGS) \
		-Db_sanitize=thread -Db_lundef=false

# ThreadSanitizer over the e2e suite: the server's HTTP threads, rule lanes, label bus,
# reloads and outbox workers, and replay's reader and workers. (The unit tests cannot run
# under it: Criterion's shared arena does not map beside TSan's shadow memory.) A race
# is written to build-tsan/reports and fails the target even when every test passed.
tsan: deps build-tsan/build.ninja
	ninja -C build-tsan vigil
	rm -rf build-tsan/reports && mkdir -p build-tsan/reports
	VIGIL_BIN=$(CURDIR)/build-tsan/vigil TSAN_OPTIONS=log_path=$(CURDIR)/build-tsan/reports/race \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e
	@if ls build-tsan/reports/race.* >/dev/null 2>&1; then \
		cat build-tsan/reports/race.*; echo "tsan: data races reported (above)" >&2; exit 1; fi

fuzz-build: deps build-fuzz/build.ninja
	ninja -C build-fuzz

fuzz-smoke: fuzz-build
	tests/fuzz/run build-fuzz $(SMOKE_SECONDS)

fuzz: fuzz-build
	tests/fuzz/run build-fuzz $(FUZZ_SECONDS)

test: build
	$(MAKE) unit
	$(MAKE) e2e
	$(MAKE) asan
	$(MAKE) tsan
	$(MAKE) fuzz-smoke

bench: build
	bench/hash "$(SHARED)/conformance/pdq/images"
	build/bench/bench-rules
	$(PYTHON) bench/events/replay.py
	$(PYTHON) bench/events/bench_events.py

# Formats the lines changed since HEAD (or BASE=rev), not the whole tree: .clang-format is
# the house style, but older code keeps its hand-made line breaks until it is next edited.
format:
	git clang-format --force $(or $(BASE),HEAD)

clean:
	rm -rf build build-asan build-fuzz build-tsan
