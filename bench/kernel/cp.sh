#!/bin/sh
# cp.sh - `syncdax cp` throughput of a 1 GiB file against cp on tmpfs, on
# the host, and how long a command takes on the 2 GiB image it leaves
# (mount, a directory listing, unmount: a clean mount, no journal replay).
#
#   sh bench/kernel/cp.sh SYNCDAX [MiB]
#
# Everything lives in one /dev/shm directory that is removed at the end;
# the copy read back out of syncdax is compared with the source.  Prints
# a small table; times are wall-clock of whole commands (each syncdax
# command mounts and unmounts the image, which the figures include).
set -eu

SDX=$1
MB=${2:-1024}
D=/dev/shm/syncdax-cpbench-$$
mkdir "$D"
trap 'rm -rf "$D"' EXIT INT TERM

ms() {	# ms COMMAND...: run it, print its wall-clock milliseconds
	s=$(date +%s%N)
	"$@" >/dev/null
	e=$(date +%s%N)
	echo $(((e - s) / 1000000))
}
rate() {	# rate MS: MiB/s of $MB MiB in MS milliseconds
	echo "$MB $1" | awk '{ printf "%.0f", $2 ? $1 * 1000 / $2 : 0 }'
}

head -c "${MB}M" /dev/urandom > "$D/src"
"$SDX" mkfs --size "$((MB * 2))M" "$D/img" >/dev/null
tmpfs=$(ms cp "$D/src" "$D/dst")
rm -f "$D/dst"
into=$(ms "$SDX" cp "$D/src" "$D/img:/big")
out=$(ms "$SDX" cp "$D/img:/big" "$D/back")
cmp -s "$D/src" "$D/back" || { echo "cp.sh: the copy differs" >&2; exit 1; }
ls=$(ms "$SDX" ls "$D/img:/")

printf "%-44s %8s %8s\n" "copy of a $MB MiB file" ms MiB/s
printf "%-44s %8s %8s\n" "cp, tmpfs to tmpfs" "$tmpfs" "$(rate "$tmpfs")"
printf "%-44s %8s %8s\n" "syncdax cp, tmpfs into syncdax (/dev/shm)" \
       "$into" "$(rate "$into")"
printf "%-44s %8s %8s\n" "syncdax cp, syncdax to tmpfs" "$out" "$(rate "$out")"
printf "%-44s %8s\n" "syncdax ls of the $((MB * 2)) MiB image (clean mount)" \
       "$ls"
