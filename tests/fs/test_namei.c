/*
 * test_namei.c - path resolution: "." and "..", repeated and trailing
 * slashes, fast and slow symlinks (relative, absolute, chained, in the
 * middle of a path, dangling), ELOOP, ENAMETOOLONG, ENOTDIR, O_NOFOLLOW,
 * readlink.
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

static int setup(void **state)
{
	int fd;

	(void)state;
	dev = tu_path("namei.img");
	tu_mkfs(dev, 16u << 20);
	fs = sdx_mount(dev, 0);
	assert_non_null(fs);
	assert_int_equal(sdx_mkdir(fs, "/a", 0755), 0);
	assert_int_equal(sdx_mkdir(fs, "/a/b", 0755), 0);
	fd = sdx_open(fs, "/a/b/f", O_CREAT | O_WRONLY, 0644);
	assert_int_equal(sdx_pwrite(fs, fd, "data", 4, 0), 4);
	assert_int_equal(sdx_close(fs, fd), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	unlink(dev);
	return 0;
}

static ino_t ino_of(const char *path)
{
	struct stat st;

	if (sdx_stat(fs, path, &st) != 0)
		fail_msg("stat %s: %s", path, sdx_strerror_detail());
	return st.st_ino;
}

static void expect_stat_errno(const char *path, int err)
{
	struct stat st;

	assert_int_equal(sdx_stat(fs, path, &st), -1);
	if (errno != err)
		fail_msg("stat %s: errno %d, expected %d", path, errno, err);
}

static void test_dot_dotdot_and_slashes_resolve(void **state)
{
	ino_t f = ino_of("/a/b/f");

	(void)state;
	assert_int_equal(ino_of("a/b/f"), f);
	assert_int_equal(ino_of("//a///b//f"), f);
	assert_int_equal(ino_of("/a/./b/../b/./f"), f);
	assert_int_equal(ino_of("/.."), ino_of("/"));
	assert_int_equal(ino_of("/../../a"), ino_of("/a"));
	assert_int_equal(ino_of("/a/b/.."), ino_of("/a"));
	assert_int_equal(ino_of("/a/b/"), ino_of("/a/b"));
	expect_stat_errno("", ENOENT);
	expect_stat_errno("/a/missing", ENOENT);
	expect_stat_errno("/a/missing/x", ENOENT);
}

static void test_fast_slow_and_chained_symlinks_are_followed(void **state)
{
	char slow[400], buf[512];
	struct stat st;
	ino_t f = ino_of("/a/b/f");
	int fd;

	(void)state;
	memset(slow, 0, sizeof(slow));
	strcpy(slow, "/a");
	for (size_t i = strlen(slow); i + 2 < 300; i += 2)
		strcat(slow, "/.");
	strcat(slow, "/b");
	assert_int_equal(sdx_symlink(fs, "b/f", "/a/fast"), 0);
	assert_int_equal(sdx_symlink(fs, slow, "/slowdir"), 0);
	assert_int_equal(sdx_symlink(fs, "/a/fast", "/chain"), 0);
	assert_int_equal(ino_of("/a/fast"), f);
	assert_int_equal(ino_of("/slowdir/f"), f);
	assert_int_equal(ino_of("/slowdir/../b/f"), f);
	assert_int_equal(ino_of("/chain"), f);
	assert_int_equal(sdx_lstat(fs, "/chain", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_size, 7);
	assert_int_equal(sdx_lstat(fs, "/slowdir/", &st), 0);	/* follows */
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(sdx_readlink(fs, "/slowdir", buf, sizeof(buf)),
			 (ssize_t)strlen(slow));
	assert_memory_equal(buf, slow, strlen(slow));
	assert_int_equal(sdx_readlink(fs, "/chain", buf, 3), 3);
	assert_memory_equal(buf, "/a/", 3);
	assert_int_equal(sdx_readlink(fs, "/a/b/f", buf, sizeof(buf)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sdx_symlink(fs, "nowhere", "/dangling"), 0);
	expect_stat_errno("/dangling", ENOENT);
	assert_int_equal(sdx_lstat(fs, "/dangling", &st), 0);
	/* O_CREAT through a dangling link creates its target (Linux) */
	assert_int_equal(sdx_symlink(fs, "b/made", "/a/tomake"), 0);
	fd = sdx_open(fs, "/a/tomake", O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(ino_of("/a/tomake"), ino_of("/a/b/made"));
	assert_int_equal(sdx_open(fs, "/dangling", O_CREAT | O_EXCL | O_RDWR,
				  0644), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(sdx_open(fs, "/chain", O_RDONLY | O_NOFOLLOW, 0), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(sdx_unlink(fs, "/chain"), 0);	/* the link only */
	assert_int_equal(ino_of("/a/fast"), f);
}

static void test_symlink_loops_and_long_chains_give_eloop(void **state)
{
	char from[32], to[32];

	(void)state;
	assert_int_equal(sdx_symlink(fs, "loop2", "/loop1"), 0);
	assert_int_equal(sdx_symlink(fs, "loop1", "/loop2"), 0);
	expect_stat_errno("/loop1", ELOOP);
	expect_stat_errno("/loop1/x", ELOOP);
	/* l0 -> l1 -> ... -> l40 -> /a: 41 links is one too many */
	assert_int_equal(sdx_symlink(fs, "/a", "/l40"), 0);
	for (int i = 39; i >= 0; i--) {
		snprintf(from, sizeof(from), "l%d", i + 1);
		snprintf(to, sizeof(to), "/l%d", i);
		assert_int_equal(sdx_symlink(fs, from, to), 0);
	}
	assert_int_equal(ino_of("/l1"), ino_of("/a"));	/* 40 links */
	expect_stat_errno("/l0", ELOOP);
}

static void test_long_names_and_paths_give_enametoolong(void **state)
{
	char name[300], *path = malloc(5000), target[5000];
	int fd;

	(void)state;
	memset(name, 'n', sizeof(name));
	name[0] = '/';
	name[256] = '\0';	/* a 255-byte component */
	fd = sdx_open(fs, name, O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unlink(fs, name), 0);
	name[256] = 'n';
	name[257] = '\0';	/* 256 bytes */
	assert_int_equal(sdx_open(fs, name, O_CREAT | O_RDWR, 0644), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	expect_stat_errno(name, ENAMETOOLONG);
	path[0] = '\0';
	while (strlen(path) < 4100)
		strcat(path, "/a/.");
	expect_stat_errno(path, ENAMETOOLONG);
	memset(target, 't', sizeof(target));
	target[4096] = '\0';
	assert_int_equal(sdx_symlink(fs, target, "/toolong"), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	target[4095] = '\0';	/* the longest target */
	assert_int_equal(sdx_symlink(fs, target, "/longest"), 0);
	assert_int_equal(sdx_readlink(fs, "/longest", target, sizeof(target)),
			 4095);
	free(path);
}

static void test_non_directories_in_paths_give_enotdir(void **state)
{
	(void)state;
	expect_stat_errno("/a/b/f/x", ENOTDIR);
	expect_stat_errno("/a/b/f/", ENOTDIR);
	expect_stat_errno("/a/b/f/..", ENOTDIR);
	assert_int_equal(sdx_open(fs, "/a/b/f", O_RDONLY | O_DIRECTORY, 0),
			 -1);
	assert_int_equal(errno, ENOTDIR);
	assert_int_equal(sdx_mkdir(fs, "/a/b/f/sub", 0755), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_int_equal(sdx_open(fs, "/a/b/new/", O_CREAT | O_RDWR, 0644),
			 -1);
	assert_int_equal(errno, EISDIR);
	assert_int_equal(sdx_open(fs, "/a", O_RDWR, 0), -1);
	assert_int_equal(errno, EISDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dot_dotdot_and_slashes_resolve),
		cmocka_unit_test(
			test_fast_slow_and_chained_symlinks_are_followed),
		cmocka_unit_test(test_symlink_loops_and_long_chains_give_eloop),
		cmocka_unit_test(test_long_names_and_paths_give_enametoolong),
		cmocka_unit_test(test_non_directories_in_paths_give_enotdir),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
