# shieldvm: the two commands a newcomer needs, and a few more.
#
#   make demo    install packages, build, run a shielded VM on an attested
#                host and see it refused on another (scripts/demo.sh)
#   make check   install packages, build twice (gcc; ASan+UBSan), run every
#                test in both; last line: "N passed, M failed"
#
#   make         build into build/
#   make fuzz    libFuzzer each harness for FUZZ_SECONDS (default 60) per
#                harness, one job per core, in build-fuzz/
#   make bench   build and run the benchmarks in bench/
#   make format  clang-format -i the C sources
#   make deps    install the Debian packages in scripts/packages.txt
#   make clean   remove every build directory
#
# The work is done by scripts/ so CI and people run the same thing.

SHELL := /bin/bash
FUZZ_SECONDS ?= 60

.PHONY: all build demo check fuzz bench format deps clean help

all: build

help:
	@sed -n '3,16p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@scripts/install-deps.sh

build: deps
	@CC=$${CC:-gcc} scripts/build.sh build

demo: build
	@scripts/demo.sh

check:
	@scripts/check.sh

fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

bench: build
	@scripts/bench.sh build

format:
	@find src tests bench -type f \( -name '*.c' -o -name '*.h' \) -print0 | \
		xargs -0 -r clang-format -i --style=file

clean:
	rm -rf build build-asan build-fuzz
