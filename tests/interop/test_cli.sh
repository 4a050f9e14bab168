#!/bin/sh
# test_cli.sh - the syncdax command end to end, judged by e2fsprogs:
# mkfs, mkdir, cp both ways, cat, ls, stat, chattr/lsattr, rm, fsck, and
# clear errors (exit status and message naming device and path) for bad use.
# TAP output.
SYNCDAX=${SYNCDAX:-build/syncdax}
DEV=/dev/shm/sdxtest-$$-cli.img
TMP=/dev/shm/sdxtest-$$-cli.dir
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
mkdir -p "$TMP"
head -c 3000000 /dev/urandom > "$TMP/blob"

"$SYNCDAX" mkfs --size 64M "$DEV" >/dev/null
ok $? "mkfs makes a device"
"$SYNCDAX" mkdir "$DEV:/d"
ok $? "mkdir"
"$SYNCDAX" cp "$TMP/blob" "$DEV:/d/blob"
ok $? "cp host -> device"
"$SYNCDAX" cp "$DEV:/d/blob" "$TMP/back"
cmp -s "$TMP/blob" "$TMP/back"
ok $? "cp device -> host is byte-exact"
"$SYNCDAX" cat "$DEV:/d/blob" | cmp -s - "$TMP/blob"
ok $? "cat is byte-exact"
debugfs -R "cat /d/blob" "$DEV" 2>/dev/null | cmp -s - "$TMP/blob"
ok $? "debugfs reads what syncdax wrote"
"$SYNCDAX" ls "$DEV:/d" | grep -qx blob
ok $? "ls lists the file"
"$SYNCDAX" ls -l "$DEV:/d" | grep -q ' 3000000 .* blob$'
ok $? "ls -l shows the size"
"$SYNCDAX" stat "$DEV:/d/blob" | grep -q 'Size: 3000000'
ok $? "stat shows the size"
"$SYNCDAX" chattr +S "$DEV:/d/blob" && "$SYNCDAX" lsattr "$DEV:/d/blob" | grep -q '^..S'
ok $? "chattr +S sets FS_SYNC_FL"
debugfs -R "stat /d/blob" "$DEV" 2>/dev/null | grep -q 'Flags: 0x80008'
ok $? "debugfs sees the S flag"
"$SYNCDAX" chattr -S "$DEV:/d/blob" && "$SYNCDAX" lsattr "$DEV:/d/blob" | grep -q '^..-'
ok $? "chattr -S clears it"
# a fragmented file: it fills the holes left by every other small file
head -c 65536 /dev/urandom > "$TMP/small"
i=0
while [ $i -lt 24 ]; do "$SYNCDAX" cp "$TMP/small" "$DEV:/s$i"; i=$((i + 1)); done
i=0
while [ $i -lt 24 ]; do "$SYNCDAX" rm "$DEV:/s$i"; i=$((i + 2)); done
extents() { debugfs -R "ex $1" "$DEV" 2>/dev/null | grep -c '^ *[0-9]*/ *[0-9]'; }
"$SYNCDAX" cp "$TMP/blob" "$DEV:/frag" && [ "$(extents /frag)" -gt 1 ] &&
	"$SYNCDAX" defrag "$DEV:/frag" && [ "$(extents /frag)" -eq 1 ] &&
	"$SYNCDAX" cat "$DEV:/frag" | cmp -s - "$TMP/blob"
ok $? "defrag leaves one extent and the same contents"
"$SYNCDAX" rm "$DEV:/d/blob" && ! "$SYNCDAX" ls "$DEV:/d" | grep -q blob
ok $? "rm removes the file"
"$SYNCDAX" fsck "$DEV" | grep -q clean
ok $? "fsck calls the image clean"
msg=$("$SYNCDAX" cat "$DEV:/nope" 2>&1); st=$?
[ $st -eq 1 ] && echo "$msg" | grep -q "$DEV:/nope"
ok $? "a missing file fails with status 1 naming device and path"
"$SYNCDAX" cat nodevice >/dev/null 2>&1; [ $? -eq 2 ]
ok $? "a name without DEVICE:/ is a usage error (status 2)"
"$SYNCDAX" frobnicate >/dev/null 2>&1; [ $? -eq 2 ]
ok $? "an unknown command is a usage error"
msg=$("$SYNCDAX" ls "/dev/shm/sdxtest-$$-missing.img:/" 2>&1); st=$?
[ $st -eq 1 ] && echo "$msg" | grep -q "missing.img"
ok $? "a missing device fails naming the device"
"$SYNCDAX" --version | grep -q '^syncdax [0-9]'
ok $? "--version"
rm -rf "$DEV" "$TMP"
