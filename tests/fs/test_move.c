/*
 * test_move.c - moving a file's blocks (sdx_defrag, src/fs/move.c) at its
 * limits: a piece whose extent-tree insert has no block left fails with
 * the file and the free count as they were; a file larger than a block
 * group (more blocks than one extent holds) moves into a free run that
 * spans groups, or into the fewest extents the free runs allow.  Each ends with e2fsck -fn clean.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "syncdax.h"
#include "testutil.h"

#define BLK 4096u
#define MIB (1u << 20)

static const char *dev;

static int setup(void **state)
{
	(void)state;
	dev = tu_path("move.img");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(dev);
	return 0;
}

/* Block @b of a test file: every 8 bytes say which block and where. */
static void pattern(uint64_t b, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = (b + i / BLK) * 0x9E3779B97F4A7C15ull + i % BLK;

		memcpy(buf + i, &v, 8);
	}
}

static void write_blocks(struct sdx_fs *fs, int fd, uint64_t b, uint64_t n)
{
	uint8_t *buf = malloc(n * BLK);

	assert_non_null(buf);
	pattern(b, buf, n * BLK);
	assert_int_equal(sdx_pwrite(fs, fd, buf, n * BLK, (off_t)(b * BLK)),
			 (ssize_t)(n * BLK));
	free(buf);
}

/* Do blocks [0, @n) of @fd read as written by write_blocks? */
static void check_blocks(struct sdx_fs *fs, int fd, uint64_t n)
{
	enum { CHUNK = 256 };
	uint8_t *want = malloc(CHUNK * BLK), *got = malloc(CHUNK * BLK);

	assert_non_null(want);
	assert_non_null(got);
	for (uint64_t b = 0; b < n; b += CHUNK) {
		uint64_t k = n - b < CHUNK ? n - b : CHUNK;

		pattern(b, want, k * BLK);
		assert_int_equal(sdx_pread(fs, fd, got, k * BLK,
					   (off_t)(b * BLK)), (ssize_t)(k * BLK));
		if (memcmp(got, want, k * BLK))
			fail_msg("blocks %llu+%llu differ after the move",
				 (unsigned long long)b, (unsigned long long)k);
	}
	free(want);
	free(got);
}

static uint64_t free_blocks(struct sdx_fs *fs)
{
	struct statvfs sv;

	assert_int_equal(sdx_statvfs(fs, "/", &sv), 0);
	return sv.f_bfree;
}

