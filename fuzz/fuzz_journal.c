/*
 * fuzz_journal.c - libFuzzer target: feed mutated jbd2 journals to
 * recovery.
 *
 * Only the journal is mutated, so that recovery -- not the superblock
 * checks in front of it -- sees the input: the target makes one valid
 * image with sdx_mkfs (8 MiB, the geometry fuzz/fuzz.sh makes its seeds
 * with), marks it needs_recovery, and finds the journal inode's blocks.
 * The input is the journal's content from its first block (the jbd2
 * superblock) on; it replaces that many journal blocks of a fresh copy of
 * the image, the rest stay as mkfs left them.  Each input is mounted
 * read-only (recovery into memory) and walked, then mounted read-write
 * (recovery writes the blocks home), walked, written to and unmounted.
 * A finding is a crash, a sanitizer report, a leak or a timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs/mkfs.h"
#include "util.h"
#include "lib/crc32c.h"
#include "syncdax.h"

#define IMAGE_SIZE	(8u << 20)

static const char *device;
static uint8_t *base;			/* the image every input starts from */
static uint64_t *journal_map;		/* journal block -> device block */
static uint64_t journal_blocks;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_journal: %s: %s (%s)\n", what, strerror(errno),
		sdx_strerror_detail());
	abort();
}

/* Where each block of the journal inode lives (the image is valid). */
static void map_journal(void)
{
	struct sdx_fs *fs = sdx_mount(device, SDX_MOUNT_RDONLY);
	struct sdx_inode *inode;
	struct stat st;
	int err;

	if (!fs)
		die("mount of the base image");
	pthread_mutex_lock(&fs->lock);
	err = sdx_iget(fs, EXT4_JOURNAL_INO, &inode);
	if (err)
		goto out_unlock;
	sdx_inode_stat(inode, &st);
	journal_blocks = (uint64_t)st.st_size / SDX_BLOCK_SIZE;
	journal_map = calloc(journal_blocks, sizeof(*journal_map));
	for (uint64_t lblk = 0; !err && journal_map && lblk < journal_blocks;) {
		uint64_t pblk, len;
		unsigned flags;

		err = sdx_extent_map(inode, lblk, &pblk, &len, &flags);
		if (!err && (flags & SDX_EXTENT_HOLE))
			err = -EUCLEAN;
		for (; !err && len-- && lblk < journal_blocks; lblk++)
			journal_map[lblk] = pblk++;
	}
	sdx_iput(inode);
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	sdx_unmount(fs);
	if (err || !journal_map) {
		errno = err ? -err : ENOMEM;
		die("the journal inode of the base image");
	}
}

/* Make the base image: sdx_mkfs, then needs_recovery (and its checksum). */
static void make_base(void)
{
	struct ext4_super_block *sb;
	int fd, err;

	device = fz_device("journal");
	err = sdx_mkfs(device, IMAGE_SIZE, NULL, NULL);
	if (err) {
		errno = -err;
		die("sdx_mkfs");
	}
	map_journal();
	base = malloc(IMAGE_SIZE);
	fd = open(device, O_RDONLY | O_CLOEXEC);
	if (!base || fd < 0 || pread(fd, base, IMAGE_SIZE, 0) != IMAGE_SIZE)
		die("reading the base image");
	close(fd);
	sb = (void *)(base + EXT4_SUPERBLOCK_OFFSET);
	sb->s_feature_incompat |= EXT4_FEATURE_INCOMPAT_RECOVER;
	sb->s_checksum = sdx_crc32c(~0u, sb, offsetof(struct ext4_super_block,
						     s_checksum));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_found found;
	struct sdx_fs *fs;
	uint64_t nblocks = (size + SDX_BLOCK_SIZE - 1) / SDX_BLOCK_SIZE;
	int fd;

	if (!base)
		make_base();
	if (size == 0 || nblocks > journal_blocks)
		return 0;
	fz_write_device(device, base, IMAGE_SIZE, IMAGE_SIZE);
	fd = open(device, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die(device);
	for (uint64_t i = 0; i < nblocks; i++) {
		size_t n = size - i * SDX_BLOCK_SIZE;

		n = n < SDX_BLOCK_SIZE ? n : SDX_BLOCK_SIZE;
		if (pwrite(fd, data + i * SDX_BLOCK_SIZE, n,
			   (off_t)(journal_map[i] * SDX_BLOCK_SIZE)) !=
		    (ssize_t)n)
			die(device);
	}
	close(fd);

	fs = sdx_mount(device, SDX_MOUNT_RDONLY);
	if (fs) {
		fz_walk(fs, &found);
		sdx_unmount(fs);
	}
	fs = sdx_mount(device, 0);
	if (fs) {
		fz_walk(fs, &found);
		fz_scribble(fs, &found);
		sdx_unmount(fs);
	}
	return 0;
}
