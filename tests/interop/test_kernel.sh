#!/bin/sh
# test_kernel.sh - the Linux kernel reads what syncdax writes, and syncdax
# reads what the kernel writes: one boot of the real Debian kernel in a
# QEMU guest (bench/kernel/build-guest.sh and guest.sh; the guest's init is
# tests/interop/kernel-init) with the images as virtio disks.
#
# The kernel reads ours: kernel-tree.c fills an image through syncdax
# (nested directories, htree directories of one and two index levels, a
# deep extent tree, sparse, big, shifted, fallocated, MAP_SYNC-written and
# defragmented files, fast and slow symlinks, hard links, attributes in the
# inode and the block, POSIX ACLs, modes, owners, times, chattr +S) and
# leaves two crash states (a SIGKILLed writer's committed journal with
# revokes; an unlinked-while-open orphan).  The kernel mounts each
# read-write and prints its view as a manifest that must equal syncdax's
# (for the crash states: syncdax's own replay of a copy; the kernel's
# copy has the home blocks its replay rewrites zeroed); the kernel then
# changes the tree and syncdax's view of the result must equal the
# kernel's; after the kernel's unmount e2fsck -fn must call each clean.
#
# We read the kernel's: the kernel formats three images with syncdax's
# feature set: a tree, unmounted; fsynced files in data=journal mode whose
# blocks begin with jbd2's magic (escaped in the journal); a tree synced
# and more written, a revoke, an orphan and an fsync after it.  The guest is reset
# with the last two mounted, so their journals need recovery (the home
# blocks the replay rewrites are zeroed first).  syncdax mounts each,
# replaying, and its manifest must equal the kernel's (of what was synced
# or fsynced); then e2fsck -fn, clean; syncdax then changes the first
# tree, and e2fsck -fn must still call it clean.
#
# TAP output.  Skipped with the reason without qemu-system-x86_64 (or
# cpio, depmod), when the guest packages cannot be fetched, and in a
# sanitizer build (the SAN=1 pass stays fast).  $B is the build
# directory; the guest kit is kept in $B/kernel-test.

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() {	# check DESCRIPTION COMMAND...: one TAP line from its status
	what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
skip_all() { echo "1..1"; echo "ok 1 # SKIP $1"; exit 0; }

B=${B:-build}
SYNCDAX=${SYNCDAX:-$B/syncdax}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ -x "$SYNCDAX" ] && [ -e "$B/libsyncdax.a" ] ||
	skip_all "no syncdax build in $B"
ldd "$SYNCDAX" 2>/dev/null | grep -q 'libasan\|libtsan' &&
	skip_all "sanitizer build (the kernel guest runs in the normal pass)"
for tool in qemu-system-x86_64 cpio depmod dpkg-deb apt-get e2fsck \
	    dumpe2fs sha256sum cc; do
	command -v $tool >/dev/null ||
		skip_all "$tool not installed (apt-get install qemu-system-x86 cpio kmod)"
done

W=$B/kernel-test
mkdir -p "$W"
W=$(cd "$W" && pwd)
tmp=$(mktemp -d /dev/shm/sdxkernel-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT PIPE TERM

cc -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread \
	-I"$ROOT/include" -o "$W/kernel-tree" "$ROOT/tests/interop/kernel-tree.c" \
	"$B/libsyncdax.a" -lm || { echo "1..1"; not_ok "kernel-tree builds"; exit 1; }
sh "$ROOT/bench/kernel/build-guest.sh" -i "$ROOT/tests/interop/kernel-init" \
	-p "e2fsprogs attr" \
	-t "sbin/mke2fs=sbin/mkfs.ext4 usr/bin/lsattr usr/bin/chattr
	    usr/bin/getfattr usr/bin/setfattr" \
	-m "ext4 crc32c_generic virtio_pci virtio_blk" "$W" \
	> "$tmp/kit.log" 2>&1 || {
	grep -q 'could not download\|apt-cache knows no' "$tmp/kit.log" &&
		skip_all "no guest kit: $(grep build-guest: "$tmp/kit.log" | tail -n 1)"
	echo "1..1"
	not_ok "the guest kit builds"
	tail -n 20 "$tmp/kit.log" | sed 's/^/# /'
	exit 1
}
. "$ROOT/bench/kernel/guest.sh"

