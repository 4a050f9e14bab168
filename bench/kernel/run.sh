#!/bin/sh
# run.sh - `make bench-kernel`: syncdax against the kernel's own MAP_SYNC on
# the same emulated NVDIMM, in a QEMU guest, plus the host-native figures.
#
#   sh bench/kernel/run.sh WORKDIR BENCH_FAULTLAT BENCH_DURABILITY SYNCDAX
#   environment: KBENCH_BOOTS (2), KBENCH_RUNS (5 per boot),
#                KBENCH_RECORDS (20000), KBENCH_RESULTS (bench/results)
#
# Steps: build the guest (build-guest.sh); boot it KBENCH_BOOTS times
# (guest.sh: KVM when it can boot the guest, else TCG); each boot runs
# both static benchmarks
# against ext4 -o dax and against syncdax in a container on that mount
# (bench/kernel/init); run the same binaries natively on the host (syncdax
# on /dev/shm, disk ways in /var/tmp), cp.sh (syncdax cp of 1 GiB vs cp
# on tmpfs) and recovery.sh (mount with a full journal); take medians over every boot and run
# from the "data" lines; write the tables and gnuplot charts to the results
# directory and print the tables, ending with one
# "ratio <configuration> syncdax/kernel=<x>" line per configuration.
set -eu

W=$1
FAULTLAT=$2
DURABILITY=$3
SYNCDAX=$4
HERE=$(cd "$(dirname "$0")" && pwd)
BOOTS=${KBENCH_BOOTS:-2}
RUNS=${KBENCH_RUNS:-5}
RECORDS=${KBENCH_RECORDS:-20000}
RESULTS=${KBENCH_RESULTS:-$HERE/../results}
NV=/dev/shm/syncdax-kbench-$$.nvdimm

# The host tools (bench only, bench/kernel/README.md): installed with apt
# when missing and we are root.
HOSTPKGS="qemu-system-x86 cpio kmod gnuplot-nox"
missing() {
	for tool in qemu-system-x86_64 cpio depmod gnuplot; do
		command -v $tool >/dev/null || { echo $tool; return 0; }
	done
	return 1
}
if missing >/dev/null && [ "$(id -u)" = 0 ]; then
	echo "bench-kernel: installing $HOSTPKGS"
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends $HOSTPKGS >/dev/null
fi
if tool=$(missing); then
	echo "bench-kernel: $tool missing: apt-get install $HOSTPKGS" >&2
	exit 1
fi
mkdir -p "$W" "$RESULTS"
W=$(cd "$W" && pwd)
RESULTS=$(cd "$RESULTS" && pwd)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
sh "$HERE/build-guest.sh" "$W" "$FAULTLAT" "$DURABILITY"
trap 'rm -f "$NV"' EXIT INT TERM

. "$HERE/guest.sh"
# boot LOG: one guest run (guest.sh picks the accelerator on the first).
boot() {
	rm -f "$NV"
	guest_boot "$W" 1500 "$1" \
		"quiet sdx.runs=$RUNS sdx.records=$RECORDS" \
		-machine pc,nvdimm=on -m 2G,slots=2,maxmem=8G -smp 2 \
		-object memory-backend-file,id=mem1,share=on,mem-path="$NV",size=1G,align=2M \
		-device nvdimm,id=nvdimm1,memdev=mem1
	rm -f "$NV"
	grep -q '^@@@ END bench_faultlat status=0' "$1" &&
		grep -q '^@@@ END bench_durability status=0' "$1"
}

rm -f "$W"/boot-*.log
i=1
while [ "$i" -le "$BOOTS" ]; do
	echo "bench-kernel: boot $i of $BOOTS (${GUEST_ACCEL:-kvm or tcg}, $RUNS runs)"
	boot "$W/boot-$i.log" || {
		echo "bench-kernel: boot $i failed; its console:" >&2
		tail -n 30 "$W/boot-$i.log" "$W/boot-$i.log.qemu" >&2
		exit 1
	}
	i=$((i + 1))