/* The extents of @path as debugfs lists them: "lblk pblk len" lines. */
static char *extents(const char *path)
{
	return tu_capture("debugfs -R 'ex %s' '%s' 2>/dev/null | sed -nE "
			  "'s#^ *([0-9]+)/ *\\1 +[0-9]+/ *[0-9]+ +([0-9]+) - "
			  "+[0-9]+ +([0-9]+) - +[0-9]+ +([0-9]+).*#\\2 \\3 "
			  "\\4#p'", path, dev);
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Unmount, let e2fsck judge, and return @path's extents ("lblk pblk
 * len" lines, malloc'd). */
static char *unmount_checked(struct sdx_fs *fs, const char *path)
{
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	return extents(path);
}

/* A 16 MiB image whose /a and /b are written in turns, @n runs of @len
 * blocks each (so /a has @n extents); both left open. */
static struct sdx_fs *interleaved(unsigned n, unsigned len, int *fa, int *fb)
{
	struct sdx_fs *fs;

	tu_mkfs(dev, 16 * MIB);
	fs = tu_mount(dev, 0);
	*fa = sdx_open(fs, "/a", O_CREAT | O_RDWR, 0644);
	*fb = sdx_open(fs, "/b", O_CREAT | O_RDWR, 0644);
	assert_true(*fa >= 0 && *fb >= 0);
	for (unsigned i = 0; i < n; i++) {
		write_blocks(fs, *fa, (uint64_t)len * i, len);
		write_blocks(fs, *fb, (uint64_t)len * i, len);
	}
	return fs;
}

/* What the progress callback does on its first call: fill the device,
 * then give exactly one block back (committed, so it can be taken). */
struct squeeze {
	struct sdx_fs *fs;
	bool is_done;
	uint64_t free_after;		/* the free count it left */
};

static void squeeze(uint64_t done, uint64_t total, void *arg)
{
	static uint8_t chunk[64 * BLK];
	struct squeeze *sq = arg;
	uint64_t off = 0;
	int fd, round;

	(void)total;
	if (sq->is_done || done != 0)
		return;
	sq->is_done = true;
	fd = sdx_open(sq->fs, "/fill", O_CREAT | O_RDWR, 0644);
	if (fd < 0)
		return;
	/* twice: blocks freed by the first round's transaction are usable
	 * only once it has committed (fsync) */
	for (round = 0; round < 2; round++) {
		for (;;) {
			ssize_t r = sdx_pwrite(sq->fs, fd, chunk, sizeof(chunk),
					       (off_t)off);

			if (r <= 0)
				break;
			off += (uint64_t)r;
		}
		sdx_fsync(sq->fs, fd);
	}
	sdx_fallocate(sq->fs, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      0, BLK);
	sdx_fsync(sq->fs, fd);
	sdx_close(sq->fs, fd);
	sq->free_after = free_blocks(sq->fs);
}

/*
 * The root of /a holds four extents (full).  The first piece gets one
 * block (all that is free), so it moves the head of the first extent and
 * its insert needs a new entry: the root must grow, for which no block is
 * left.  The defrag fails with ENOSPC before it changes the tree: /a
 * reads as before, the free count is what it was, e2fsck is content; with
 * the space back a second defrag makes one extent.
 */
static void test_piece_without_room_for_the_tree_leaves_the_file(void **state)
{
	struct squeeze sq = { 0 };
	struct sdx_fs *fs;
	int fd, pad;
	char *ex;

	(void)state;
	fs = interleaved(4, 4, &fd, &pad);
	assert_int_equal(sdx_fsync(fs, fd), 0);
	assert_int_equal(sdx_fsync(fs, pad), 0);
	sq.fs = fs;
	assert_int_equal(sdx_defrag(fs, fd, squeeze, &sq), -1);
	assert_int_equal(errno, ENOSPC);
	assert_true(sq.is_done);
	assert_int_equal(sq.free_after, 1);
	assert_int_equal(free_blocks(fs), sq.free_after);
	check_blocks(fs, fd, 16);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_close(fs, pad), 0);
	ex = unmount_checked(fs, "/a");
	assert_int_equal(count_lines(ex), 4);
	free(ex);

	fs = tu_mount(dev, 0);
	assert_int_equal(sdx_unlink(fs, "/fill"), 0);
	fd = sdx_open(fs, "/a", O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(sdx_fsync(fs, fd), 0);	/* the frees commit */
	if (sdx_defrag(fs, fd, NULL, NULL))
		fail_msg("defrag: %s", sdx_strerror_detail());
	check_blocks(fs, fd, 16);
	assert_int_equal(sdx_close(fs, fd), 0);
	ex = unmount_checked(fs, "/a");
	assert_int_equal(count_lines(ex), 1);
	free(ex);
}

/*
 * Write @blocks blocks of /big on an image of @image bytes in two
 * interleaved passes (an extent per 256 blocks), defrag it, check its
 * contents and e2fsck, and parse its two extents (lblk pblk len each).
 */
static void defrag_interleaved(uint64_t image, uint64_t blocks,
			       unsigned long long ext[2][3])
{
	enum { CHUNK = 256 };
	struct sdx_fs *fs;
	char *ex;
	int fd;

	tu_mkfs(dev, image);
	fs = tu_mount(dev, 0);
	fd = sdx_open(fs, "/big", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	for (unsigned pass = 0; pass < 2; pass++)
		for (uint64_t b = pass * CHUNK; b < blocks; b += 2 * CHUNK)
			write_blocks(fs, fd, b, CHUNK);
	assert_int_equal(sdx_close(fs, fd), 0);
	ex = unmount_checked(fs, "/big");
	assert_true(count_lines(ex) >= blocks / CHUNK);
	free(ex);

	fs = tu_mount(dev, 0);
	fd = sdx_open(fs, "/big", O_RDWR, 0);
	assert_true(fd >= 0);
	if (sdx_defrag(fs, fd, NULL, NULL))
		fail_msg("defrag: %s", sdx_strerror_detail());
	check_blocks(fs, fd, blocks);
	assert_int_equal(sdx_close(fs, fd), 0);
	ex = unmount_checked(fs, "/big");
	if (count_lines(ex) != 2 ||
	    sscanf(ex, "%llu %llu %llu\n%llu %llu %llu", &ext[0][0],
		   &ext[0][1], &ext[0][2], &ext[1][0], &ext[1][1],
		   &ext[1][2]) != 6 || ext[0][0] != 0 ||
	    ext[1][0] != ext[0][2] || ext[0][2] + ext[1][2] != blocks)
		fail_msg("extents after the move (lblk pblk len), two for "
			 "%llu blocks expected:\n%s", (unsigned long long)blocks,
			 ex);
	free(ex);
}

/*
 * A 200 MiB file (51200 blocks: more than a group, so more than one
 * extent can map) in 200 extents on a 512 MiB image, whose free runs all
 * end at a group's backup superblock or the journal: the move takes the
 * two longest runs and leaves the fewest extents such a file can have.
 */
static void test_file_longer_than_any_free_run_moves_into_two_extents(
	void **state)
{
	unsigned long long ext[2][3];

	(void)state;
	defrag_interleaved(512 * MIB, 51200, ext);
}

/*
 * On 1 GiB the tail of group 5 and all of group 6 (no backup superblock,
 * both BLOCK_UNINIT) are one free run: a 144 MiB file moves into it, its
 * two extents physically contiguous across the group boundary.
 */
static void test_free_run_across_groups_takes_a_longer_file(void **state)
{
	unsigned long long ext[2][3];
	const unsigned long long group = 32768;

	(void)state;
	defrag_interleaved(1024ull * MIB, 36864, ext);
	if (ext[1][1] != ext[0][1] + ext[0][2] ||
	    ext[0][1] / group == (ext[1][1] + ext[1][2] - 1) / group)
		fail_msg("extents %llu+%llu and %llu+%llu: not one run across "
			 "a group boundary", ext[0][1], ext[0][2], ext[1][1],
			 ext[1][2]);
}

/* sdx_defrag of @fd fails with ENOSPC naming a longest free run of
 * @least to @most blocks; the file reads as before. */
static void expect_enospc(struct sdx_fs *fs, int fd, unsigned long least,
			  unsigned long most)
{
	const char *key = "no free run of 256 blocks (the longest has ";
	const char *detail, *at;
	unsigned long longest;

	assert_int_equal(sdx_defrag(fs, fd, NULL, NULL), -1);
	assert_int_equal(errno, ENOSPC);
	detail = sdx_strerror_detail();
	at = strstr(detail, key);
	longest = at ? strtoul(at + strlen(key), NULL, 10) : 0;
	if (!at || longest < least || longest > most)
		fail_msg("defrag: %s; expected the longest run of %lu to %lu",
			 detail, least, most);
	check_blocks(fs, fd, 256);
}

/*
 * /a and /b interleaved in runs of 8 blocks, the rest of the device
 * filled: one free block, then (/b deleted) runs of about 8, which would
 * make no fewer extents than /a has: ENOSPC naming the longest run, /a
 * as it was.
 */
static void test_no_better_free_space_is_enospc_naming_the_longest(
	void **state)
{
	struct squeeze sq = { 0 };
	struct sdx_fs *fs;
	int fa, fb;

	(void)state;
	fs = interleaved(32, 8, &fa, &fb);
	assert_int_equal(sdx_close(fs, fb), 0);
	sq.fs = fs;
	squeeze(0, 0, &sq);
	assert_int_equal(sq.free_after, 1);
	expect_enospc(fs, fa, 1, 1);
	assert_int_equal(sdx_unlink(fs, "/b"), 0);
	fb = sdx_open(fs, "/", O_RDONLY, 0);
	assert_int_equal(sdx_fsync(fs, fb), 0);	/* the frees commit */
	assert_int_equal(sdx_close(fs, fb), 0);
	expect_enospc(fs, fa, 8, 31);
	assert_int_equal(sdx_close(fs, fa), 0);
	free(unmount_checked(fs, "/a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_piece_without_room_for_the_tree_leaves_the_file),
		cmocka_unit_test(
			test_file_longer_than_any_free_run_moves_into_two_extents),
		cmocka_unit_test(
			test_free_run_across_groups_takes_a_longer_file),
		cmocka_unit_test(
			test_no_better_free_space_is_enospc_naming_the_longest),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
