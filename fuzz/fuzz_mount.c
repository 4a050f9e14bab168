/*
 * fuzz_mount.c - libFuzzer target: mount a mutated image and walk it.
 *
 * The input is an ext4 image, usually cut after its last non-zero block
 * (fuzz/fuzz.sh makes the seeds so): the device is the input followed by
 * zeroes up to the size its superblock claims (at most 64 MiB; a claim
 * beyond the input and that bound leaves the device at the input's size,
 * which the mount must refuse).  Each input is mounted read-only and
 * walked (readdir, stat, readlink, reads of every file, its extended
 * attributes listed and read), then mounted read-write -- the device is
 * a copy -- for a few writes (fz_scribble: among them COLLAPSE_RANGE and
 * INSERT_RANGE on the walked file of the most blocks and POSIX ACLs set
 * and chmodded), and unmounted.
 * A finding is a crash, a sanitizer report, a leak or a timeout; a refused
 * mount or a failed call is the expected answer to a hostile image.
 *
 *   make fuzz                      # every target, FUZZ_SECONDS each
 *   build/fuzz/fuzz_mount CORPUS   # by hand, as long as wanted
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fs/ondisk.h"
#include "util.h"
#include "syncdax.h"

#define BLOCK_SIZE	4096u
#define MAX_DEVICE	(64ull << 20)

/* The device size for @size input bytes (see the top of the file). */
static uint64_t device_size(const uint8_t *data, size_t size)
{
	struct ext4_super_block sb;
	uint64_t blocks, bytes;
	uint64_t at_least = (size + BLOCK_SIZE - 1) / BLOCK_SIZE * BLOCK_SIZE;

	memcpy(&sb, data + EXT4_SUPERBLOCK_OFFSET, sizeof(sb));
	blocks = sb.s_blocks_count_lo;
	if (sb.s_feature_incompat & EXT4_FEATURE_INCOMPAT_64BIT)
		blocks |= (uint64_t)sb.s_blocks_count_hi << 32;
	if (blocks > MAX_DEVICE / BLOCK_SIZE)
		return at_least;
	bytes = blocks * BLOCK_SIZE;
	return bytes > at_least ? bytes : at_least;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *device;
	struct fz_found found;
	struct sdx_fs *fs;

	if (size < EXT4_SUPERBLOCK_OFFSET + sizeof(struct ext4_super_block) ||
	    size > MAX_DEVICE)
		return 0;
	if (!device)
		device = fz_device("mount");
	fz_write_device(device, data, size, device_size(data, size));

	fs = sdx_mount(device, SDX_MOUNT_RDONLY);
	if (!fs)
		return 0;
	fz_walk(fs, &found);
	sdx_unmount(fs);

	fs = sdx_mount(device, 0);
	if (!fs)
		return 0;
	fz_walk(fs, &found);
	fz_scribble(fs, &found);
	sdx_unmount(fs);
	return 0;
}
