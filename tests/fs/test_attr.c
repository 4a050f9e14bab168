/*
 * test_attr.c - chmod, fchmod, chown, lchown, utimens and link: each
 * change read back with sdx_stat and, after an unmount, with
 * `debugfs -R stat` (mode, 32-bit uid/gid through their high halves,
 * times with nanoseconds and epoch bits in the extra fields, link
 * counts); ctime as Linux moves it; the errors (EPERM for immutable and
 * append-only inodes and for directory links, EEXIST, EMLINK at 65000
 * links, EINVAL, EROFS); e2fsck -fn clean after every test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "syncdax.h"
#include "testutil.h"

static const char *dev;
static struct sdx_fs *fs;

static int setup(void **state)
{
	(void)state;
	dev = tu_path("attr.img");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(dev);
	return 0;
}

/* Each test mounts a fresh image and leaves it e2fsck-clean. */
static int mount_fresh(void **state)
{
	(void)state;
	tu_mkfs(dev, 16u << 20);
	fs = tu_mount(dev, 0);
	return 0;
}

static int unmount_check(void **state)
{
	(void)state;
	assert_int_equal(sdx_unmount(fs), 0);
	fs = NULL;
	assert_true(tu_fsck_clean(dev));
	return 0;
}

static void make_file(const char *path, mode_t mode)
{
	int fd = sdx_open(fs, path, O_CREAT | O_EXCL | O_WRONLY, mode);

	if (fd < 0)
		fail_msg("create %s: %s", path, sdx_strerror_detail());
	assert_int_equal(sdx_pwrite(fs, fd, "data", 4, 0), 4);
	assert_int_equal(sdx_close(fs, fd), 0);
}

static struct stat stat_of(const char *path, bool follow)
{
	struct stat st;
	int r = follow ? sdx_stat(fs, path, &st) : sdx_lstat(fs, path, &st);

	if (r != 0)
		fail_msg("stat %s: %s", path, sdx_strerror_detail());
	return st;
}

/* `debugfs -R "stat PATH"` of the unmounted image; mounted again after. */
static char *debugfs_stat(const char *path)
{
	char *out;

	assert_int_equal(sdx_unmount(fs), 0);
	out = tu_capture("debugfs -R 'stat %s' '%s' 2>/dev/null", path, dev);
	fs = tu_mount(dev, 0);
	return out;
}

static void expect_in(const char *out, const char *want)
{
	if (!strstr(out, want))
		fail_msg("expected '%s' in debugfs stat:\n%s", want, out);
}

static bool ts_before_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec < b.tv_sec ||
	       (a.tv_sec == b.tv_sec && a.tv_nsec <= b.tv_nsec);
}

static struct timespec now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static void expect_errno(int r, int err)
{
	if (r != -1 || errno != err)
		fail_msg("expected -1/%s, got %d/%s (%s)", strerror(err), r,
			 strerror(errno), sdx_strerror_detail());
}

