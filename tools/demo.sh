#!/bin/sh
# demo.sh - the main job, shown: make an emulated persistent-memory device
# in /dev/shm, format it, run `syncdax demo` (synchronous faults, their cost,
# durability under SIGKILL), and let e2fsprogs judge the image.
set -e
SYNCDAX=${1:-build/syncdax}
DEV=/dev/shm/syncdax-demo.img
echo "\$ syncdax mkfs --size 256M $DEV"
"$SYNCDAX" mkfs --size 256M "$DEV"
echo
# Map the emulated device's tmpfs pages at open, so the fault figures are
# syncdax's and not tmpfs's first-touch page allocation (a real pmem device
# has no such cost).
echo "\$ SDX_DEV_POPULATE=1 syncdax demo $DEV"
SDX_DEV_POPULATE=1 "$SYNCDAX" demo "$DEV"
echo
echo "\$ syncdax ls -l $DEV:/"
"$SYNCDAX" ls -l "$DEV:/"
echo
echo "\$ syncdax fsck $DEV        # e2fsck -fn, the independent judge"
"$SYNCDAX" fsck "$DEV" | tail -n 1
echo
echo "\$ debugfs -R 'stat /records' $DEV | head -n 12"
debugfs -R 'stat /records' "$DEV" 2>/dev/null | head -n 12
echo
echo "The image stays at $DEV (an ordinary ext4 image); remove it when done."
