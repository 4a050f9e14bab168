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
#include <sys/wait.h>
#include <unistd.h>

#include "syncdax.h"
#include "pmem/pmem.h"
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

#define BIG (2 << 20)

/* dir_nlink: past EXT4_LINK_MAX subdirectories a directory counts 1 link
 * (and keeps 1 as they go), as ext4 does; e2fsck agrees. */
static void test_subdirectories_past_link_max_count_one_link(void **state)
{
	char name[64];
	unsigned i;

	(void)state;
	assert_int_equal(sdx_unmount(fs), 0);
	tu_mkfs(dev, 1u << 30);		/* 65536 inodes */
	fs = sdx_mount(dev, 0);
	assert_non_null(fs);
	assert_int_equal(sdx_mkdir(fs, "/p", 0755), 0);
	for (i = 0; i < 65010; i++) {
		snprintf(name, sizeof(name), "/p/d%u", i);
		if (sdx_mkdir(fs, name, 0755) != 0)
			fail_msg("mkdir %s: %s", name, sdx_strerror_detail());
		if (i == 64000)
			assert_int_equal(stat_of("/p").st_nlink, 64003);
	}
	assert_int_equal(stat_of("/p").st_nlink, 1);
	assert_int_equal(sdx_rmdir(fs, "/p/d7"), 0);
	assert_int_equal(stat_of("/p").st_nlink, 1);
}

/*
 * In a child: namespace changes and a truncate (through the orphan list),
 * each made durable by an fsync, crashing
 * at drain @at (0: never).  Exits 0 when the workload ran to the end.
 */
static void crash_workload(const char *img, const char *media, uint64_t at)
{
	struct sdx_crash_config cfg = { img, media, at, SDX_CRASH_STRICT, at };
	struct sdx_fs *cfs;
	int root, fd, open_u;

	if (at && sdx_crashsim_arm(&cfg))
		_exit(1);
	cfs = sdx_mount(img, 0);
	root = cfs ? sdx_open(cfs, "/", O_RDONLY, 0) : -1;
	open_u = cfs ? sdx_open(cfs, "/u", O_RDONLY, 0) : -1;
	if (root < 0 || open_u < 0)
		_exit(2);
	if (sdx_rename(cfs, "/a", "/b") || sdx_fsync(cfs, root) ||
	    sdx_unlink(cfs, "/u") || sdx_fsync(cfs, open_u) ||
	    sdx_mkdir(cfs, "/n", 0755) || sdx_fsync(cfs, root) ||
	    sdx_unlink(cfs, "/d/f") || sdx_rmdir(cfs, "/d") ||
	    sdx_fsync(cfs, root))
		_exit(3);
	fd = sdx_open(cfs, "/c", O_CREAT | O_WRONLY, 0644);
	if (fd < 0 || sdx_pwrite(cfs, fd, "C", 1, 0) != 1 ||
	    sdx_fsync(cfs, fd) || sdx_close(cfs, fd) || sdx_close(cfs, open_u))
		_exit(4);
	fd = sdx_open(cfs, "/big", O_WRONLY, 0);	/* orphan while it shrinks */
	if (fd < 0 || sdx_ftruncate(cfs, fd, 4096) || sdx_fsync(cfs, fd) ||
	    sdx_close(cfs, fd))
		_exit(6);
	_exit(sdx_unmount(cfs) ? 5 : 0);
}

/* Content of @path (up to 8 bytes) or "-" when absent. */
static const char *content(struct sdx_fs *cfs, const char *path, char *buf)
{
	int fd = sdx_open(cfs, path, O_RDONLY, 0);
	ssize_t r;

	if (fd < 0) {
		assert_int_equal(errno, ENOENT);
		return "-";
	}
	r = sdx_pread(cfs, fd, buf, 8, 0);
	assert_true(r >= 0);
	buf[r] = '\0';
	assert_int_equal(sdx_close(cfs, fd), 0);
	return buf;
}

