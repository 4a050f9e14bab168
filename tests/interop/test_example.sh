#!/bin/sh
# test_example.sh - examples/kvlog survives kill -9: every record it
# acknowledged (printed after sdx_persist) is in the log after the next
# mount, three kills in a row, and the image is clean for e2fsck after.
# TAP output.  $B is the build directory, $SYNCDAX the command.

n=0
failed=0
check() {
	what=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $what"
	else
		failed=$((failed + 1))
		echo "not ok $n - $what"
	fi
}

B=${B:-build}
SYNCDAX=${SYNCDAX:-$B/syncdax}
KVLOG=$B/examples/kvlog
if [ ! -x "$KVLOG" ] || [ ! -x "$SYNCDAX" ]; then
	echo "1..1"
	echo "not ok 1 - $KVLOG and $SYNCDAX are built"
	exit 1
fi

tmp=$(mktemp -d /dev/shm/sdxkv-XXXXXX)
img=$tmp/image
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT PIPE TERM

check "syncdax mkfs" sh -c "$SYNCDAX mkfs --size 64M '$img' >/dev/null"
check "put acknowledges" \
	sh -c "test \"\$($KVLOG '$img' put greeting hello)\" = ack"
check "get returns what put stored" \
	sh -c "test \"\$($KVLOG '$img' get greeting)\" = hello"
check "get of a missing key fails with status 1" \
	sh -c "$KVLOG '$img' get nosuchkey >/dev/null; test \$? -eq 1"
check "a bad command line is a usage error (status 2)" \
	sh -c "$KVLOG '$img' frobnicate 2>/dev/null; test \$? -eq 2"

# Stream records, read @1 acknowledgements, kill -9, keep every
# acknowledgement the pipe still holds (each was printed after its persist).
kill_mid_stream() {
	mkfifo "$tmp/acks"
	$KVLOG "$img" stream 1000000 >"$tmp/acks" &
	pid=$!
	exec 3<"$tmp/acks"
	i=0
	while [ $i -lt "$1" ] && read -r line <&3; do
		echo "$line" >>"$tmp/acked"
		i=$((i + 1))
	done
	kill -9 $pid
	cat <&3 >>"$tmp/acked"
	exec 3<&-
	wait $pid
	status=$?
	rm -f "$tmp/acks"
	[ $i -eq "$1" ] && [ $status -eq 137 ]
}

# Every acknowledged record is in the dump; else say how many are not.
none_lost() {
	grep -vxF -f "$tmp/dump" "$tmp/acked" >"$tmp/lost"
	[ -s "$tmp/lost" ] || return 0
	echo "# $(wc -l <"$tmp/lost") acknowledged records lost," \
		"the first: $(head -n 1 "$tmp/lost")"
	return 1
}

: >"$tmp/acked"
for round in 1 2 3; do
	check "round $round: kill -9 after $((round * 300)) acknowledged records" \
		kill_mid_stream $((round * 300))
	$KVLOG "$img" dump >"$tmp/dump" 2>"$tmp/err"
	check "round $round: the log mounts and reads after the kill" \
		test $? -eq 0
	check "round $round: every acknowledged record survived" none_lost
	check "round $round: records are whole and in order (k1, k2, ...)" \
		awk 'NR > 1 && ($1 != "k" (NR - 1) || $2 !~ /^value-[0-9]+-x*$/) {
			exit 1 }' "$tmp/dump"
done
check "$(wc -l <"$tmp/acked") acknowledged records in all" \
	test "$(wc -l <"$tmp/acked")" -ge 1800
check "the first record is still there" \
	sh -c "test \"\$($KVLOG '$img' get greeting)\" = hello"
if command -v e2fsck >/dev/null; then
	check "e2fsck -fn calls the image clean" \
		sh -c "e2fsck -fn '$img' >'$tmp/fsck' 2>&1 || {
		       cat '$tmp/fsck'; false; }"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