fsck_clean() {	# fsck_clean IMAGE: e2fsck -fn says clean, else what it says
	e2fsck -fn "$1" > "$tmp/fsck.log" 2>&1 && return 0
	sed 's/^/# /' "$tmp/fsck.log" | head -n 20
	return 1
}
syncdax_manifest() {	# syncdax_manifest IMAGE OUT: syncdax's view
	"$W/kernel-tree" manifest "$1" > "$2" 2> "$tmp/err" && return 0
	sed 's/^/# /' "$tmp/err"
	return 1
}

# ---- the images syncdax writes ----
has_revokes() {	# has_revokes IMAGE: debugfs logdump finds a revoke block
	debugfs -R logdump "$1" 2>/dev/null | grep -q 'revoke table'
}
# zero_replayed IMAGE: zero the home copy of every block a replay of the
# journal rewrites (logged, and not revoked in that or a later
# transaction), as if no commit had been checkpointed, so only the replay
# gives them back; print how many.  What a mount reads to find the
# journal stays: the superblock and the (reserved) group descriptor
# blocks, and the inode-table block holding inodes 1-16 (the journal's
# inode 8).  Their list: $tmp/zeroed.
zero_replayed() {
	dumpe2fs "$1" 2>/dev/null | sed -n '/^Group 0:/,/^Group 1:/p' > "$tmp/group0"
	gdt=$(sed -n 's/.*\(Group descriptors\|Reserved GDT blocks\) at [0-9]*-\([0-9]*\).*/\2/p' \
	      "$tmp/group0" | tail -n 1)
	itable=$(sed -n 's/^ *Inode table at \([0-9]*\)-.*/\1/p' "$tmp/group0")
	debugfs -R 'logdump -a' "$1" 2>/dev/null |
		awk -v gdt="$gdt" -v itable="$itable" '
		/^Found expected sequence/ { seq = $4 + 0 }
		/^ *FS block [0-9]* logged at/ { last[$3] = seq }
		/^ *Revoke FS block/ { revoked[$4] = seq }
		END { for (b in last)
			if (b + 0 > gdt + 0 && b + 0 != itable + 0 &&
			    !(b in revoked && revoked[b] >= last[b])) print b }' \
		> "$tmp/zeroed"
	while read -r block; do
		dd if=/dev/zero of="$1" bs=4096 seek="$block" count=1 \
			conv=notrunc 2>/dev/null
	done < "$tmp/zeroed"
	wc -l < "$tmp/zeroed"
}
journal_start() { dumpe2fs -h "$1" 2>/dev/null | sed -n 's/^Journal start: *//p'; }
check "syncdax fills an image with every kind of inode" \
	sh -c "$SYNCDAX mkfs --size 128M '$tmp/tree' >/dev/null &&
	       '$W/kernel-tree' fill '$tmp/tree'"
check "the filled image is clean for e2fsck" fsck_clean "$tmp/tree"
two_levels() {	# two_levels IMAGE: /htree2's index is two levels deep
	debugfs -R 'htree /htree2' "$1" 2>/dev/null |
		grep -q 'Indirect levels: 1'
}
check "syncdax's /htree2 has a two-level index" two_levels "$tmp/tree"
for crash in jcrash orphan; do
	"$SYNCDAX" mkfs --size 64M "$tmp/$crash" > /dev/null
	mode=crash
	[ $crash = orphan ] && mode=orphan
	check "$crash: a writer killed with SIGKILL after fsync" \
		"$W/kernel-tree" $mode "$tmp/$crash"
	check "$crash: its journal needs recovery (journal start $(journal_start "$tmp/$crash"))" \
		test "$(journal_start "$tmp/$crash")" -gt 0
	check "$crash: its journal holds revoke records" \
		has_revokes "$tmp/$crash"
	cp "$tmp/$crash" "$tmp/$crash.copy"
	check "$crash: home copies of $(zero_replayed "$tmp/$crash") blocks its journal replays zeroed for the kernel" \
		test -s "$tmp/zeroed"
