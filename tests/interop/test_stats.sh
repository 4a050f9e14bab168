#!/bin/sh
# test_stats.sh - `syncdax stats DEVICE` against a running
# `syncdax demo --hold DEVICE` in another process: the figures it prints
# (write faults, journal commits), the -i mode, usage errors, and after the
# demo ends (end of its standard input) exit 1 with "no syncdax process has
# it mounted".  The demo's standard input and output are fifos; the test
# reads its output up to the holding line (a blocking read, no sleep).
# TAP output.
SYNCDAX=${SYNCDAX:-build/syncdax}
DEV=/dev/shm/sdxtest-$$-stats.img
IN=/dev/shm/sdxtest-$$-stats.in
OUT=/dev/shm/sdxtest-$$-stats.out
ERR=/dev/shm/sdxtest-$$-stats.err
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -f "$DEV" "$IN" "$OUT" "$ERR"
}
trap cleanup EXIT

"$SYNCDAX" mkfs --size 128M "$DEV" >/dev/null
ok $? "mkfs"
mkfifo "$IN" "$OUT"
"$SYNCDAX" demo --hold "$DEV" <"$IN" >"$OUT" 2>&1 &
pid=$!
exec 7>"$IN" 8<"$OUT"

held=1
ahead=""
while IFS= read -r line <&8; do
	case "$line" in
	*"sync-ahead 2M"*) ahead=$line ;;
	"holding $DEV: run \`syncdax stats $DEV\`"*) held=0; break ;;
	esac
done
ok $held "demo --hold prints its holding line"
# The sync-ahead act: one fault and one commit for the whole 2 MiB (an
# aligned device run, mapped at once).
echo "$ahead" | grep -q " 1 faults  *1 commits$"
ok $? "demo: 512 first writes with sync-ahead take 1 fault, 1 commit"

out=$("$SYNCDAX" stats "$DEV")
ok $? "stats exits 0 while the demo holds the device"
write_faults=$(echo "$out" | awk '$1 == "write" && $2 == "faults" { print $3 }')
commits=$(echo "$out" | awk '/^journal/ { j = 1 } j && $1 == "commits" { print $2; exit }')
[ "${write_faults:-0}" -gt 0 ]
ok $? "stats shows write faults (${write_faults:-none})"
[ "${commits:-0}" -gt 0 ]
ok $? "stats shows journal commits (${commits:-none})"
echo "$out" | grep -q "^owner    pid $pid,"
ok $? "stats names the demo's pid as the owner"

# the page is another process's file: a mount time gmtime cannot place
# (bytes 24..31, mount_time) is printed as a number, not a crash
page=${SDX_STATS_DIR:-/dev/shm}/syncdax-stats-$(printf %x "$(stat -c %d "$DEV")")-$(stat -c %i "$DEV")
printf '\377\377\377\377\377\377\377\177' |
	dd of="$page" bs=1 seek=24 conv=notrunc 2>/dev/null
"$SYNCDAX" stats "$DEV" | grep -q "^owner    pid $pid, mounted at time 9223372036854775807"
ok $? "stats prints a mount time it cannot place as a number"

intervals=$("$SYNCDAX" stats -i 0.05 -n 2 "$DEV" | grep -c '^-- interval')
[ "$intervals" -eq 2 ]
ok $? "stats -i 0.05 -n 2 prints two intervals ($intervals)"
"$SYNCDAX" stats -n 2 "$DEV" 2>/dev/null
[ $? -eq 2 ]
ok $? "stats -n without -i is a usage error (exit 2)"
"$SYNCDAX" stats -i 0 "$DEV" 2>/dev/null
[ $? -eq 2 ]
ok $? "stats -i 0 is a usage error (exit 2)"

exec 7>&-
cat <&8 >/dev/null
exec 8<&-
wait "$pid"
ok $? "demo unmounts and exits 0 at the end of its input"
pid=

"$SYNCDAX" stats "$DEV" >/dev/null 2>"$ERR"
[ $? -eq 1 ] && grep -q "^syncdax: $DEV: no syncdax process has it mounted" "$ERR"
ok $? "stats after the demo ends: exit 1, not mounted"
"$SYNCDAX" fsck "$DEV" >/dev/null 2>&1
ok $? "e2fsck calls the image clean"
echo "1..$n"
