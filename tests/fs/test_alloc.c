/*
 * test_alloc.c - block and inode allocation: goal-directed contiguity, free
 * counts, *_UNINIT groups, a full device and a full inode table, each
 * judged by e2fsck afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"
#include "syncdax.h"
#include "testutil.h"

struct ctx {
	struct sdx_fs *fs;
	struct sdx_inode *root;
	struct sdx_handle *h;
};

/* Mount @img, hold the metadata lock, open a handle. */
static void begin(struct ctx *c, const char *img)
{
	assert_int_equal(sdx_fs_open(img, 0, &c->fs), 0);
	pthread_mutex_lock(&c->fs->lock);
	assert_int_equal(sdx_iget(c->fs, EXT4_ROOT_INO, &c->root), 0);
	assert_int_equal(sdx_fs_start(c->fs, 64, &c->h), 0);
}

/* Close the handle and open another (keeps transactions small). */
static void next_handle(struct ctx *c)
{
	assert_int_equal(sdx_journal_stop(c->h), 0);
	assert_int_equal(sdx_fs_start(c->fs, 64, &c->h), 0);
}

static void end(struct ctx *c)
{
	assert_int_equal(sdx_journal_stop(c->h), 0);
	sdx_iput(c->root);
	pthread_mutex_unlock(&c->fs->lock);
	assert_int_equal(sdx_fs_close(c->fs), 0);
}

/* A regular file with one link (the test links it in with debugfs). */
static struct sdx_inode *new_file(struct ctx *c)
{
	struct sdx_inode *inode;

	assert_int_equal(sdx_inode_alloc(c->h, c->root, S_IFREG | 0644,
					 &inode), 0);
	inode->raw.i_links_count = 1;
	assert_int_equal(sdx_inode_mark_dirty(c->h, inode), 0);
	return inode;
}

static void debugfs_link(const char *img, uint32_t ino, const char *name)
{
	assert_int_equal(tu_sh("debugfs -w -R 'ln <%u> /%s' '%s' >/dev/null "
			       "2>&1", ino, name, img), 0);
}

static uint32_t group0_free_blocks(struct sdx_fs *fs)
{
	int err;
	const struct ext4_group_desc *gd = sdx_group_desc(fs, 0, &err);

	assert_non_null(gd);
	return sdx_gd_free_blocks(fs, gd);
}

static void test_sequential_allocation_is_contiguous(void **state)
{
	const char *img = tu_path("alloc-seq.img");
	uint64_t free0, first0 = 0, prev = 0, pblk, len, first, got;
	struct sdx_inode *inode;
	uint32_t ino, gfree0;
	unsigned flags;
	struct ctx c;

	(void)state;
	tu_mkfs(img, 64u << 20);
	begin(&c, img);
	inode = new_file(&c);
	ino = inode->ino;
	free0 = sdx_fs_free_blocks(c.fs);
	gfree0 = group0_free_blocks(c.fs);
	for (uint64_t i = 0; i < 1000; i++) {
		assert_int_equal(sdx_block_alloc(c.h, inode, i ? prev + 1 : 0,
						 1, &first, &got), 0);
		assert_int_equal(got, 1);
		if (i == 0)
			first0 = first;
		else
			assert_int_equal(first, prev + 1);
		assert_int_equal(sdx_extent_insert(c.h, inode, i, first, 1,
						   false), 0);
		prev = first;
		if (i % 100 == 99)
			next_handle(&c);
	}
	/* one run of 100 more, in one call, right behind */
	assert_int_equal(sdx_block_alloc(c.h, inode, prev + 1, 100, &first,
					 &got), 0);
	assert_int_equal(first, prev + 1);
	assert_int_equal(got, 100);
	assert_int_equal(sdx_extent_insert(c.h, inode, 1000, first, 100,
					   false), 0);
	assert_int_equal(free0 - sdx_fs_free_blocks(c.fs), 1100);
	assert_int_equal(gfree0 - group0_free_blocks(c.fs), 1100);
	assert_int_equal(sdx_extent_map(inode, 0, &pblk, &len, &flags), 0);
	assert_int_equal(pblk, first0);
	assert_int_equal(len, 1100);
	assert_int_equal(sdx_inode_blocks512(inode), 1100 * 8);
	sdx_inode_set_size(inode, 1100ull * SDX_BLOCK_SIZE);
	assert_int_equal(sdx_inode_mark_dirty(c.h, inode), 0);
	sdx_iput(inode);
	end(&c);
	debugfs_link(img, ino, "seq");
	assert_true(tu_fsck_clean(img));
	unlink(img);
}

