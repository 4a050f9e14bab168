/*
 * test_dir.c - directories: readdir with "." and ".." and file types,
 * every rename case (over a file, over an empty and a full directory,
 * across parents with ".." and link counts, into itself, onto itself),
 * rmdir and unlink errors, space of removed entries reused, and e2fsck -fn
 * clean after each test (link counts, entries, checksums).
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
#include <unistd.h>

#include "syncdax.h"
#include "testutil.h"

static const char *dev;
static struct sdx_fs *fs;

static int setup_fs(void **state)
{
	(void)state;
	dev = tu_path("dir.img");
	tu_mkfs(dev, 32u << 20);
	fs = sdx_mount(dev, 0);
	assert_non_null(fs);
	return 0;
}

static int teardown_fs(void **state)
{
	(void)state;
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	unlink(dev);
	return 0;
}

static void create(const char *path, const char *content)
{
	int fd = sdx_open(fs, path, O_CREAT | O_EXCL | O_WRONLY, 0644);

	if (fd < 0)
		fail_msg("create %s: %s", path, sdx_strerror_detail());
	assert_int_equal(sdx_pwrite(fs, fd, content, strlen(content), 0),
			 (ssize_t)strlen(content));
	assert_int_equal(sdx_close(fs, fd), 0);
}

static struct stat stat_of(const char *path)
{
	struct stat st;

	if (sdx_stat(fs, path, &st) != 0)
		fail_msg("stat %s: %s", path, sdx_strerror_detail());
	return st;
}

static void expect_fail(int r, int err)
{
	assert_int_equal(r, -1);
	if (errno != err)
		fail_msg("errno %d (%s), expected %d", errno,
			 sdx_strerror_detail(), err);
}

static void test_readdir_lists_dot_dotdot_and_types(void **state)
{
	struct sdx_dir *d;
	struct dirent *de;
	unsigned seen = 0;

	(void)state;
	assert_int_equal(sdx_mkdir(fs, "/r", 0755), 0);
	assert_int_equal(sdx_mkdir(fs, "/r/sub", 0755), 0);
	create("/r/file", "x");
	assert_int_equal(sdx_symlink(fs, "file", "/r/link"), 0);
	d = sdx_opendir(fs, "/r");
	assert_non_null(d);
	while ((de = sdx_readdir(d)) != NULL) {
		static const struct { const char *name; unsigned char type; }
		want[] = { { ".", DT_DIR }, { "..", DT_DIR },
			   { "sub", DT_DIR }, { "file", DT_REG },
			   { "link", DT_LNK } };

		for (unsigned i = 0; i < 5; i++)
			if (!strcmp(de->d_name, want[i].name)) {
				assert_int_equal(de->d_type, want[i].type);
				seen |= 1u << i;
			}
	}
	assert_int_equal(seen, 0x1F);
	assert_int_equal(sdx_closedir(d), 0);
	assert_int_equal(stat_of("/r").st_nlink, 3);
	assert_null(sdx_opendir(fs, "/r/file"));
	assert_int_equal(errno, ENOTDIR);
}

static void test_rename_over_files_and_directories(void **state)
{
	char buf[16];
	ino_t src;
	int fd;

	(void)state;
	assert_int_equal(sdx_mkdir(fs, "/m", 0755), 0);
	create("/m/a", "AAAA");
	create("/m/b", "BB");
	src = stat_of("/m/a").st_ino;
	assert_int_equal(sdx_rename(fs, "/m/a", "/m/b"), 0);
	assert_int_equal(stat_of("/m/b").st_ino, src);
	fd = sdx_open(fs, "/m/b", O_RDONLY, 0);
	assert_int_equal(sdx_pread(fs, fd, buf, sizeof(buf), 0), 4);
	assert_int_equal(sdx_close(fs, fd), 0);
	expect_fail(sdx_stat(fs, "/m/a", &(struct stat){ 0 }), ENOENT);
	assert_int_equal(sdx_rename(fs, "/m/b", "/m/b"), 0);

	assert_int_equal(sdx_mkdir(fs, "/m/d1", 0755), 0);
	assert_int_equal(sdx_mkdir(fs, "/m/d2", 0755), 0);
	assert_int_equal(sdx_mkdir(fs, "/m/full", 0755), 0);
	create("/m/full/x", "");
	expect_fail(sdx_rename(fs, "/m/b", "/m/d1"), EISDIR);
	expect_fail(sdx_rename(fs, "/m/d1", "/m/b"), ENOTDIR);
	expect_fail(sdx_rename(fs, "/m/d1", "/m/full"), ENOTEMPTY);
	expect_fail(sdx_rename(fs, "/m", "/m/d1/inside"), EINVAL);
	expect_fail(sdx_rename(fs, "/m/missing", "/m/z"), ENOENT);
	assert_int_equal(stat_of("/m").st_nlink, 5);
	assert_int_equal(sdx_rename(fs, "/m/d1", "/m/d2"), 0);	/* empty */
	assert_int_equal(stat_of("/m").st_nlink, 4);

	/* across parents: ".." and both link counts follow */
	assert_int_equal(sdx_mkdir(fs, "/n", 0755), 0);
	assert_int_equal(sdx_rename(fs, "/m/full", "/n/moved"), 0);
	assert_int_equal(stat_of("/n/moved/..").st_ino, stat_of("/n").st_ino);
	assert_int_equal(stat_of("/m").st_nlink, 3);
	assert_int_equal(stat_of("/n").st_nlink, 3);
	assert_int_equal(stat_of("/n/moved/x").st_size, 0);
	assert_int_equal(sdx_rename(fs, "/m/b", "/n/moved/b2"), 0);
	assert_int_equal(stat_of("/n/moved/b2").st_ino, src);
}