done
cp "$tmp/orphan.copy" "$tmp/orphan.fsck"
e2fsck -fy "$tmp/orphan.fsck" > "$tmp/orphan.log" 2>&1
check "orphan: e2fsck finds the unlinked open file on the orphan list" \
	grep -q 'Clearing orphaned inode' "$tmp/orphan.log"
check "tree: syncdax's manifest" syncdax_manifest "$tmp/tree" "$tmp/tree.ours"
for crash in jcrash orphan; do
	check "$crash: syncdax replays its journal (a copy)" \
		syncdax_manifest "$tmp/$crash.copy" "$tmp/$crash.ours"
done
truncate -s 256M "$tmp/kclean"
truncate -s 64M "$tmp/kjdata" "$tmp/kcrash"

# ---- one boot ----
FEATURES=$(sed -n '/define SDX_MKFS_FEATURES/,/^$/p' "$ROOT/src/fs/mkfs.h" |
	   sed -n 's/.*"\(.*\)".*/\1/p' | tr -d '\n')
drives=
for img in tree jcrash orphan kclean kjdata kcrash; do
	drives="$drives -drive file=$tmp/$img,format=raw,if=virtio"
done
start=$(date +%s)
# shellcheck disable=SC2086
guest_boot "$W" 420 "$W/console.log" \
	"loglevel=3 sdx.ours=tree,jcrash,orphan sdx.modify=tree sdx.theirs=kclean,kjdata,kcrash sdx.features=$FEATURES" \
	-m 1G -smp 2 -serial file:"$W/results.raw" $drives
tr -d '\r' < "$W/results.raw" > "$W/results"
echo "# guest: $(sed -n 's/^@@@ GUEST //p' "$W/console.log"), $GUEST_ACCEL," \
     "$(($(date +%s) - start)) s"
if ! grep -q '^@@@ DONE' "$W/results"; then
	not_ok "the guest ran to its end"
	tail -n 20 "$W/console.log" "$W/console.log.qemu" "$W/results" |
		sed 's/^/# /'
	echo "1..$n"
	exit 1
fi

# ---- what the kernel said ----
guest_check() {	# guest_check NAME WHAT: the guest's step succeeded
	grep -q "^@@@ CHECK $1 $2 status=0\$" "$W/results" && return 0
	grep "^@@@ \(CHECK\|OUTPUT\) $1 " "$W/results" | sed 's/^/# /'
	return 1
}
kernel_manifest() {	# kernel_manifest NAME > FILE
	sed -n "/^@@@ BEGIN manifest $1\$/,/^@@@ END manifest $1\$/p" \
		"$W/results" | sed '1d;$d' | base64 -d | gunzip
}
same() {	# same OURS THEIRS: equal manifests, else the difference
	[ -s "$1" ] && LC_ALL=C sort "$1" > "$1.sorted" &&
		LC_ALL=C sort "$2" > "$2.sorted" &&
		diff "$1.sorted" "$2.sorted" > "$tmp/diff" && return 0
	echo "# - syncdax, + kernel:"
	head -n 20 "$tmp/diff" | cut -c1-300 | sed 's/^/# /'
	return 1
}
no_ext4_messages() {
	! grep "^@@@ DMESG $1 " "$W/results" | sed 's/^/# /' | grep -q .
}

for img in tree jcrash orphan; do
	check "$img: the kernel mounts syncdax's image" guest_check $img mount
	kernel_manifest $img > "$tmp/$img.kernel"
	check "$img: the kernel's view equals syncdax's" \
		same "$tmp/$img.ours" "$tmp/$img.kernel"
	check "$img: the kernel unmounts it" guest_check $img umount
	check "$img: the kernel logged no EXT4-fs error or warning" \
		no_ext4_messages $img
	check "$img: e2fsck -fn calls it clean after the kernel" \
		fsck_clean "$tmp/$img"
done
check "tree: the kernel sees chattr +S of syncfile" \
	grep -q '^@@@ FLAGS tree ./syncfile [^ ]*S' "$W/results"
check "tree: the kernel changes it (htree, extents, xattrs, renames)" \
	guest_check tree modify
kernel_manifest tree-modified > "$tmp/tree-modified.kernel"
check "tree: syncdax reads the kernel's changes" \
	syncdax_manifest "$tmp/tree" "$tmp/tree-modified.ours"
