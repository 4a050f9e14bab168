#!/bin/sh
# recovery.sh - mount time of a 1 GiB syncdax image whose journal is full of
# committed, not yet checkpointed transactions (journal replay), against a
# clean mount of the same image, on the host.
#
#   sh bench/kernel/recovery.sh SYNCDAX [MAXFSYNCS]
#
# The journal is filled through the FUSE server (`syncdax mount -f`): 4000
# files in 40 directories, then files each created and fsync'd (one
# transaction each; at most MAXFSYNCS, 5000) until the log is nearly as full
# as syncdax lets it get; the server is then killed with SIGKILL,
# so nothing is checkpointed.  debugfs logdump on a copy says how many
# transactions and log blocks recovery replays (syncdax checkpoints when
# the log is half full, so a log never holds more than about half its
# size).  Timed: `syncdax mkdir` (read-write mount with replay, one mkdir,
# unmount), then another on the recovered, clean image; e2fsck -fn checks
# the result.
# Needs /dev/fuse and fusermount3; says "skipped" and exits 0 otherwise.
set -eu

SDX=$1
MAXFSYNCS=${2:-5000}
D=/dev/shm/syncdax-recovery-$$
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "recovery: skipped (needs /dev/fuse and fusermount3)"
	exit 0
fi
mkdir -p "$D/mnt"
SERVER=
cleanup() {
	[ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null
	fusermount3 -u -z "$D/mnt" 2>/dev/null || true
	rm -rf "$D"
}
trap cleanup EXIT INT TERM

ms() {	# ms COMMAND...: run it, print its wall-clock milliseconds
	s=$(date +%s%N)
	"$@" >/dev/null
	e=$(date +%s%N)
	echo $(((e - s) / 1000000))
}

"$SDX" mkfs --size 1G "$D/img" >/dev/null
"$SDX" mount -f "$D/img" "$D/mnt" > "$D/server.log" 2>&1 &
SERVER=$!
tries=0
until grep -q " $D/mnt " /proc/mounts; do
	tries=$((tries + 1))
	if [ $tries -gt 100 ] || ! kill -0 "$SERVER" 2>/dev/null; then
		echo "recovery: the FUSE mount did not appear:" >&2
		cat "$D/server.log" >&2
		exit 1
	fi
	sleep 0.1
done
for d in $(seq 1 40); do
	mkdir "$D/mnt/d$d"
	for f in $(seq 1 100); do
		echo x > "$D/mnt/d$d/f$f"
	done
done
# fsync'd creates in batches of 25 until the log is nearly as full as it
# gets: measure one checkpoint cycle (the journal superblock's start moves
# at each checkpoint), then stop 25 creates short of the next checkpoint.
jstart() {
	dumpe2fs -h "$D/img" 2>/dev/null | sed -n 's/^Journal start: *//p'
}
f=0
changes=0
since=0
cycle=0
start=$(jstart)
while [ $cycle -eq 0 ] || [ $since -lt $((cycle - 25)) ]; do
	for i in $(seq 1 25); do
		f=$((f + 1))
		echo y > "$D/mnt/d$((f % 40 + 1))/g$f"
		sync "$D/mnt/d$((f % 40 + 1))/g$f"
	done
	since=$((since + 25))
	now=$(jstart)
	if [ "$now" != "$start" ]; then
		start=$now
		changes=$((changes + 1))
		[ $changes -eq 2 ] && cycle=$since
		since=0
	fi
	if [ $f -ge "$MAXFSYNCS" ]; then
		break
	fi
done
kill -9 "$SERVER"
wait "$SERVER" 2>/dev/null || true
SERVER=
fusermount3 -u -z "$D/mnt"

cp "$D/img" "$D/crashed"
debugfs -R logdump "$D/crashed" 2>/dev/null > "$D/logdump"
transactions=$(grep -c 'type 2 (commit block)' "$D/logdump" || true)
first=$(sed -n 's/.*(descriptor block) at block \([0-9]*\).*/\1/p' "$D/logdump" | head -n 1)
last=$(sed -n 's/.*(commit block) at block \([0-9]*\).*/\1/p' "$D/logdump" | tail -n 1)
jblocks=$(dumpe2fs -h "$D/crashed" 2>/dev/null | sed -n 's/^Total journal blocks: *//p')
replay=$(ms "$SDX" mkdir "$D/img:/after-replay")
clean=$(ms "$SDX" mkdir "$D/img:/after-clean")
e2fsck -fn "$D/img" >/dev/null 2>&1 || {
	echo "recovery: e2fsck -fn finds the recovered image unclean" >&2
	exit 1
}
blocks=$(( ${last:-0} >= ${first:-0} ? ${last:-0} - ${first:-0} + 1 :
	   ${jblocks:-0} - ${first:-0} + ${last:-0} + 1 ))
echo "1 GiB image, journal of ${jblocks:-?} blocks holding $transactions" \
     "committed transactions in $blocks log blocks (not checkpointed)"
printf "%-58s %6s\n" "" ms
printf "%-58s %6s\n" "syncdax mkdir: mount with journal replay, mkdir, unmount" "$replay"
printf "%-58s %6s\n" "syncdax mkdir: clean mount, mkdir, unmount" "$clean"
echo "e2fsck -fn after replay: clean"