static void test_free_restores_counts_and_refuses_double_free(void **state)
{
	const char *img = tu_path("alloc-free.img");
	uint64_t free0, first, got;
	struct sdx_inode *inode;
	struct ctx c;

	(void)state;
	tu_mkfs(img, 32u << 20);
	begin(&c, img);
	inode = new_file(&c);
	free0 = sdx_fs_free_blocks(c.fs);
	assert_int_equal(sdx_block_alloc(c.h, inode, 0, 300, &first, &got), 0);
	assert_true(got >= 1 && got <= 300);
	assert_int_equal(sdx_fs_free_blocks(c.fs), free0 - got);
	assert_int_equal(sdx_block_free(c.h, c.fs, first, got), 0);
	assert_int_equal(sdx_fs_free_blocks(c.fs), free0);
	assert_int_equal(sdx_block_free(c.h, c.fs, first, 1), -EUCLEAN);
	assert_non_null(strstr(sdx_strerror_detail(), "already free"));
	assert_int_equal(sdx_block_free(c.h, c.fs, c.fs->blocks_count - 1, 2),
			 -EUCLEAN);
	assert_int_equal(sdx_block_free(c.h, c.fs, 0, 1), -EUCLEAN);
	assert_int_equal(sdx_fs_free_blocks(c.fs), free0);
	inode->raw.i_links_count = 0;
	sdx_iput(inode);	/* no links: deleted */
	end(&c);
	assert_true(tu_fsck_clean(img));
	unlink(img);
}

static void test_full_device_is_enospc_and_consistent(void **state)
{
	const char *img = tu_path("alloc-full.img");
	uint64_t lblk = 0, first, got;
	struct sdx_inode *inode;
	uint32_t ino;
	struct ctx c;
	int err;

	(void)state;
	tu_mkfs(img, 16u << 20);
	begin(&c, img);
	inode = new_file(&c);
	ino = inode->ino;
	for (int i = 0;; i++) {
		err = sdx_block_alloc(c.h, inode, 0, 64, &first, &got);
		if (err)
			break;
		err = sdx_extent_insert(c.h, inode, lblk, first, got, false);
		if (err) {
			assert_int_equal(sdx_block_free(c.h, c.fs, first, got),
					 0);
			break;
		}
		lblk += got;
		if (i % 20 == 19)
			next_handle(&c);
	}
	assert_int_equal(err, -ENOSPC);
	assert_true(sdx_fs_free_blocks(c.fs) <= 1);
	sdx_inode_set_size(inode, lblk * SDX_BLOCK_SIZE);
	assert_int_equal(sdx_inode_mark_dirty(c.h, inode), 0);
	sdx_iput(inode);
	end(&c);
	debugfs_link(img, ino, "full");
	assert_true(tu_fsck_clean(img));
	unlink(img);
}

static void test_full_inode_table_is_enospc_and_eviction_frees(void **state)
{
	const char *img = tu_path("alloc-inodes.img");
	struct sdx_inode **inodes;
	uint32_t free0, n = 0;
	struct ctx c;
	int err;

	(void)state;
	tu_mkfs(img, 8u << 20);
	begin(&c, img);
	free0 = sdx_super(c.fs, &err)->s_free_inodes_count;
	inodes = calloc(free0 + 1, sizeof(*inodes));
	assert_non_null(inodes);
	for (;;) {
		err = sdx_inode_alloc(c.h, c.root, S_IFREG | 0600, &inodes[n]);
		if (err)
			break;
		n++;
		if (n % 50 == 0)
			next_handle(&c);
	}
	assert_int_equal(err, -ENOSPC);
	assert_int_equal(n, free0);
	assert_int_equal(sdx_super(c.fs, &err)->s_free_inodes_count, 0);
	assert_int_equal(sdx_journal_stop(c.h), 0);
	/* no links: the last put deletes each */
	for (uint32_t i = 0; i < n; i++)
		sdx_iput(inodes[i]);
	assert_int_equal(sdx_super(c.fs, &err)->s_free_inodes_count, free0);
	assert_int_equal(sdx_fs_start(c.fs, 8, &c.h), 0);
	end(&c);
	free(inodes);
	assert_true(tu_fsck_clean(img));
	unlink(img);
}