done
ACCEL=$GUEST_ACCEL
echo "bench-kernel: accelerator $ACCEL"

echo "bench-kernel: host-native runs"
"$FAULTLAT" --runs "$RUNS" > "$W/host-faultlat.txt"
"$DURABILITY" --records "$RECORDS" > "$W/host-durability.txt"
sh "$HERE/cp.sh" "$SYNCDAX" > "$W/host-cp.txt"
sh "$HERE/recovery.sh" "$SYNCDAX" > "$W/host-recovery.txt"

# ---- medians over boots and runs ----
GUESTLOGS=$(ls "$W"/boot-*.log | grep -v '\.qemu$')
section() {	# section NAME LOG: the output of one benchmark in a boot
	sed -n "/^@@@ BEGIN $1\$/,/^@@@ END $1 /p" "$2" | sed '1d;$d'
}
for log in $GUESTLOGS; do
	section bench_faultlat "$log"
done | grep '^data fault' > "$W/guest-fault.data"
grep '^data fault' "$W/host-faultlat.txt" | sed 's/^data fault syncdax/data fault host/' \
	>> "$W/guest-fault.data"
for log in $GUESTLOGS; do
	section bench_durability "$log"
done | grep '^data durability' > "$W/guest-durability.data"

# awk: median of the values gathered per key.
MEDIAN='function median(s,   n, v, i, j, t) {
	n = split(s, v, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}'

GUEST=$(sed -n 's/^@@@ GUEST //p' "$W/boot-1.log")
CPU=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)
QEMU=$(qemu-system-x86_64 --version | head -n 1)
E2FS=$(LD_LIBRARY_PATH="$W/root/lib/x86_64-linux-gnu:$W/root/usr/lib/x86_64-linux-gnu" \
	"$W/root/sbin/mkfs.ext4" -V 2>&1 | head -n 1)
REV=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
header() {
	echo "# $1"
	echo "# date: $(date -u '+%Y-%m-%d %H:%M UTC'); command: make bench-kernel" \
	     "(KBENCH_BOOTS=$BOOTS KBENCH_RUNS=$RUNS KBENCH_RECORDS=$RECORDS)"
	echo "# syncdax $REV; host: $CPU, $(nproc) cores, Linux $(uname -r)," \
	     "load average at start $LOAD0"
	echo "# guest: QEMU $ACCEL ($QEMU), $GUEST; NVDIMM 1 GiB backed by" \
	     "a /dev/shm file (DRAM), fsdax namespace, $E2FS"
}

