#!/bin/sh
# run-tests.sh - run every test program and script, count TAP results.
#
# Each argument is a test program (cmocka, made to speak TAP); every
# tests/*/test_*.sh is run too (not with NO_SCRIPTS=1).  A program that exits non-zero without
# reporting a failure counts as one failure (it crashed).  The last line
# printed is "N passed, N failed"; the exit status is 0 so that nothing
# (no make error line) follows it -- .ci/run reads the line.
export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
pass=0
fail=0
log=$(mktemp)
scripts=tests/*/test_*.sh
[ "${NO_SCRIPTS:-0}" = 1 ] && scripts=
for t in "$@" $scripts; do
	[ -e "$t" ] || continue
	case "$t" in
	*.sh) timeout 1200 sh "$t" >"$log" 2>&1 ;;
	*) timeout 1200 "$t" >"$log" 2>&1 ;;
	esac
	rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $t exited with status $rc"
	fi
	if [ "$f" -ne 0 ]; then
		grep -v '^ok ' "$log" | tail -n 60
	fi
	echo "# $t: $p passed, $f failed"
	pass=$((pass + p))
	fail=$((fail + f))
done
rm -f "$log"
echo "$pass passed, $fail failed"
exit 0
