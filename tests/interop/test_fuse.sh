#!/bin/sh
# test_fuse.sh - `syncdax mount` under ordinary tools and POSIX behaviour.
#
# Mounts a fresh image with FUSE, copies a tree in with cp -r and checks it
# with diff -r, find and tar, runs a list of POSIX-behaviour checks
# (permissions, rename over, unlink while open, sparse files, fallocate and
# punch hole, O_APPEND, symlinks, truncate, chattr +S, touch, touch -h,
# chmod, chown, ln, cp -p, getfattr/setfattr, statfs), unmounts, checks
# the image with e2fsck -fn and debugfs, mounts it again and checks that
# everything is still there.  TAP output; skipped with the reason when
# FUSE cannot be used here.  $SYNCDAX is the command under test.

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
# check DESCRIPTION COMMAND... : one TAP line from the command's status
check() {
	what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
skip_all() { echo "1..1"; echo "ok 1 # SKIP $1"; exit 0; }

SYNCDAX=${SYNCDAX:-build/syncdax}
[ -x "$SYNCDAX" ] || skip_all "no syncdax command at $SYNCDAX"
[ -c /dev/fuse ] || skip_all "/dev/fuse does not exist"
[ -r /dev/fuse ] && [ -w /dev/fuse ] || skip_all "/dev/fuse is not usable"
command -v fusermount3 >/dev/null || skip_all "fusermount3 not installed"
for tool in flock e2fsck debugfs setpriv; do
	command -v $tool >/dev/null || skip_all "$tool not installed"
done

tmp=$(mktemp -d /dev/shm/sdxfuse-XXXXXX)
chmod 755 "$tmp"	# the permission checks run as another user
img=$tmp/image
mnt=$tmp/mnt
tree=$tmp/tree
cleanup() {
	fusermount3 -u -z "$mnt" 2>/dev/null
	flock "$img" true 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM
mkdir "$mnt" "$tree"

# Mount; as root also allow_other, so that the permission checks can run
# as another user.  The daemon's stderr goes to /dev/null once mounted:
# a sanitizer build reports into $tmp/sanitizer.PID instead.
mount_image() {
	opts=""
	[ "$(id -u)" -eq 0 ] && opts="-o allow_other"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$tmp/sanitizer" \
	UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$tmp/sanitizer" \
		$SYNCDAX mount $opts "$img" "$mnt" 2>"$tmp/mount.err"
}
no_sanitizer_report() {
	for f in "$tmp"/sanitizer.*; do
		[ -e "$f" ] || continue
		head -n 30 "$f"
		return 1
	done
}
# fusermount3 -u only starts the unmount; the device lock is released when
# syncdax has written the image clean.
unmount_image() {
	fusermount3 -u "$mnt" && flock "$img" true
}

$SYNCDAX mkfs --size 96M "$img" >/dev/null || {
	echo "1..1"; echo "not ok 1 - syncdax mkfs"; exit 1; }
if ! mount_image; then
	if grep -qi "permission denied\|not permitted\|no such device" \
		"$tmp/mount.err"; then
		skip_all "FUSE mount refused here: $(head -n 1 "$tmp/mount.err")"
	fi
	cat "$tmp/mount.err"
	echo "1..1"; echo "not ok 1 - syncdax mount"; exit 1
fi
ok "syncdax mount returns once the file system is mounted"
check "the mount is listed as fuse.syncdax" \
	grep -q " $mnt fuse.syncdax " /proc/mounts

# ---- ordinary tools: a tree with subdirectories, symlinks, empty files
cp -r src include tests tools "$tree"/
[ -d /usr/include/linux ] && cp -r /usr/include/linux "$tree"/
ln -s ../include/syncdax.h "$tree/src/link-to-header"
ln -s /nonexistent/target "$tree/dangling"
: >"$tree/empty"
mkdir -p "$tree/deep/a/b/c/d/e/f" && echo leaf >"$tree/deep/a/b/c/d/e/f/g"

check "cp -r of a tree into the mount" cp -r "$tree" "$mnt/tree"
check "diff -r finds the copy identical" \
	diff -r --no-dereference "$tree" "$mnt/tree"
(cd "$tree" && find . | sort) >"$tmp/find.src"
(cd "$mnt/tree" && find . | sort) >"$tmp/find.mnt"
check "find lists the same names" cmp -s "$tmp/find.src" "$tmp/find.mnt"
check "find -type l sees the symlinks" \
	test "$(find "$mnt/tree" -type l | wc -l)" -eq \
	     "$(find "$tree" -type l | wc -l)"
mkdir "$tmp/untar"
check "tar of the mount extracts to the same tree" \
	sh -c "tar -C '$mnt' -cf - tree | tar -C '$tmp/untar' -xf - &&
	       diff -r --no-dereference '$tree' '$tmp/untar/tree'"
mkdir "$mnt/tarx"
check "tar extracts a tree into the mount" \
	sh -c "tar -C '$tree' -cf - . |
	       tar -C '$mnt/tarx' -xmf - --no-same-owner --no-same-permissions &&
	       diff -r --no-dereference '$tree' '$mnt/tarx'"
check "readlink returns the target" \
	test "$(readlink "$mnt/tree/dangling")" = /nonexistent/target
check "a symlink to a file in the mount is followed" \
	cmp -s include/syncdax.h "$mnt/tree/src/link-to-header"

# ---- permissions (the kernel checks them: default_permissions)
(umask 077 && echo secret >"$mnt/private")
echo public >"$mnt/public"
check "a file created under umask 077 has mode 600" \
	test "$(stat -c %a "$mnt/private")" = 600
check "a file created under umask 022 has mode 644" \
	test "$(stat -c %a "$mnt/public")" = 644
mkdir -m 700 "$mnt/closed"
check "mkdir -m 700 makes a 700 directory" \
	test "$(stat -c %a "$mnt/closed")" = 700
if [ "$(id -u)" -eq 0 ]; then
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	fails_as_nobody() { ! as_nobody "$@" >/dev/null 2>&1; }
	check "another user cannot read a 600 file" \
		fails_as_nobody cat "$mnt/private"
	check "another user can read a 644 file" \
		test "$(as_nobody cat "$mnt/public")" = public
	check "another user cannot write a 644 file" \
		fails_as_nobody sh -c "echo x >>'$mnt/public'"
	check "another user cannot list a 700 directory" \
		fails_as_nobody ls "$mnt/closed"
	check "another user cannot create a file in a 755 directory" \
		fails_as_nobody sh -c ": >'$mnt/intruder'"
else
	ok "# SKIP permission checks as another user need root"
fi

# ---- rename
echo old >"$mnt/a"
echo new >"$mnt/b"
mv "$mnt/b" "$mnt/a"
check "rename over an existing file replaces it" \
	sh -c "test \"\$(cat '$mnt/a')\" = new && ! test -e '$mnt/b'"
mkdir "$mnt/d1" "$mnt/d2" "$mnt/full"
echo x >"$mnt/full/x"
check "rename of a directory over an empty directory" \
	sh -c "mv -T '$mnt/d1' '$mnt/d2' && test -d '$mnt/d2' &&
	       ! test -e '$mnt/d1'"
check "rename over a non-empty directory fails" \
	sh -c "! mv -T '$mnt/d2' '$mnt/full' 2>/dev/null && test -f '$mnt/full/x'"
check "rename into another directory" \
	sh -c "mv '$mnt/a' '$mnt/full/a' && test \"\$(cat '$mnt/full/a')\" = new"
check "rmdir of a non-empty directory fails" \
	sh -c "! rmdir '$mnt/full' 2>/dev/null"

# ---- unlink while open
printf 'still here' >"$mnt/doomed"
exec 3<"$mnt/doomed"
exec 4>>"$mnt/doomed"
rm "$mnt/doomed"
check "an unlinked file is gone from its directory" test ! -e "$mnt/doomed"
echo ' and more' >&4
check "an unlinked open file can still be read and written" \
	test "$(cat <&3)" = "still here and more"
exec 3<&- 4>&-
check "nothing of the unlinked file is left after its last close" \
	sh -c "! ls -A '$mnt' | grep -q -e doomed -e fuse_hidden"

# ---- sparse files, fallocate, punch hole, truncate
truncate -s 1G "$mnt/sparse"
printf 'X' | dd of="$mnt/sparse" bs=1 seek=536870912 conv=notrunc 2>/dev/null
check "a sparse file has its size" \
	test "$(stat -c %s "$mnt/sparse")" -eq 1073741824
check "a sparse file occupies almost nothing" \
	test "$(stat -c %b "$mnt/sparse")" -le 64
check "a hole reads as zeroes" \
	sh -c "dd if='$mnt/sparse' bs=4096 skip=1000 count=16 2>/dev/null |
	       cmp -s -n 65536 - /dev/zero"
check "data after a hole reads back" \
	test "$(dd if="$mnt/sparse" bs=1 skip=536870912 count=1 2>/dev/null)" = X
check "fallocate preallocates blocks" \
	sh -c "fallocate -l 1M '$mnt/prealloc' &&
	       test \$(stat -c %s '$mnt/prealloc') -eq 1048576 &&
	       test \$(stat -c %b '$mnt/prealloc') -ge 2048"
check "preallocated blocks read as zeroes" \
	cmp -s -n 1048576 "$mnt/prealloc" /dev/zero
head -c 65536 /dev/urandom >"$tmp/random"
cp "$tmp/random" "$mnt/punched"
blocks_before=$(stat -c %b "$mnt/punched")
check "punch hole succeeds" fallocate -p -o 8192 -l 16384 "$mnt/punched"
check "a punched range reads as zeroes, the rest is kept" \
	sh -c "dd if='$mnt/punched' bs=4096 skip=2 count=4 2>/dev/null |
	       cmp -s -n 16384 - /dev/zero &&
	       cmp -s -n 8192 '$tmp/random' '$mnt/punched' &&
	       cmp -s -i 24576 '$tmp/random' '$mnt/punched'"
check "punch hole frees the blocks and keeps the size" \
	sh -c "test \$(stat -c %b '$mnt/punched') -lt $blocks_before &&
	       test \$(stat -c %s '$mnt/punched') -eq 65536"
printf 'abcdefgh' >"$mnt/trunc"
truncate -s 3 "$mnt/trunc"
check "truncate shrinks a file" test "$(cat "$mnt/trunc")" = abc
truncate -s 6 "$mnt/trunc"
check "truncate extends with zeroes" \
	sh -c "printf 'abc\\0\\0\\0' | cmp -s - '$mnt/trunc'"

# ---- O_APPEND: every write goes to the end, whoever moved it
echo one >"$mnt/log"
exec 5>>"$mnt/log" 6>>"$mnt/log"
echo two >&5
echo three >&6
echo four >&5
exec 5>&- 6>&-
check "O_APPEND writes land at the end in order" \
	test "$(cat "$mnt/log" | tr '\n' ' ')" = "one two three four "

# ---- chattr/lsattr: the ext4 synchronous flag (FS_SYNC_FL) on a file
echo data >"$mnt/sync-flagged"
check "chattr +S through the mount" chattr +S "$mnt/sync-flagged"
check "lsattr through the mount shows S" \
	sh -c "lsattr '$mnt/sync-flagged' | cut -d' ' -f1 | grep -q S"
check "chattr -S clears it again" \
	sh -c "chattr -S '$mnt/sync-flagged' &&
	       ! lsattr '$mnt/sync-flagged' | cut -d' ' -f1 | grep -q S &&
	       chattr +S '$mnt/sync-flagged'"

# ---- attributes and hard links: utimens, chmod, chown, link
echo attr >"$mnt/attr"
check "touch -d of an existing file sets its times to the nanosecond" \
	sh -c "touch -d @981173106.123456789 '$mnt/attr' && test \
	       \"\$(TZ=UTC stat -c %y '$mnt/attr')\" = \
	       '2001-02-03 04:05:06.123456789 +0000'"
check "touch of an existing file sets its mtime to now" \
	sh -c "t=\$(date +%s) && touch '$mnt/attr' &&
	       test \$(stat -c %Y '$mnt/attr') -ge \$t"
check "chmod through the mount" \
	sh -c "chmod 4751 '$mnt/attr' && test \$(stat -c %a '$mnt/attr') = 4751"
if [ "$(id -u)" -eq 0 ]; then
	check "chown nobody through the mount (set-user-ID dropped)" \
		sh -c "chown nobody '$mnt/attr' &&
		       test \$(stat -c %U:%a '$mnt/attr') = nobody:751"
else
	ok "# SKIP chown needs root"
fi
check "ln makes a second name of the same inode" \
	sh -c "ln '$mnt/attr' '$mnt/attr-link' &&
	       test \$(stat -c %h:%i '$mnt/attr-link') = \
	            \$(stat -c 2:%i '$mnt/attr')"
check "ln of a directory is refused" \
	sh -c "! ln '$mnt/closed' '$mnt/closed-link' 2>/dev/null"
echo kept >"$tmp/preserved"
chmod 640 "$tmp/preserved"
touch -d @1000000000.5 "$tmp/preserved"
check "cp -p into the mount keeps mode and times" \
	sh -c "cp -p '$tmp/preserved' '$mnt/preserved' &&
	       test \"\$(stat -c '%a %u %g %y' '$mnt/preserved')\" = \
	            \"\$(stat -c '%a %u %g %y' '$tmp/preserved')\""

# ---- extended attributes (getfattr/setfattr, Debian package attr), touch -h
if command -v setfattr >/dev/null && command -v getfattr >/dev/null; then
	echo x >"$mnt/xattrs"
	head -c 3000 /dev/zero | tr '\0' v >"$tmp/bigval"
	check "setfattr/getfattr of a small user attribute" \
		sh -c "setfattr -n user.color -v blue '$mnt/xattrs' &&
		       test \"\$($(command -v getfattr) --absolute-names \
		                 --only-values -n user.color '$mnt/xattrs')\" = \
		            blue"
	check "setfattr of a 3000-byte attribute (the attribute block)" \
		sh -c "setfattr -n user.big -v \"\$(cat '$tmp/bigval')\" \
		       '$mnt/xattrs'"
	check "getfattr reads the 3000 bytes back" \
		sh -c "$(command -v getfattr) --absolute-names --only-values \
		       -n user.big '$mnt/xattrs' | cmp -s - '$tmp/bigval'"
	check "getfattr -d lists both attributes" \
		test "$(getfattr -d "$mnt/xattrs" 2>/dev/null | grep -c '^user\.')" -eq 2
	check "setfattr -x removes one, a missing one is ENODATA" \
		sh -c "setfattr -x user.color '$mnt/xattrs' &&
		       ! getfattr -n user.color '$mnt/xattrs' 2>'$tmp/err' &&
		       grep -q 'No such attribute' '$tmp/err'"
	has_xattr_tools=1
else
	ok "# SKIP getfattr/setfattr not installed (Debian package attr)"
	has_xattr_tools=0
fi
ln -s attr "$mnt/attr-symlink"
check "touch -h sets a symlink's own times, not its target's" \
	sh -c "touch -h -d @1000000000 '$mnt/attr-symlink' &&
	       test \$(stat -c %Y '$mnt/attr-symlink') -eq 1000000000 &&
	       test \$(stat -L -c %Y '$mnt/attr-symlink') -ne 1000000000"

# ---- fsync, statfs
check "fsync of a file (dd conv=fsync)" \
	sh -c "head -c 100000 /dev/urandom | \
	       dd of='$mnt/synced' bs=4096 conv=fsync 2>/dev/null"
free_before=$(stat -f -c %f "$mnt")
head -c 4194304 /dev/zero >"$mnt/four-mib"
free_after=$(stat -f -c %f "$mnt")
check "statfs counts the blocks a 4 MiB file takes" \
	test $((free_before - free_after)) -ge 1024
check "statfs reports the size of the device" \
	test $(($(stat -f -c %b "$mnt") * 4)) -eq $((96 * 1024))

# ---- unmount; the judge; mount again
check "fusermount3 -u unmounts and syncdax releases the device" \
	unmount_image
check "the mount is gone" sh -c "! grep -q ' $mnt ' /proc/mounts"
check "e2fsck -fn calls the image clean" \
	sh -c "e2fsck -fn '$img' >'$tmp/fsck.out' 2>&1 || {
	       cat '$tmp/fsck.out'; false; }"
check "debugfs reads a copied file as it was written" \
	sh -c "debugfs -R 'cat /tree/include/syncdax.h' '$img' 2>/dev/null |
	       cmp -s - include/syncdax.h"
# i_flags of an inode as debugfs prints them ("Flags: 0x80008")
inode_flags() {
	debugfs -R "stat $1" "$img" 2>/dev/null |
		sed -n 's/.*Flags: \(0x[0-9a-f]*\).*/\1/p'
}
check "debugfs sees EXT4_SYNC_FL set by chattr +S" \
	test $(($(inode_flags /sync-flagged) & 0x8)) -ne 0
check "debugfs sees the hard link and the mode set through the mount" \
	sh -c "debugfs -R 'stat /attr-link' '$img' 2>/dev/null |
	       grep -q 'Links: 2' && debugfs -R 'stat /attr' '$img' \
	       2>/dev/null | grep -q 'Mode:  0751'"
if [ "$has_xattr_tools" -eq 1 ]; then
	check "debugfs reads the attribute block written through the mount" \
		sh -c "debugfs -R 'ea_get -f $tmp/bigout /xattrs user.big' \
		       '$img' >/dev/null 2>&1 && cmp -s '$tmp/bigout' '$tmp/bigval' &&
		       debugfs -R 'stat /xattrs' '$img' 2>/dev/null |
		       grep -q 'File ACL: [1-9]'"
fi
check "debugfs sees the unlinked file gone" \
	sh -c "! debugfs -R 'stat /doomed' '$img' 2>&1 | grep -q Inode:"
check "mount again" mount_image
check "the tree survived the remount" \
	diff -r --no-dereference "$tree" "$mnt/tree"
check "the punched file survived the remount" \
	sh -c "dd if='$mnt/punched' bs=4096 skip=2 count=4 2>/dev/null |
	       cmp -s -n 16384 - /dev/zero &&
	       cmp -s -i 24576 '$tmp/random' '$mnt/punched'"
check "rm -r of the tree" rm -r "$mnt/tree" "$mnt/tarx"
check "unmount again" unmount_image
check "e2fsck -fn calls the image clean after rm -r" \
	sh -c "e2fsck -fn '$img' >'$tmp/fsck.out' 2>&1 || {
	       cat '$tmp/fsck.out'; false; }"

check "the mount process made no sanitizer report" no_sanitizer_report

# ---- errors a user can act on
check "mount of a missing device fails with status 1 and says why" \
	sh -c "$SYNCDAX mount '$tmp/missing' '$mnt' 2>'$tmp/err';
	       test \$? -eq 1 && grep -q missing '$tmp/err' &&
	       ! grep -q ' $mnt ' /proc/mounts"
check "mount with a missing mount point is a usage error (status 2)" \
	sh -c "$SYNCDAX mount '$img' >/dev/null 2>&1; test \$? -eq 2"
check "mount of a device that is not ext4 fails with status 1" \
	sh -c "head -c 1048576 /dev/zero >'$tmp/zeros' &&
	       $SYNCDAX mount '$tmp/zeros' '$mnt' 2>/dev/null;
	       test \$? -eq 1 && ! grep -q ' $mnt ' /proc/mounts"

echo "1..$n"
[ "$failed" -eq 0 ]
