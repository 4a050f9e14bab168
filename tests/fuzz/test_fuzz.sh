#!/bin/sh
# test_fuzz.sh - run each libFuzzer target (fuzz/fuzz_*.c) for 30 s: no
# crash, sanitizer report, leak or timeout may come out.  Skipped with the
# reason when clang cannot build a libFuzzer program here.  TAP output
# (the lines of fuzz/fuzz.sh).  $B is the build directory.

B=${B:-build}
SYNCDAX=${SYNCDAX:-$B/syncdax}
skip() { echo "1..1"; echo "ok 1 # SKIP $1"; exit 0; }

command -v clang >/dev/null || skip "clang is not installed"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
	'{ (void)d; (void)n; return 0; }' >"$probe/probe.c"
clang -fsanitize=fuzzer,address "$probe/probe.c" -o "$probe/probe" \
	>/dev/null 2>&1 || skip "clang cannot link libFuzzer (libclang-rt-dev)"

# A make of our own (not the jobserver of the make that runs the tests)
# that builds only the fuzz targets: the command under test is $SYNCDAX as
# built, whatever flags it was built with.
unset MAKEFLAGS MFLAGS MAKELEVEL
if ! make -j2 BUILD="$B" fuzz-build >"$probe/build.log" 2>&1; then
	tail -n 30 "$probe/build.log"
	echo "1..1"
	echo "not ok 1 - the fuzz targets build with clang"
	exit 1
fi
targets=""
for src in fuzz/fuzz_*.c; do
	targets="$targets $B/fuzz/$(basename "$src" .c)"
done
FZ=$B/fuzz SYNCDAX=$SYNCDAX FUZZ_SECONDS=30 sh fuzz/fuzz.sh $targets