static void test_rmdir_and_unlink_refuse_what_posix_refuses(void **state)
{
	(void)state;
	assert_int_equal(sdx_mkdir(fs, "/q", 0755), 0);
	create("/q/f", "");
	expect_fail(sdx_rmdir(fs, "/q"), ENOTEMPTY);
	expect_fail(sdx_unlink(fs, "/q"), EISDIR);
	expect_fail(sdx_rmdir(fs, "/q/f"), ENOTDIR);
	expect_fail(sdx_rmdir(fs, "/"), EBUSY);
	expect_fail(sdx_rmdir(fs, "/q/."), EINVAL);
	expect_fail(sdx_mkdir(fs, "/q", 0755), EEXIST);
	expect_fail(sdx_unlink(fs, "/q/f/"), ENOTDIR);
	assert_int_equal(sdx_unlink(fs, "/q/f"), 0);
	assert_int_equal(sdx_rmdir(fs, "/q"), 0);
	expect_fail(sdx_stat(fs, "/q", &(struct stat){ 0 }), ENOENT);
	assert_int_equal(stat_of("/").st_nlink, 3);	/* ., .., lost+found */
}

static void test_removed_entries_leave_space_for_new_ones(void **state)
{
	char name[64];
	off_t size;
	struct sdx_dir *d;
	unsigned n = 0;

	(void)state;
	assert_int_equal(sdx_mkdir(fs, "/s", 0755), 0);
	for (unsigned i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "/s/entry-%05u", i);
		create(name, "");
	}
	size = stat_of("/s").st_size;
	for (unsigned i = 0; i < 3000; i += 2) {
		snprintf(name, sizeof(name), "/s/entry-%05u", i);
		assert_int_equal(sdx_unlink(fs, name), 0);
	}
	/* the same names hash to the leaves they left: no block is added */
	for (unsigned i = 0; i < 3000; i += 2) {
		snprintf(name, sizeof(name), "/s/entry-%05u", i);
		create(name, "");
	}
	assert_int_equal(stat_of("/s").st_size, size);
	d = sdx_opendir(fs, "/s");
	while (sdx_readdir(d))
		n++;
	assert_int_equal(sdx_closedir(d), 0);
	assert_int_equal(n, 3002);
}

/* The blocks of a removed directory (journaled metadata) may become file
 * data; no later checkpoint of the journal may write over that data. */
static void test_removed_directory_blocks_reused_as_data_stay_data(
	void **state)
{
	static uint8_t chunk[65536], back[65536];
	char name[64];
	off_t off = 0;
	ssize_t r;
	int fd;

	(void)state;
	assert_int_equal(sdx_mkdir(fs, "/x", 0755), 0);
	for (unsigned i = 0; i < 600; i++) {
		snprintf(name, sizeof(name), "/x/a-fairly-long-entry-name-%u", i);
		create(name, "");
	}
	fd = sdx_open(fs, "/x", O_RDONLY, 0);
	assert_int_equal(sdx_fsync(fs, fd), 0);	/* dir blocks committed */
	assert_int_equal(sdx_close(fs, fd), 0);
	for (unsigned i = 0; i < 600; i++) {
		snprintf(name, sizeof(name), "/x/a-fairly-long-entry-name-%u", i);
		assert_int_equal(sdx_unlink(fs, name), 0);
	}
	assert_int_equal(sdx_rmdir(fs, "/x"), 0);
	fd = sdx_open(fs, "/", O_RDONLY, 0);
	assert_int_equal(sdx_fsync(fs, fd), 0);	/* frees committed */
	assert_int_equal(sdx_close(fs, fd), 0);
	memset(chunk, 0xEE, sizeof(chunk));
	fd = sdx_open(fs, "/data", O_CREAT | O_RDWR, 0644);
	while ((r = sdx_pwrite(fs, fd, chunk, sizeof(chunk), off)) > 0)
		off += r;	/* every free block, the directory's too */
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);	/* checkpoints everything */
	fs = sdx_mount(dev, 0);
	assert_non_null(fs);
	fd = sdx_open(fs, "/data", O_RDONLY, 0);
	for (off_t pos = 0; pos < off; pos += (off_t)sizeof(back)) {
		r = sdx_pread(fs, fd, back, sizeof(back), pos);
		assert_true(r > 0);
		for (ssize_t i = 0; i < r; i++)
			if (back[i] != 0xEE)
				fail_msg("byte %lld is 0x%02x, expected 0xee",
					 (long long)(pos + i), back[i]);
	}
	assert_int_equal(sdx_close(fs, fd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_readdir_lists_dot_dotdot_and_types, setup_fs,
			teardown_fs),
		cmocka_unit_test_setup_teardown(
			test_rename_over_files_and_directories, setup_fs,
			teardown_fs),
		cmocka_unit_test_setup_teardown(
			test_rmdir_and_unlink_refuse_what_posix_refuses,
			setup_fs, teardown_fs),
		cmocka_unit_test_setup_teardown(
			test_removed_entries_leave_space_for_new_ones,
			setup_fs, teardown_fs),
		cmocka_unit_test_setup_teardown(
			test_removed_directory_blocks_reused_as_data_stay_data,
			setup_fs, teardown_fs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