static void test_uninit_groups_initialised_on_first_use(void **state)
{
	const char *img = tu_path("alloc-uninit.img");
	const struct ext4_group_desc *gd;
	struct sdx_inode *near, *inode;
	uint64_t first, got, start5;
	uint32_t ino, free5;
	struct ctx c;
	int err;

	(void)state;
	tu_mkfs(img, 1u << 30);
	begin(&c, img);
	assert_true(c.fs->groups_count >= 8);
	gd = sdx_group_desc(c.fs, 5, &err);
	assert_true(gd->bg_flags & EXT4_BG_BLOCK_UNINIT);
	assert_true(gd->bg_flags & EXT4_BG_INODE_UNINIT);
	free5 = sdx_gd_free_blocks(c.fs, gd);

	/* a file whose parent lives in group 5 gets an inode there */
	err = sdx_iget_raw(c.fs, 5 * c.fs->inodes_per_group + 9, &near);
	if (err)
		fail_msg("%s", sdx_strerror_detail());
	assert_int_equal(sdx_inode_alloc(c.h, near, S_IFREG | 0644, &inode),
			 0);
	assert_int_equal(sdx_inode_group(c.fs, inode->ino), 5);
	ino = inode->ino;
	inode->raw.i_links_count = 1;
	start5 = sdx_group_first_block(c.fs, 5);
	assert_int_equal(sdx_block_alloc(c.h, inode, start5 + 1000, 8, &first,
					 &got), 0);
	assert_int_equal(first, start5 + 1000);
	assert_int_equal(got, 8);
	assert_int_equal(sdx_extent_insert(c.h, inode, 0, first, got, false),
			 0);
	gd = sdx_group_desc(c.fs, 5, &err);
	assert_false(gd->bg_flags & EXT4_BG_BLOCK_UNINIT);
	assert_false(gd->bg_flags & EXT4_BG_INODE_UNINIT);
	assert_int_equal(sdx_gd_free_blocks(c.fs, gd), free5 - 8);
	assert_int_equal(sdx_gd_itable_unused(c.fs, gd),
			 c.fs->inodes_per_group - 1);
	sdx_inode_set_size(inode, 8 * SDX_BLOCK_SIZE);
	assert_int_equal(sdx_inode_mark_dirty(c.h, inode), 0);
	sdx_iput(inode);
	sdx_iput(near);
	end(&c);
	debugfs_link(img, ino, "uninit");
	assert_true(tu_fsck_clean(img));
	unlink(img);
}

/* Flip a bit of a bitmap on the media: allocation refuses, names it. */
static void corrupt_bitmap_refused(enum sdx_bitmap_kind kind,
				   const char *word)
{
	const char *img = tu_path("alloc-badmap.img");
	struct sdx_inode *inode;
	uint64_t block, first, got;
	struct ctx c;
	uint8_t byte;
	int fd, err;

	tu_mkfs(img, 32u << 20);
	begin(&c, img);
	block = kind == SDX_BLOCK_BITMAP ? c.fs->groups[0].block_bitmap :
					   c.fs->groups[0].inode_bitmap;
	end(&c);
	fd = open(img, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, (off_t)(block * SDX_BLOCK_SIZE +
						     100)), 1);
	byte ^= 0x10;
	assert_int_equal(pwrite(fd, &byte, 1, (off_t)(block * SDX_BLOCK_SIZE +
						      100)), 1);
	close(fd);
	begin(&c, img);
	if (kind == SDX_BLOCK_BITMAP)
		err = sdx_block_alloc(c.h, c.root, 0, 1, &first, &got);
	else
		err = sdx_inode_alloc(c.h, c.root, S_IFREG | 0644, &inode);
	assert_int_equal(err, -EUCLEAN);
	assert_non_null(strstr(sdx_strerror_detail(), word));
	end(&c);
	unlink(img);
}

static void test_corrupt_bitmaps_refused(void **state)
{
	(void)state;
	corrupt_bitmap_refused(SDX_BLOCK_BITMAP, "block bitmap checksum");
	corrupt_bitmap_refused(SDX_INODE_BITMAP, "inode bitmap checksum");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequential_allocation_is_contiguous),
		cmocka_unit_test(
			test_free_restores_counts_and_refuses_double_free),
		cmocka_unit_test(test_full_device_is_enospc_and_consistent),
		cmocka_unit_test(
			test_full_inode_table_is_enospc_and_eviction_frees),
		cmocka_unit_test(test_uninit_groups_initialised_on_first_use),
		cmocka_unit_test(test_corrupt_bitmaps_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
