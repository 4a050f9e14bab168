#!/bin/sh
# fuzz.sh - make the seed corpora and run each libFuzzer target for a
# bounded time (make fuzz; tests/fuzz/test_fuzz.sh).
#
#   FZ=build/fuzz SYNCDAX=build/syncdax FUZZ_SECONDS=60 sh fuzz/fuzz.sh \
#       build/fuzz/fuzz_mount build/fuzz/fuzz_journal build/fuzz/fuzz_statpage
#
# Seeds ($FZ/seeds/<target>, remade each run) -- fuzz_mount: images made
# with `syncdax mkfs`, one left empty, one filled by debugfs (files, a
# sparse one of 201 extents under an index block, symlinks, a FIFO, a
# directory e2fsck -D indexes, extended attributes in an inode and in a
# block, a POSIX ACL), a small one of attributes, ACLs and a 12-extent
# file (these two also without metadata_csum, whose checksums would
# refuse most mutations before the parsers see them, and once more on a
# journal-less mkfs.ext4 image, small), one filled by
# syncdax itself (a directory it indexes), and the 4 KiB-block images of
# e2fsprogs' test suite ($FUZZ_IMAGES), each cut after its last non-zero
# block; fuzz_journal: journals debugfs writes (jbd2 csum v3
# and without, data blocks, revokes, several transactions); fuzz_statpage:
# the statistics page of a `syncdax demo --hold` mount, after a flag byte
# (fuzz/fuzz_statpage.c; with and without its device stamped).  The corpus
# libFuzzer grows ($FZ/corpus/<target>) is kept between runs.  Inputs in
# fuzz/regressions/<target>/ (every finding, once fixed) run first.
# One TAP line per target; the exit status is 1 if any target found
# something (its reproducer is in $FZ/artifacts/).

FZ=${FZ:-build/fuzz}
SYNCDAX=${SYNCDAX:-build/syncdax}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_IMAGES=${FUZZ_IMAGES:-../shared/corpus/e2fsprogs-images}
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=0"

