/*
 * test_inode.c - inodes: fields round-trip through the media (size high
 * bits, nanosecond times, huge_file i_blocks), checksums and bad numbers
 * refused, deletion on the last reference (evict hook, xattr block).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "syncdax.h"
#include "fs/fs.h"
#include "testutil.h"

static char *img;

static int setup(void **state)
{
	(void)state;
	img = strdup(tu_path("inode.img"));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(img);
	free(img);
	return 0;
}

static struct sdx_fs *mount_locked(unsigned flags)
{
	struct sdx_fs *fs;

	assert_int_equal(sdx_fs_open(img, flags, &fs), 0);
	pthread_mutex_lock(&fs->lock);
	return fs;
}

static void unmount_locked(struct sdx_fs *fs)
{
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(sdx_fs_close(fs), 0);
}

static void test_root_inode_reads_as_directory(void **state)
{
	struct sdx_inode *root;
	struct sdx_fs *fs;
	struct stat st;

	(void)state;
	tu_mkfs(img, 32u << 20);
	fs = mount_locked(SDX_MOUNT_RDONLY);
	assert_int_equal(sdx_iget(fs, EXT4_ROOT_INO, &root), 0);
	sdx_inode_stat(root, &st);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_ino, EXT4_ROOT_INO);
	assert_int_equal(st.st_nlink, 3);	/* ., .., lost+found/.. */
	assert_int_equal(st.st_size, SDX_BLOCK_SIZE);
	assert_int_equal(st.st_blocks, 8);
	assert_int_equal(st.st_blksize, SDX_BLOCK_SIZE);
	assert_true(st.st_mtim.tv_sec > 1600000000);
	/* the same inode object while referenced */
	{
		struct sdx_inode *again;

		assert_int_equal(sdx_iget(fs, EXT4_ROOT_INO, &again), 0);
		assert_ptr_equal(again, root);
		assert_int_equal(root->refcount, 2);
		sdx_iput(again);
	}
	sdx_iput(root);
	unmount_locked(fs);
}

static uint32_t debugfs_ino(const char *name)
{
	char *out = tu_capture("debugfs -R 'stat %s' '%s' 2>/dev/null | sed -n "
			       "'s/^Inode: \\([0-9]*\\).*/\\1/p'", name, img);
	uint32_t ino = (uint32_t)atoi(out);

	free(out);
	return ino;
}

static void test_device_inodes_stat_their_numbers(void **state)
{
	struct sdx_inode *inode;
	struct sdx_fs *fs;
	struct stat st;

	(void)state;
	tu_mkfs(img, 32u << 20);
	assert_int_equal(tu_sh("debugfs -w -f - '%s' >/dev/null 2>&1 <<EOF\n"
			       "mknod tty c 5 1\nmknod big b 259 300\nEOF",
			       img), 0);
	fs = mount_locked(SDX_MOUNT_RDONLY);
	assert_int_equal(sdx_iget(fs, debugfs_ino("tty"), &inode), 0);
	sdx_inode_stat(inode, &st);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(5, 1));
	sdx_iput(inode);
	assert_int_equal(sdx_iget(fs, debugfs_ino("big"), &inode), 0);
	sdx_inode_stat(inode, &st);
	assert_true(S_ISBLK(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(259, 300));
	sdx_iput(inode);
	unmount_locked(fs);
}

static void test_bad_inode_numbers_refused(void **state)
{
	struct sdx_inode *inode;
	struct sdx_fs *fs;

	(void)state;
	tu_mkfs(img, 32u << 20);
	fs = mount_locked(SDX_MOUNT_RDONLY);
	assert_int_equal(sdx_iget(fs, 0, &inode), -EUCLEAN);
	assert_int_equal(sdx_iget(fs, fs->inodes_count + 1, &inode), -EUCLEAN);
	assert_non_null(strstr(sdx_strerror_detail(), "out of range"));
	assert_int_equal(sdx_iget(fs, 5, &inode), -EUCLEAN);
	assert_non_null(strstr(sdx_strerror_detail(), "reserved"));
	assert_int_equal(sdx_iget(fs, 100, &inode), -ENOENT);
	unmount_locked(fs);
}