check "tree: syncdax's view of the changed image equals the kernel's" \
	same "$tmp/tree-modified.ours" "$tmp/tree-modified.kernel"
check "orphan: the unlinked open file is gone for the kernel" \
	sh -c "! grep -q open-unlinked '$tmp/orphan.kernel'"

check "kjdata: the kernel formats it, mounts it data=journal and writes" \
	guest_check kjdata write
for img in kclean kcrash; do
	check "$img: the kernel formats and fills it" guest_check $img tree
	check "$img: the kernel logged no EXT4-fs error or warning" \
		no_ext4_messages $img
done
check "kclean: the kernel unmounts it" guest_check kclean umount
for img in kjdata kcrash; do
	check "$img: the kernel left its journal needing recovery (journal start $(journal_start "$tmp/$img"))" \
		sh -c "dumpe2fs -h '$tmp/$img' 2>/dev/null |
		       grep -q '^Filesystem features:.*needs_recovery' &&
		       test '$(journal_start "$tmp/$img")' -gt 0"
done
check "kcrash: the kernel's journal holds revoke records" \
	has_revokes "$tmp/kcrash"
cp "$tmp/kcrash" "$tmp/kcrash.fsck"
e2fsck -fy "$tmp/kcrash.fsck" > "$tmp/kcrash.log" 2>&1
check "kcrash: the kernel left an orphan (e2fsck -fy of a copy clears it)" \
	grep -q 'Clearing orphaned inode' "$tmp/kcrash.log"
# In the kernel's data=journal log, blocks logged escaped
# (JBD2_FLAG_ESCAPE: they begin with jbd2's magic number).
escaped_blocks() {
	debugfs -R 'logdump -a' "$1" 2>/dev/null |
		sed -n 's/.*FS block \([0-9]*\) logged at .*(flags 0x\([0-9a-f]*\))/\1 \2/p' |
	while read -r block flags; do
		[ $((0x$flags & 1)) -eq 1 ] && echo "$block"
	done | sort -u
}
check "kjdata: the kernel's journal holds escaped blocks ($(escaped_blocks "$tmp/kjdata" | wc -l))" \
	test "$(escaped_blocks "$tmp/kjdata" | wc -l)" -ge 16
for img in kjdata kcrash; do
	check "$img: home copies of $(zero_replayed "$tmp/$img") blocks its journal replays zeroed" \
		test -s "$tmp/zeroed"
done
for img in kclean kjdata kcrash; do
	check "$img: syncdax mounts the kernel's image$(
	       [ $img = kclean ] || echo ", replaying its journal")" \
		syncdax_manifest "$tmp/$img" "$tmp/$img.all"
	kernel_manifest $img > "$tmp/$img.kernel"
	if [ $img = kcrash ]; then
		grep -E '^\./synced(/|\|)' "$tmp/$img.all" > "$tmp/$img.ours"
	else
		cp "$tmp/$img.all" "$tmp/$img.ours"
	fi
	check "$img: syncdax's view equals the kernel's$(
	       [ $img = kcrash ] && echo " (what was synced)")" \
		same "$tmp/$img.ours" "$tmp/$img.kernel"
	check "$img: e2fsck -fn calls it clean after syncdax" \
		fsck_clean "$tmp/$img"
done
fsynced() {	# the file the kernel fsynced last has the content it had
	set -- $(sed -n 's/^@@@ FSYNCED kcrash //p' "$W/results")
	[ -n "$2" ] && grep -q "^$1|.*|$2|-|-\$" "$tmp/kcrash.all"
}
check "kcrash: syncdax replays the kernel's fsync after the sync" fsynced
check "kclean: the kernel's /htree2 has a two-level index" \
	two_levels "$tmp/kclean"
check "kclean: syncdax sees the kernel's chattr +S" \
	sh -c "'$SYNCDAX' lsattr '$tmp/kclean:/syncfile' | grep -q '^[^ ]*S'"
check "kclean: syncdax changes the kernel's tree (htree, extents, xattrs)" \
	"$W/kernel-tree" modify "$tmp/kclean"
check "kclean: e2fsck -fn calls it clean after syncdax's changes" \
	fsck_clean "$tmp/kclean"

echo "1..$n"
[ "$failed" -eq 0 ]