tmp=$(mktemp -d /dev/shm/sdxfuzzseed-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT PIPE TERM

# cut IMAGE OUT: copy IMAGE up to the end of its last non-zero 4 KiB block
cut_image() {
	last=$(LC_ALL=C grep -obUaP '[^\x00]' "$1" | tail -n 1 | cut -d: -f1)
	head -c $(((${last:-0} / 4096 + 1) * 4096)) "$1" >"$2"
}

# is_4k_ext4 IMAGE: ext4 magic and s_log_block_size 2
is_4k_ext4() {
	[ "$(od -An -j 1080 -N 2 -tx2 "$1" | tr -d ' ')" = ef53 ] &&
		[ "$(od -An -j 1048 -N 4 -tu4 "$1" | tr -d ' ')" = 2 ]
}

mount_seeds() {
	out=$FZ/seeds/fuzz_mount
	rm -rf "$out" && mkdir -p "$out" || return 1
	$SYNCDAX mkfs --size 8M "$tmp/empty" >/dev/null || return 1
	cut_image "$tmp/empty" "$out/syncdax-empty"
	cp "$tmp/empty" "$tmp/full"
	head -c 20000 /dev/urandom >"$tmp/data"
	head -c 2000 /dev/urandom >"$tmp/ea"
	# Linux's xattr form: owner rw, user 1000 r, group r, mask r, other r
	acl1='\002\0\0\0\001\0\006\0\377\377\377\377\002\0\004\0\350\003\0\0'
	acl2='\004\0\004\0\377\377\377\377\020\0\004\0\377\377\377\377'
	printf "$acl1$acl2"'\040\0\004\0\377\377\377\377' >"$tmp/acl"
	rm -f "$tmp/sparse"
	for i in $(seq 0 2 400); do
		printf x | dd of="$tmp/sparse" bs=4096 seek="$i" conv=notrunc \
			2>/dev/null
	done
	{
		echo "mkdir /d"
		echo "write $tmp/data /d/file"
		echo "write $tmp/sparse /d/sparse"
		echo "write /dev/null /empty"
		echo "symlink /fast /d/file"
		echo "symlink /slow /$(printf '%0200d' 0)/long/target/beyond/60"
		echo "mkdir /big"
		for i in $(seq 1 150); do
			echo "write /dev/null /big/entry-with-a-long-name-$i"
		done
		echo "mknod /fifo p"
		echo "ea_set /d/file user.small value"
		echo "ea_set -f $tmp/ea /d/file user.big"
		echo "ea_set /d trusted.dir t"
		echo "ea_set -f $tmp/acl /d/file system.posix_acl_access"
	} >"$tmp/cmds"
	debugfs -w -f "$tmp/cmds" "$tmp/full" >/dev/null 2>&1 || return 1
	e2fsck -fyD "$tmp/full" >/dev/null 2>&1
	[ $? -le 1 ] || return 1
	cut_image "$tmp/full" "$out/syncdax-full"
	# small, so mutations meet the inodes, attribute block and extent
	# leaf often: attributes in the inode and the block, both ACLs, a
	# 12-extent file under an index block
	cp "$tmp/empty" "$tmp/attrs"
	head -c $((24 * 4096)) "$tmp/sparse" >"$tmp/sparse12"
	{
		echo "mkdir /a"
		echo "write $tmp/sparse12 /a/sparse"
		echo "ea_set /a/sparse user.small value"
		echo "ea_set -f $tmp/ea /a/sparse user.big"
		echo "ea_set -f $tmp/acl /a/sparse system.posix_acl_access"
		echo "ea_set -f $tmp/acl /a system.posix_acl_default"
	} >"$tmp/cmds"
	debugfs -w -f "$tmp/cmds" "$tmp/attrs" >/dev/null 2>&1 || return 1
	cut_image "$tmp/attrs" "$out/syncdax-attrs"
	# the same two without metadata_csum: a mutated inode, extent or
	# attribute block then reaches the parsers instead of the checksums
	for img in full attrs; do
		tune2fs -O ^metadata_csum,^uninit_bg "$tmp/$img" >/dev/null 2>&1 ||
			return 1
		cut_image "$tmp/$img" "$out/syncdax-$img-nocsum"
	done
	# and made by mkfs.ext4 without a journal (nor checksums): no journal
	# between the metadata and the files, so the seed is 1/8 the size
	: >"$tmp/small" && truncate -s 8M "$tmp/small" || return 1
	mkfs.ext4 -q -F -b 4096 -I 256 -E nodiscard -O none,ext_attr,$(
		)resize_inode,dir_index,filetype,extent,flex_bg,sparse_super,$(
		)large_file,huge_file,dir_nlink,extra_isize,64bit "$tmp/small" \
		>/dev/null 2>&1 &&
		debugfs -w -f "$tmp/cmds" "$tmp/small" >/dev/null 2>&1 || return 1
	cut_image "$tmp/small" "$out/mkfs-attrs-nojournal"
	# written by syncdax itself: its allocation, its htree, its journal
	cp "$tmp/empty" "$tmp/own"
	$SYNCDAX mkdir "$tmp/own:/many" >/dev/null &&
		$SYNCDAX cp "$tmp/data" "$tmp/own:/data" >/dev/null || return 1
	for i in $(seq 1 120); do
		$SYNCDAX cp /dev/null "$tmp/own:/many/file-with-a-long-name-$i" \
			>/dev/null || return 1
	done
	cut_image "$tmp/own" "$out/syncdax-written"
	for gz in "$FUZZ_IMAGES"/*.image.gz; do
		[ -e "$gz" ] || continue
		base=$(basename "$gz" .image.gz)
		gunzip -c "$gz" 2>/dev/null | head -c 2048 >"$tmp/img"
		is_4k_ext4 "$tmp/img" && gunzip -c "$gz" >"$tmp/img" &&
			cut_image "$tmp/img" "$out/e2fsprogs-$base"
	done
	return 0
}

journal_seeds() {
	out=$FZ/seeds/fuzz_journal
	rm -rf "$out" && mkdir -p "$out" || return 1
	head -c 12288 /dev/urandom >"$tmp/data"
	i=0
	for cmds in "jo -c|jw -b 300,301,302 $tmp/data|jc" \
		"jo|jw -b 300 $tmp/data|jc" \
		"jo -c|jw -b 300,301 $tmp/data|jw -r 301|jw -b 302 $tmp/data|jc" \
		"jo -c|jw -b 1,2 $tmp/data|jw -r 300|jc" \
		"jo|jw -b 40,41,42 $tmp/data|jw -b 40 $tmp/data|jw -r 41|jc"; do
		i=$((i + 1))
		$SYNCDAX mkfs --size 8M "$tmp/j" >/dev/null || return 1
		echo "$cmds" | tr '|' '\n' >"$tmp/cmds"
		debugfs -w -f "$tmp/cmds" "$tmp/j" >/dev/null 2>&1 || return 1
		debugfs -R "dump <8> $tmp/journal" "$tmp/j" >/dev/null 2>&1 ||
			return 1
		head -c 65536 "$tmp/journal" >"$out/debugfs-$i"
	done
	return 0
}

# The page of a `syncdax demo --hold` mount, copied while it holds it.
statpage_seeds() {
	out=$FZ/seeds/fuzz_statpage
	rm -rf "$out" && mkdir -p "$out" "$tmp/stats" || return 1
	$SYNCDAX mkfs --size 128M "$tmp/held" >/dev/null &&
		mkfifo "$tmp/in" "$tmp/out" || return 1
	SDX_STATS_DIR=$tmp/stats $SYNCDAX demo --hold "$tmp/held" \
		<"$tmp/in" >"$tmp/out" 2>&1 &
	demo=$!
	exec 7>"$tmp/in" 8<"$tmp/out"
	while IFS= read -r line <&8; do
		case "$line" in holding*) break ;; esac
	done
	for flags in 001 000 002; do
		{ printf "\\$flags"; cat "$tmp"/stats/syncdax-stats-*; } \
			>"$out/demo-$flags"
	done
	exec 7>&-
	cat <&8 >/dev/null
	exec 8<&-
	wait "$demo" && [ "$(wc -c <"$out/demo-000")" -gt 1 ]
}

n=0
status=0
for target in "$@"; do
	name=$(basename "$target")
	n=$((n + 1))
	if ! ${name#fuzz_}_seeds; then
		echo "not ok $n - $name: making the seed corpus failed"
		status=1
		continue
	fi
	corpus=$FZ/corpus/$name
	mkdir -p "$corpus" "$FZ/artifacts"
	log=$FZ/$name.log
	regressions=""
	[ -d "fuzz/regressions/$name" ] &&
		regressions=$(ls -d fuzz/regressions/$name/* 2>/dev/null)
	if [ -n "$regressions" ] &&
		! "$target" $regressions >"$log" 2>&1; then
		echo "not ok $n - $name: a regression input fails again"
		tail -n 40 "$log"
		status=1
		continue
	fi
	# Mutate whole seeds from the start: libFuzzer's default length
	# control would cut them to a few KiB at first, and an image cut
	# loses its files' blocks, attribute blocks and extent leaves.
	max_len=$(for f in "$FZ/seeds/$name"/*; do wc -c <"$f"; done |
		sort -n | tail -n 1)
	"$target" -max_total_time="$FUZZ_SECONDS" -timeout=30 \
		-max_len="$max_len" -len_control=0 \
		-rss_limit_mb=4096 -print_final_stats=1 \
		-artifact_prefix="$FZ/artifacts/$name-" \
		"$corpus" "$FZ/seeds/$name" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ $rc -eq 0 ]; then
		echo "ok $n - $name: $FUZZ_SECONDS s, ${runs:-?} inputs, no finding"
	else
		echo "not ok $n - $name: a finding after ${runs:-?} inputs" \
			"(reproducer in $FZ/artifacts/, log $log)"
		grep -A 30 -m 1 -e 'ERROR: ' -e 'runtime error' -e '==ERROR' \
			"$log" | head -n 40
		status=1
	fi
done
echo "1..$n"
exit $status