static void test_fields_round_trip_through_the_media(void **state)
{
	const uint64_t size = (5ull << 30) + 123;
	struct sdx_inode *root, *inode;
	struct timespec mtime, crtime;
	struct sdx_handle *h;
	struct sdx_fs *fs;
	struct stat st;
	uint32_t ino;
	char *out;

	(void)state;
	tu_mkfs(img, 32u << 20);
	fs = mount_locked(0);
	assert_int_equal(sdx_iget(fs, EXT4_ROOT_INO, &root), 0);
	assert_int_equal(sdx_fs_start(fs, 16, &h), 0);
	assert_int_equal(sdx_inode_alloc(h, root, S_IFREG | 0640, &inode), 0);
	ino = inode->ino;
	assert_true(inode->raw.i_flags & EXT4_EXTENTS_FL);
	assert_int_equal(inode->raw.i_extra_isize, 32);
	inode->raw.i_links_count = 1;
	inode->raw.i_uid = 1234;
	inode->raw.l_i_uid_high = 7;
	sdx_inode_set_size(inode, size);
	sdx_inode_touch(inode, SDX_TIME_MTIME);
	mtime = sdx_inode_time(inode, SDX_TIME_MTIME);
	crtime = sdx_inode_time(inode, SDX_TIME_CRTIME);
	assert_int_equal(sdx_inode_mark_dirty(h, inode), 0);
	assert_int_equal(sdx_journal_stop(h), 0);
	sdx_iput(inode);
	sdx_iput(root);
	unmount_locked(fs);

	fs = mount_locked(SDX_MOUNT_RDONLY);
	assert_int_equal(sdx_iget(fs, ino, &inode), 0);
	sdx_inode_stat(inode, &st);
	assert_int_equal(st.st_size, size);
	assert_int_equal(st.st_mode, S_IFREG | 0640);
	assert_int_equal(st.st_uid, (7u << 16) | 1234);
	assert_int_equal(st.st_mtim.tv_sec, mtime.tv_sec);
	assert_int_equal(st.st_mtim.tv_nsec, mtime.tv_nsec);
	assert_int_equal(sdx_inode_time(inode, SDX_TIME_CRTIME).tv_nsec,
			 crtime.tv_nsec);
	sdx_iput(inode);
	unmount_locked(fs);

	out = tu_capture("debugfs -R 'stat <%u>' '%s' 2>/dev/null", ino, img);
	assert_non_null(strstr(out, "Size: 5368709243"));
	free(out);
	assert_int_equal(tu_sh("debugfs -w -R 'ln <%u> /f' '%s' >/dev/null "
			       "2>&1", ino, img), 0);
	assert_true(tu_fsck_clean(img));
}

static void test_i_blocks_switches_to_huge_file_units(void **state)
{
	struct sdx_inode *root, *inode;
	struct sdx_handle *h;
	struct sdx_fs *fs;

	(void)state;
	tu_mkfs(img, 32u << 20);
	fs = mount_locked(0);
	assert_int_equal(sdx_iget(fs, EXT4_ROOT_INO, &root), 0);
	assert_int_equal(sdx_fs_start(fs, 16, &h), 0);
	assert_int_equal(sdx_inode_alloc(h, root, S_IFREG | 0600, &inode), 0);
	sdx_inode_add_blocks(inode, 1ll << 33);	/* 2^36 sectors: 48 bits */
	assert_false(inode->raw.i_flags & EXT4_HUGE_FILE_FL);
	assert_int_equal(sdx_inode_blocks512(inode), 1ull << 36);
	sdx_inode_add_blocks(inode, 1ll << 46);	/* beyond 48 bits */
	assert_true(inode->raw.i_flags & EXT4_HUGE_FILE_FL);
	assert_int_equal(sdx_inode_blocks512(inode),
			 ((1ull << 33) + (1ull << 46)) * 8);
	sdx_inode_add_blocks(inode, -(1ll << 46) - (1ll << 33));
	assert_false(inode->raw.i_flags & EXT4_HUGE_FILE_FL);
	assert_int_equal(sdx_inode_blocks512(inode), 0);
	assert_int_equal(sdx_inode_mark_dirty(h, inode), 0);
	assert_int_equal(sdx_journal_stop(h), 0);
	sdx_iput(inode);	/* no links: deleted */
	sdx_iput(root);
	unmount_locked(fs);
	assert_true(tu_fsck_clean(img));
}

static void test_inode_checksum_and_extra_isize_checked(void **state)
{
	struct sdx_inode *inode;
	struct sdx_fs *fs;
	uint64_t table;
	uint16_t v;
	int fd;

	(void)state;
	tu_mkfs(img, 32u << 20);
	fs = mount_locked(SDX_MOUNT_RDONLY);
	table = fs->groups[0].inode_table;
	unmount_locked(fs);

	/* root is the second record of the table: flip its mtime */
	fd = open(img, O_RDWR);
	assert_true(fd >= 0);
	v = 0x5a5a;
	assert_int_equal(pwrite(fd, &v, 2, (off_t)(table * SDX_BLOCK_SIZE +
					       256 + 0x10)), 2);
	fs = mount_locked(SDX_MOUNT_RDONLY);
	assert_int_equal(sdx_iget(fs, EXT4_ROOT_INO, &inode), -EUCLEAN);
	assert_non_null(strstr(sdx_strerror_detail(), "inode 2: checksum"));
	unmount_locked(fs);

	v = 6;	/* i_extra_isize not a multiple of 4 */
	assert_int_equal(pwrite(fd, &v, 2, (off_t)(table * SDX_BLOCK_SIZE +
					       256 + 0x80)), 2);
	close(fd);
	fs = mount_locked(SDX_MOUNT_RDONLY);
	assert_int_equal(sdx_iget(fs, EXT4_ROOT_INO, &inode), -EUCLEAN);
	assert_non_null(strstr(sdx_strerror_detail(), "i_extra_isize"));
	unmount_locked(fs);
}