FT=$RESULTS/faultlat-kernel.txt
{
	header "avg latency of 512 single-page write faults, median of $BOOTS boots x $RUNS runs (us)"
	echo "# guest: kernel = ext4 -o dax, syncdax = container file on it;" \
	     "host = syncdax natively on /dev/shm"
	echo "# s/ns = MAP_SYNC avg / no-MAP_SYNC avg of the same file and load;" \
	     "+ahead = syncdax fault-around 16 + sync-ahead 2 MiB, kernel 2 MiB-aligned mapping"
	awk "$MEDIAN"'
	{ key = $4; v[$3 " " key] = v[$3 " " key] " " substr($0, index($0, $5))
	  if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
	END {
		printf "%-28s %9s %9s %9s %15s %11s %12s\n", "configuration",
		       "kernel", "syncdax", "host", "syncdax/kernel",
		       "kernel s/ns", "syncdax s/ns"
		for (i = 1; i <= n; i++) {
			k = order[i]
			m["kernel", k] = median(v["kernel " k])
			m["syncdax", k] = median(v["syncdax " k])
			m["host", k] = median(v["host " k])
		}
		for (i = 1; i <= n; i++) {
			k = order[i]; ns = k; sub(/-sync/, "-nosync", ns)
			printf "%-28s %9.1f %9.1f %9.1f %15.2f", k, m["kernel", k],
			       m["syncdax", k], m["host", k],
			       m["syncdax", k] / m["kernel", k]
			if (ns != k)
				printf " %11.2f %12.2f", m["kernel", k] / m["kernel", ns],
				       m["syncdax", k] / m["syncdax", ns]
			printf "\n"
			plot = plot sprintf("%s %.2f %.2f %.2f\n", k, m["kernel", k],
					    m["syncdax", k], m["host", k])
		}
		printf "\n"
		for (i = 1; i <= n; i++)
			printf "ratio %s syncdax/kernel=%.2f\n", order[i],
			       m["syncdax", order[i]] / m["kernel", order[i]]
		printf "%s", plot > "'"$W/fault.plot"'"
	}' "$W/guest-fault.data"
} > "$FT"

DT=$RESULTS/durability.txt
rm -f "$W/durability.plot"
{
	header "64-byte records appended, each durable before the next: median of $BOOTS boots (guest) and one host run"
	printf "%-18s %-6s %11s %9s %9s\n" way where records/s p50_us p99_us
	awk "$MEDIAN"'
	{ k = $3; for (f = 4; f <= NF; f++) { split($f, kv, "="); v[k, kv[1]] = v[k, kv[1]] " " kv[2] }
	  if (!(k in seen)) { seen[k] = 1; order[++n] = k } }
	END { for (i = 1; i <= n; i++) { k = order[i]
		printf "%-18s %-6s %11.0f %9.2f %9.2f\n", k, "guest",
		       median(v[k, "rps"]), median(v[k, "p50"]), median(v[k, "p99"])
		print k "(guest) " median(v[k, "rps"]) >> "'"$W/durability.plot"'" } }
	' "$W/guest-durability.data"
	grep '^data durability' "$W/host-durability.txt" | sed 's/[a-z0-9]*=//g' |
	while read -r _ _ way rps p50 p99; do
		printf "%-18s %-6s %11.0f %9.2f %9.2f\n" "$way" host "$rps" "$p50" "$p99"
		echo "$way(host) $rps" >> "$W/durability.plot"
	done
} > "$DT"

# ---- charts ----
gnuplot <<EOF
set terminal png size 1100,560
set output '$RESULTS/faultlat-kernel.png'
set title 'avg write-fault latency, 512 faults into 2 MiB (QEMU $ACCEL guest; host = native)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel 'microseconds (log)'
set xtics rotate by -40 font ',8'
set key outside top center horizontal
plot '$W/fault.plot' using 2:xtic(1) title 'kernel ext4-DAX (guest)', \
     '' using 3 title 'syncdax (guest)', '' using 4 title 'syncdax (host, /dev/shm)'
set output '$RESULTS/durability.png'
set title '64-byte records made durable one at a time'
set ylabel 'records per second (log)'
set xtics rotate by -30 font ',9'
unset key
plot '$W/durability.plot' using 2:xtic(1) title 'records/s'
EOF
rm -f "$W/durability.plot"

{
	echo
	echo "# the last guest boot's full output (histograms of the median run)"
	section bench_faultlat "$(echo "$GUESTLOGS" | tail -n 1)" | grep -v '^data '
	echo
	echo "# the host-native run"
	grep -v '^data ' "$W/host-faultlat.txt"
} > "$RESULTS/faultlat-kernel-histograms.txt"

CT=$RESULTS/cp-recovery.txt
{
	header "syncdax cp of a 1 GiB file vs cp on tmpfs; mount of a 1 GiB image with a full journal (host, one run)"
	cat "$W/host-cp.txt"
	echo
	cat "$W/host-recovery.txt"
} > "$CT"

cat "$FT"
echo
cat "$DT"
echo
cat "$CT"
echo "bench-kernel: $(($(date +%s) - START)) s; tables and charts in $RESULTS"