static void test_chmod_sets_permission_bits_and_ctime(void **state)
{
	struct timespec before;
	struct stat st;
	char *out;
	int fd;

	(void)state;
	make_file("/f", 0644);
	assert_int_equal(sdx_symlink(fs, "f", "/lnk"), 0);
	before = now();
	/* the type bits of the argument are ignored; suid/sgid/sticky kept */
	assert_int_equal(sdx_chmod(fs, "/lnk", S_IFDIR | 07751), 0);
	st = stat_of("/f", true);
	assert_int_equal(st.st_mode, S_IFREG | 07751);
	assert_true(ts_before_eq(before, st.st_ctim));
	assert_int_equal(stat_of("/lnk", false).st_mode, S_IFLNK | 0777);
	out = debugfs_stat("/f");
	expect_in(out, "Type: regular    Mode:  07751");
	free(out);

	fd = sdx_open(fs, "/f", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(sdx_fchmod(fs, fd, 0600), 0);
	assert_int_equal(sdx_fstat(fs, fd, &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0600);
	assert_int_equal(sdx_close(fs, fd), 0);
	expect_errno(sdx_fchmod(fs, fd, 0600), EBADF);
	expect_errno(sdx_chmod(fs, "/missing", 0600), ENOENT);
	out = debugfs_stat("/f");
	expect_in(out, "Mode:  0600");
	free(out);
}

static void test_chown_sets_32bit_ids_and_keeps_minus_one(void **state)
{
	struct stat st;
	char *out;

	(void)state;
	make_file("/f", 06755);
	assert_int_equal(sdx_chown(fs, "/f", 100000, 200000), 0);
	st = stat_of("/f", true);
	assert_int_equal(st.st_uid, 100000);
	assert_int_equal(st.st_gid, 200000);
	/* chown drops set-user-ID, and set-group-ID with group-execute */
	assert_int_equal(st.st_mode, S_IFREG | 0755);
	assert_int_equal(sdx_chown(fs, "/f", (uid_t)-1, 70000), 0);
	st = stat_of("/f", true);
	assert_int_equal(st.st_uid, 100000);
	assert_int_equal(st.st_gid, 70000);
	assert_int_equal(sdx_chown(fs, "/f", 65537, (gid_t)-1), 0);
	st = stat_of("/f", true);
	assert_int_equal(st.st_uid, 65537);
	assert_int_equal(st.st_gid, 70000);
	out = debugfs_stat("/f");
	expect_in(out, "User: 65537   Group: 70000");
	free(out);

	/* a directory keeps its set-group-ID bit */
	assert_int_equal(sdx_mkdir(fs, "/d", 02775), 0);
	assert_int_equal(sdx_chown(fs, "/d", 5, 6), 0);
	assert_int_equal(stat_of("/d", true).st_mode, S_IFDIR | 02775);
}

static void test_lchown_changes_the_link_chown_its_target(void **state)
{
	char *out;

	(void)state;
	make_file("/f", 0644);
	assert_int_equal(sdx_symlink(fs, "f", "/lnk"), 0);
	assert_int_equal(sdx_lchown(fs, "/lnk", 1000, 1001), 0);
	assert_int_equal(stat_of("/lnk", false).st_uid, 1000);
	assert_int_equal(stat_of("/f", true).st_uid, geteuid());
	assert_int_equal(sdx_chown(fs, "/lnk", 2000, 2001), 0);
	assert_int_equal(stat_of("/f", true).st_uid, 2000);
	assert_int_equal(stat_of("/f", true).st_gid, 2001);
	assert_int_equal(stat_of("/lnk", false).st_gid, 1001);
	out = debugfs_stat("/lnk");
	expect_in(out, "Type: symlink");
	expect_in(out, "User:  1000   Group:  1001");
	free(out);
}

/* The extra field debugfs prints for @ts: nanoseconds, epoch bits. */
static unsigned extra_of(struct timespec ts)
{
	int64_t epoch = (ts.tv_sec - (int32_t)ts.tv_sec) >> 32;

	return (unsigned)ts.tv_nsec << 2 | ((unsigned)epoch & 3);
}

static void test_utimens_sets_nanoseconds_and_epoch_bits(void **state)
{
	/* mtime past 2038: needs the epoch bits of the extra field */
	const struct timespec t[2] = { { 1000000000, 123456789 },
				       { (1LL << 32) + 5, 999999999 } };
	struct timespec before;
	struct stat st;
	char want[64];
	char *out;

	(void)state;
	make_file("/f", 0644);
	before = now();
	assert_int_equal(sdx_utimens(fs, "/f", t), 0);
	st = stat_of("/f", true);
	assert_int_equal(st.st_atim.tv_sec, t[0].tv_sec);
	assert_int_equal(st.st_atim.tv_nsec, t[0].tv_nsec);
	assert_int_equal(st.st_mtim.tv_sec, t[1].tv_sec);
	assert_int_equal(st.st_mtim.tv_nsec, t[1].tv_nsec);
	assert_true(ts_before_eq(before, st.st_ctim));
	out = debugfs_stat("/f");
	snprintf(want, sizeof(want), "atime: 0x%08x:%08x",
		 (unsigned)t[0].tv_sec, extra_of(t[0]));
	expect_in(out, want);
	snprintf(want, sizeof(want), "mtime: 0x%08x:%08x",
		 (unsigned)t[1].tv_sec, extra_of(t[1]));
	expect_in(out, want);
	free(out);
	st = stat_of("/f", true);	/* also after the remount */
	assert_int_equal(st.st_mtim.tv_sec, t[1].tv_sec);
	assert_int_equal(st.st_mtim.tv_nsec, t[1].tv_nsec);
}

static void test_utimens_now_and_omit_as_utimensat(void **state)
{
	const struct timespec set[2] = { { 1000, 1 }, { 2000, 2 } };
	const struct timespec omit_now[2] = { { 0, UTIME_OMIT },
					      { 0, UTIME_NOW } };
	const struct timespec omit[2] = { { 0, UTIME_OMIT },
					  { 0, UTIME_OMIT } };
	const struct timespec bad[2] = { { 0, 1000000000 }, { 0, 0 } };
	struct timespec before;
	struct stat st, st2;

	(void)state;
	make_file("/f", 0644);
	assert_int_equal(sdx_utimens(fs, "/f", set), 0);
	before = now();
	assert_int_equal(sdx_utimens(fs, "/f", omit_now), 0);
	st = stat_of("/f", true);
	assert_int_equal(st.st_atim.tv_sec, 1000);
	assert_int_equal(st.st_atim.tv_nsec, 1);
	assert_true(ts_before_eq(before, st.st_mtim));

	assert_int_equal(sdx_utimens(fs, "/f", set), 0);
	before = now();
	assert_int_equal(sdx_utimens(fs, "/f", NULL), 0);
	st = stat_of("/f", true);
	assert_true(ts_before_eq(before, st.st_atim));
	assert_true(ts_before_eq(before, st.st_mtim));
	assert_true(ts_before_eq(before, st.st_ctim));

	/* both omitted: nothing changes, not even ctime */
	assert_int_equal(sdx_utimens(fs, "/f", omit), 0);
	st2 = stat_of("/f", true);
	assert_memory_equal(&st.st_ctim, &st2.st_ctim, sizeof(st.st_ctim));
	expect_errno(sdx_utimens(fs, "/f", bad), EINVAL);
	expect_errno(sdx_utimens(fs, "/missing", NULL), ENOENT);
}

static void test_link_counts_follow_link_and_unlink(void **state)
{
	struct stat a, b;
	char buf[8] = { 0 };
	char *out;
	int fd;

	(void)state;
	make_file("/f", 0644);
	assert_int_equal(sdx_mkdir(fs, "/d", 0755), 0);
	assert_int_equal(sdx_link(fs, "/f", "/d/g"), 0);
	assert_int_equal(sdx_link(fs, "/d/g", "/h"), 0);
	a = stat_of("/f", true);
	b = stat_of("/d/g", true);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_nlink, 3);
	out = debugfs_stat("/h");
	expect_in(out, "Links: 3");
	free(out);

	assert_int_equal(sdx_unlink(fs, "/f"), 0);
	assert_int_equal(sdx_unlink(fs, "/h"), 0);
	assert_int_equal(stat_of("/d/g", true).st_nlink, 1);
	fd = sdx_open(fs, "/d/g", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(sdx_pread(fs, fd, buf, 4, 0), 4);
	assert_string_equal(buf, "data");
	assert_int_equal(sdx_close(fs, fd), 0);
	out = debugfs_stat("/d/g");
	expect_in(out, "Links: 1");
	free(out);

	/* a hard link to a symlink is to the link itself */
	assert_int_equal(sdx_symlink(fs, "d/g", "/lnk"), 0);
	assert_int_equal(sdx_link(fs, "/lnk", "/lnk2"), 0);
	assert_int_equal(stat_of("/lnk2", false).st_mode, S_IFLNK | 0777);
	assert_int_equal(stat_of("/lnk", false).st_nlink, 2);
}

static void test_link_errors(void **state)
{
	(void)state;
	make_file("/f", 0644);
	assert_int_equal(sdx_mkdir(fs, "/d", 0755), 0);
	expect_errno(sdx_link(fs, "/d", "/d2"), EPERM);
	expect_errno(sdx_link(fs, "/f", "/d"), EEXIST);
	expect_errno(sdx_link(fs, "/f", "/f"), EEXIST);
	expect_errno(sdx_link(fs, "/missing", "/g"), ENOENT);
	expect_errno(sdx_link(fs, "/f", "/nodir/g"), ENOENT);
	expect_errno(sdx_link(fs, "/f", "/f/g"), ENOTDIR);
	expect_errno(sdx_link(fs, "/f", NULL), EINVAL);
	assert_int_equal(stat_of("/f", true).st_nlink, 1);
	assert_int_equal(stat_of("/d", true).st_nlink, 2);
}

static void test_link_gives_emlink_at_ext4_link_max(void **state)
{
	(void)state;
	make_file("/f", 0644);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_int_equal(tu_sh("debugfs -w -R 'sif /f links_count 64999' "
			       "'%s' >/dev/null 2>&1", dev), 0);
	fs = tu_mount(dev, 0);
	assert_int_equal(sdx_link(fs, "/f", "/g"), 0);
	assert_int_equal(stat_of("/f", true).st_nlink, 65000);
	expect_errno(sdx_link(fs, "/f", "/h"), EMLINK);
	/* back to a count e2fsck agrees with: two names, two links */
	assert_int_equal(sdx_unmount(fs), 0);
	assert_int_equal(tu_sh("debugfs -w -R 'sif /f links_count 2' "
			       "'%s' >/dev/null 2>&1", dev), 0);
	fs = tu_mount(dev, 0);
	assert_int_equal(stat_of("/g", true).st_nlink, 2);
}

/* chattr +@flag (@on) or -@flag on @fd, the other flags kept. */
static void chattr(int fd, unsigned flag, bool on)
{
	unsigned flags;

	assert_int_equal(sdx_getflags(fs, fd, &flags), 0);
	if (sdx_setflags(fs, fd, on ? flags | flag : flags & ~flag) != 0)
		fail_msg("setflags 0x%x: %s", flag, sdx_strerror_detail());
}

static void test_immutable_and_append_only_refuse_changes(void **state)
{
	const struct timespec t[2] = { { 1, 0 }, { 2, 0 } };
	int fd;

	(void)state;
	make_file("/i", 0644);
	make_file("/a", 0644);
	fd = sdx_open(fs, "/i", O_RDONLY, 0);
	chattr(fd, FS_IMMUTABLE_FL, true);
	expect_errno(sdx_chmod(fs, "/i", 0600), EPERM);
	expect_errno(sdx_fchmod(fs, fd, 0600), EPERM);
	expect_errno(sdx_chown(fs, "/i", 1, 1), EPERM);
	expect_errno(sdx_utimens(fs, "/i", NULL), EPERM);
	expect_errno(sdx_utimens(fs, "/i", t), EPERM);
	expect_errno(sdx_link(fs, "/i", "/i2"), EPERM);
	chattr(fd, FS_IMMUTABLE_FL, false);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(stat_of("/i", true).st_mode, S_IFREG | 0644);

	fd = sdx_open(fs, "/a", O_RDONLY, 0);
	chattr(fd, FS_APPEND_FL, true);
	expect_errno(sdx_chmod(fs, "/a", 0600), EPERM);
	expect_errno(sdx_utimens(fs, "/a", t), EPERM);
	expect_errno(sdx_link(fs, "/a", "/a2"), EPERM);
	/* touch without explicit times is allowed on append-only files */
	assert_int_equal(sdx_utimens(fs, "/a", NULL), 0);
	chattr(fd, FS_APPEND_FL, false);
	assert_int_equal(sdx_close(fs, fd), 0);
}

/* vfs_fallocate: an append-only file takes plain allocation only. */
static void test_append_only_file_refuses_remapping_fallocate(void **state)
{
	static const int remaps[] = {
		FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_ZERO_RANGE, FALLOC_FL_COLLAPSE_RANGE,
		FALLOC_FL_INSERT_RANGE,
	};
	static char block[4096 * 3];
	int fd;

	(void)state;
	fd = sdx_open(fs, "/a", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(sdx_pwrite(fs, fd, block, sizeof(block), 0),
			 sizeof(block));
	chattr(fd, FS_APPEND_FL, true);
	for (size_t i = 0; i < sizeof(remaps) / sizeof(remaps[0]); i++)
		expect_errno(sdx_fallocate(fs, fd, remaps[i], 0, 4096), EPERM);
	assert_int_equal(stat_of("/a", true).st_size, sizeof(block));
	assert_int_equal(sdx_fallocate(fs, fd, FALLOC_FL_KEEP_SIZE, 0,
				       8 * 4096), 0);
	chattr(fd, FS_APPEND_FL, false);
	assert_int_equal(sdx_close(fs, fd), 0);
}

static void test_read_only_mount_gives_erofs(void **state)
{
	(void)state;
	make_file("/f", 0644);
	assert_int_equal(sdx_unmount(fs), 0);
	fs = tu_mount(dev, SDX_MOUNT_RDONLY);
	expect_errno(sdx_chmod(fs, "/f", 0600), EROFS);
	expect_errno(sdx_chown(fs, "/f", 1, 1), EROFS);
	expect_errno(sdx_lchown(fs, "/f", 1, 1), EROFS);
	expect_errno(sdx_utimens(fs, "/f", NULL), EROFS);
	expect_errno(sdx_link(fs, "/f", "/g"), EROFS);
	assert_int_equal(stat_of("/f", true).st_mode, S_IFREG | 0644);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, mount_fresh, unmount_check)
		T(test_chmod_sets_permission_bits_and_ctime),
		T(test_chown_sets_32bit_ids_and_keeps_minus_one),
		T(test_lchown_changes_the_link_chown_its_target),
		T(test_utimens_sets_nanoseconds_and_epoch_bits),
		T(test_utimens_now_and_omit_as_utimensat),
		T(test_link_counts_follow_link_and_unlink),
		T(test_link_errors),
		T(test_link_gives_emlink_at_ext4_link_max),
		T(test_immutable_and_append_only_refuse_changes),
		T(test_append_only_file_refuses_remapping_fallocate),
		T(test_read_only_mount_gives_erofs),
#undef T
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