/* A free number held by a raw (fsck-style) read is not handed out. */
static void test_raw_read_free_inode_is_not_allocated(void **state)
{
	struct sdx_inode *root, *raw, *inode;
	struct sdx_handle *h;
	struct sdx_fs *fs;

	(void)state;
	tu_mkfs(img, 32u << 20);
	fs = mount_locked(0);
	assert_int_equal(sdx_iget(fs, EXT4_ROOT_INO, &root), 0);
	assert_int_equal(sdx_iget(fs, fs->first_ino + 1, &raw), -ENOENT);
	assert_int_equal(sdx_iget_raw(fs, fs->first_ino + 1, &raw), 0);
	assert_int_equal(sdx_fs_start(fs, 16, &h), 0);
	assert_int_equal(sdx_inode_alloc(h, root, S_IFREG | 0600, &inode), 0);
	assert_int_equal(inode->ino, fs->first_ino + 2);
	assert_int_equal(sdx_journal_stop(h), 0);
	sdx_iput(raw);
	sdx_iput(inode);	/* no links: deleted */
	sdx_iput(root);
	unmount_locked(fs);
	assert_true(tu_fsck_clean(img));
}

static unsigned evicted;

static int count_evict(struct sdx_handle *h, struct sdx_inode *inode)
{
	(void)h;
	(void)inode;
	evicted++;
	return 0;
}

static void test_last_put_deletes_unlinked_inode_and_xattr_block(void **s)
{
	struct sdx_inode *inode;
	struct sdx_fs *fs;
	uint64_t free0;
	uint32_t ino;
	char *out;

	(void)s;
	tu_mkfs(img, 32u << 20);
	/* a file with data and an extended attribute block, then unlinked */
	assert_int_equal(tu_sh("head -c 20000 /dev/urandom > '%s.data' && "
			       "head -c 2000 /dev/zero | tr '\\0' x > "
			       "'%s.ea' && debugfs -w -f - '%s' >/dev/null "
			       "2>&1 <<EOF\nwrite %s.data f\n"
			       "ea_set -f %s.ea f user.big\nEOF", img, img,
			       img, img, img), 0);
	out = tu_capture("debugfs -R 'stat f' '%s' 2>/dev/null | sed -n "
			 "'s/.*File ACL: \\([0-9]*\\).*/\\1/p'", img);
	assert_true(atoi(out) > 0);
	free(out);
	ino = debugfs_ino("f");
	assert_int_equal(tu_sh("debugfs -w -R 'unlink f' '%s' >/dev/null 2>&1",
			       img), 0);
	assert_int_equal(tu_sh("rm -f '%s.data' '%s.ea'", img, img), 0);

	fs = mount_locked(0);
	fs->evict = count_evict;
	evicted = 0;
	free0 = sdx_fs_free_blocks(fs);
	assert_int_equal(sdx_iget(fs, ino, &inode), 0);
	assert_true(sdx_inode_bitmap_test(fs, ino));
	inode->raw.i_links_count = 0;	/* what the unlink would have done */
	sdx_iput(inode);
	assert_int_equal(evicted, 1);
	assert_false(sdx_inode_bitmap_test(fs, ino));
	assert_int_equal(sdx_fs_free_blocks(fs), free0 + 5 + 1);
	unmount_locked(fs);
	assert_true(tu_fsck_clean(img));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_inode_reads_as_directory),
		cmocka_unit_test(test_bad_inode_numbers_refused),
		cmocka_unit_test(test_device_inodes_stat_their_numbers),
		cmocka_unit_test(test_fields_round_trip_through_the_media),
		cmocka_unit_test(test_i_blocks_switches_to_huge_file_units),
		cmocka_unit_test(test_inode_checksum_and_extra_isize_checked),
		cmocka_unit_test(test_raw_read_free_inode_is_not_allocated),
		cmocka_unit_test(
			test_last_put_deletes_unlinked_inode_and_xattr_block),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