/* After a crash: the durable operations are a prefix, each whole. */
static void check_prefix(const char *media, uint64_t at)
{
	struct sdx_fs *cfs = sdx_mount(media, 0);	/* replays, orphans */
	char a[16], b[16], c[16], u[16];
	struct stat st;
	bool renamed, unlinked, made, removed, created;

	if (!cfs)
		fail_msg("crash at drain %llu: mount: %s",
			 (unsigned long long)at, sdx_strerror_detail());
	renamed = strcmp(content(cfs, "/a", a), "-") == 0;
	assert_string_equal(content(cfs, "/b", b), renamed ? "A" : "B");
	if (!renamed)
		assert_string_equal(a, "A");
	unlinked = strcmp(content(cfs, "/u", u), "-") == 0;
	made = sdx_stat(cfs, "/n", &st) == 0;
	removed = sdx_stat(cfs, "/d", &st) != 0;
	created = strcmp(content(cfs, "/c", c), "-") != 0;
	assert_int_equal(sdx_stat(cfs, "/big", &st), 0);
	if (st.st_size != 4096 && st.st_size != BIG)
		fail_msg("crash at drain %llu: /big has %lld bytes",
			 (unsigned long long)at, (long long)st.st_size);
	if (st.st_size == 4096 && !created)
		fail_msg("crash at drain %llu: truncate before create",
			 (unsigned long long)at);
	if (!removed)
		assert_int_equal(sdx_stat(cfs, "/d/f", &st) == 0 ||
				 errno == ENOENT, 1);
	if ((unlinked && !renamed) || (made && !unlinked) ||
	    (removed && !made) || (created && !removed) ||
	    (created && strcmp(c, "C") && strcmp(c, "")))
		fail_msg("crash at drain %llu: not a prefix: renamed %d "
			 "unlinked %d made %d removed %d created %d (%s)",
			 (unsigned long long)at, renamed, unlinked, made,
			 removed, created, c);
	assert_int_equal(sdx_unmount(cfs), 0);
	if (!tu_fsck_clean(media))
		fail_msg("crash at drain %llu: e2fsck -fn not clean",
			 (unsigned long long)at);
}

static void test_crash_at_every_drain_keeps_changes_whole_and_ordered(
	void **state)
{
	char *base = strdup(tu_path("dir-crash.base"));
	char *img = strdup(tu_path("dir-crash.img"));
	char *media = strdup(tu_path("dir-crash.media"));
	uint64_t at;
	int fd;

	(void)state;
	create("/a", "A");
	create("/b", "B");
	create("/u", "U");
	assert_int_equal(sdx_mkdir(fs, "/d", 0755), 0);
	create("/d/f", "F");
	fd = sdx_open(fs, "/big", O_CREAT | O_WRONLY, 0644);
	assert_int_equal(sdx_ftruncate(fs, fd, BIG), 0);
	for (off_t off = 0; off < BIG; off += 65536)	/* 32 extents */
		assert_int_equal(sdx_pwrite(fs, fd, "x", 1, off), 1);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_int_equal(tu_sh("cp %s %s", dev, base), 0);
	for (at = 1;; at++) {
		pid_t pid;
		int status;

		assert_int_equal(tu_sh("cp %s %s", base, img), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			crash_workload(img, media, at);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) == 0)
			break;
		if (WEXITSTATUS(status) != SDX_CRASH_EXIT)
			fail_msg("workload failed with status %d at drain %llu",
				 WEXITSTATUS(status), (unsigned long long)at);
		check_prefix(media, at);
	}
	printf("# %llu crash points checked\n", (unsigned long long)at - 1);
	assert_true(at > 10);
	fs = sdx_mount(dev, 0);	/* for teardown */
	fd = sdx_open(fs, "/a", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	unlink(base);
	unlink(img);
	unlink(media);
	free(base);
	free(img);
	free(media);
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
		cmocka_unit_test_setup_teardown(
			test_crash_at_every_drain_keeps_changes_whole_and_ordered,
			setup_fs, teardown_fs),
		cmocka_unit_test_setup_teardown(
			test_subdirectories_past_link_max_count_one_link,
			setup_fs, teardown_fs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
