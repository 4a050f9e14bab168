/*
 * test_debugfs.c - interoperability with e2fsprogs both ways: what
 * `debugfs -w` writes (files, sparse and > 1 MiB, directories, htree
 * directories indexed by `e2fsck -D`, fast and slow symlinks) reads back
 * byte exact through syncdax, and what syncdax writes reads back byte exact
 * through `debugfs dump`/`stat`, with `e2fsck -fn` clean after every step.
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

#define MIB (1u << 20)

static const char *dev, *src_big, *src_sparse, *cmds, *dump;
static uint8_t *big, *sparse;
static const size_t big_len = 3 * MIB / 2 + 17, sparse_len = 5 * MIB + 5;

static void save(const char *path, const void *buf, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	dev = tu_path("interop.img");
	src_big = tu_path("interop.big");
	src_sparse = tu_path("interop.sparse");
	cmds = tu_path("interop.cmds");
	dump = tu_path("interop.dump");
	big = malloc(big_len);
	sparse = calloc(1, sparse_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	memset(sparse + 2 * MIB + 1, 'S', 7000);
	memset(sparse + sparse_len - 5, 'E', 5);
	save(src_big, big, big_len);
	save(src_sparse, sparse, sparse_len);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(dev);
	unlink(src_big);
	unlink(src_sparse);
	unlink(cmds);
	unlink(dump);
	free(big);
	free(sparse);
	return 0;
}

/* Run the debugfs commands in @script (one per line) on the device. */
static void debugfs_w(const char *script)
{
	FILE *f = fopen(cmds, "w");

	assert_non_null(f);
	fputs(script, f);
	fclose(f);
	assert_int_equal(tu_sh("debugfs -w -f %s %s >/dev/null 2>&1", cmds,
			       dev), 0);
}

static void expect_file(struct sdx_fs *fs, const char *path,
			const uint8_t *want, size_t n)
{
	uint8_t *got = malloc(n + 1);
	int fd = sdx_open(fs, path, O_RDONLY, 0);
	ssize_t r;

	if (fd < 0)
		fail_msg("open %s: %s", path, sdx_strerror_detail());
	r = sdx_pread(fs, fd, got, n + 1, 0);
	if (r != (ssize_t)n)
		fail_msg("read %s: %zd bytes, expected %zu (%s)", path, r, n,
			 sdx_strerror_detail());
	assert_memory_equal(got, want, n);
	assert_int_equal(sdx_close(fs, fd), 0);
	free(got);
}

static void expect_link(struct sdx_fs *fs, const char *path, const char *want)
{
	char buf[4096];
	ssize_t r = sdx_readlink(fs, path, buf, sizeof(buf));

	if (r != (ssize_t)strlen(want))
		fail_msg("readlink %s: %zd (%s)", path, r,
			 sdx_strerror_detail());
	assert_memory_equal(buf, want, strlen(want));
}

/* debugfs dump of @path must equal @want. */
static void expect_dump(const char *path, const void *want, size_t n)
{
	uint8_t *got = malloc(n + 1);
	FILE *f;

	unlink(dump);
	assert_int_equal(tu_sh("debugfs -R 'dump %s %s' %s >/dev/null 2>&1",
			       path, dump, dev), 0);
	f = fopen(dump, "rb");
	assert_non_null(f);
	assert_int_equal(fread(got, 1, n + 1, f), n);
	fclose(f);
	assert_memory_equal(got, want, n);
	free(got);
}

static char *long_target(char c, size_t n)
{
	char *t = malloc(n + 1);

	memset(t, c, n);
	t[0] = '/';
	t[n] = '\0';
	return t;
}

static void test_debugfs_files_and_symlinks_read_back_through_syncdax(
	void **state)
{
	char *slow = long_target('s', 300), *script = NULL;
	struct sdx_fs *fs;
	struct stat st;
	int fd;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	assert_true(asprintf(&script, "mkdir d\nmkdir d/sub\n"
			     "write %s d/big\nwrite %s sparse\n"
			     "symlink fast d/big\nsymlink d/slow %s\n",
			     src_big, src_sparse, slow) > 0);
	debugfs_w(script);
	free(script);
	assert_true(tu_fsck_clean(dev));
	fs = tu_mount(dev, SDX_MOUNT_RDONLY);
	expect_file(fs, "/d/big", big, big_len);
	expect_file(fs, "/sparse", sparse, sparse_len);
	expect_file(fs, "/fast", big, big_len);
	expect_link(fs, "/fast", "d/big");
	expect_link(fs, "/d/slow", slow);
	assert_int_equal(sdx_lstat(fs, "/d/slow", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_size, 300);
	assert_int_equal(sdx_stat(fs, "/d/sub/../big", &st), 0);
	assert_int_equal(st.st_size, (off_t)big_len);
	assert_int_equal(sdx_open(fs, "/d/new", O_CREAT | O_RDWR, 0644), -1);
	assert_int_equal(errno, EROFS);
	assert_int_equal(sdx_open(fs, "/d/new", O_CREAT | O_RDONLY, 0644), -1);
	assert_int_equal(errno, EROFS);
	fd = sdx_open(fs, "/d/big", O_CREAT | O_RDONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	free(slow);
}

/* Check that readdir of @path names exactly prefix0..prefix(n-1), . and .. */
static void expect_names(struct sdx_fs *fs, const char *path,
			 const char *prefix, unsigned n)
{
	struct sdx_dir *d = sdx_opendir(fs, path);
	uint8_t *seen = calloc(n, 1);
	struct dirent *de;
	unsigned count = 0, extra = 0;
	size_t plen = strlen(prefix);

	if (!d)
		fail_msg("opendir %s: %s", path, sdx_strerror_detail());
	while ((de = sdx_readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, plen) == 0) {
			unsigned i = (unsigned)atoi(de->d_name + plen);

			assert_true(i < n);
			assert_false(seen[i]);
			seen[i] = 1;
			count++;
		} else {
			extra++;
		}
	}
	assert_int_equal(sdx_closedir(d), 0);
	assert_int_equal(count, n);
	assert_int_equal(extra, 2);
	free(seen);
}

static ino_t stat_ino(struct sdx_fs *fs, const char *path)
{
	struct stat st;

	assert_int_equal(sdx_stat(fs, path, &st), 0);
	return st.st_ino;
}

/* Is /h (or @path) still an htree, as debugfs sees it? */
static void expect_indexed(const char *path)
{
	char *out = tu_capture("debugfs -R 'htree %s' %s 2>&1 | head -3",
			       path, dev);

	if (!strstr(out, "Root node dump"))
		fail_msg("%s is no longer indexed:\n%s", path, out);
	free(out);
}

/*
 * e2fsck -D indexes /h; check the index is what the test wants (@expect in
 * debugfs' htree dump), find every name through it, change records in
 * place (the index stays, e2fsck checks it), move the directory (its ".."
 * in the root changes), then add names (which may turn it linear) and
 * check e2fsck and debugfs agree with the result.
 */
static void check_indexed_dir(const char *prefix, unsigned n,
			      const char *expect)
{
	char name[512], other[512], *out;
	struct sdx_fs *fs;
	struct stat st;
	ino_t moved;
	int fd;

	tu_sh("e2fsck -fyD %s >/dev/null 2>&1", dev);
	out = tu_capture("debugfs -R 'htree h' %s 2>&1 | head -8", dev);
	if (!strstr(out, expect))
		fail_msg("expected an htree with '%s', debugfs says:\n%s",
			 expect, out);
	free(out);
	assert_true(tu_fsck_clean(dev));

	fs = tu_mount(dev, SDX_MOUNT_RDONLY);
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "/h/%s%u", prefix, i);
		if (sdx_stat(fs, name, &st) != 0)
			fail_msg("stat %s through the htree: %s", name,
				 sdx_strerror_detail());
	}
	assert_int_equal(stat_ino(fs, "/h/.."), 2);
	snprintf(name, sizeof(name), "/h/%s%u", prefix, n);
	assert_int_equal(sdx_stat(fs, name, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(sdx_unmount(fs), 0);

	fs = tu_mount(dev, 0);
	expect_names(fs, "/h", prefix, n);
	snprintf(name, sizeof(name), "/h/%s%u", prefix, 5u);
	assert_int_equal(sdx_unlink(fs, name), 0);
	snprintf(name, sizeof(name), "/h/%s%u", prefix, 6u);
	snprintf(other, sizeof(other), "/h/%s%u", prefix, 7u);
	moved = stat_ino(fs, name);
	assert_int_equal(sdx_rename(fs, name, other), 0);
	assert_int_equal(sdx_mkdir(fs, "/p", 0755), 0);
	assert_int_equal(sdx_rename(fs, "/h", "/p/h"), 0);
	assert_int_equal(stat_ino(fs, "/p/h/.."), stat_ino(fs, "/p"));
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));	/* e2fsck checks the htree */
	expect_indexed("p/h");

	fs = tu_mount(dev, 0);
	snprintf(other, sizeof(other), "/p/h/%s%u", prefix, 7u);
	assert_int_equal(stat_ino(fs, other), moved);
	snprintf(name, sizeof(name), "/p/h/%s%u", prefix, 6u);
	assert_int_equal(sdx_stat(fs, name, &st), -1);
	assert_int_equal(errno, ENOENT);
	fd = sdx_open(fs, "/p/h/added", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	snprintf(name, sizeof(name), "/p/h/%s%u", prefix, 8u);
	assert_int_equal(sdx_rename(fs, name, "/p/h/renamed"), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	out = tu_capture("debugfs -R 'ls p/h' %s 2>/dev/null | tr -s ' ' "
			 "'\\n' | grep -c -e '^added$' -e '^renamed$'", dev);
	assert_int_equal(atoi(out), 2);
	free(out);
}

/* debugfs fills /h with @n entries, e2fsck -D indexes it with @hash. */
static void debugfs_htree(const char *hash, const char *expect)
{
	const unsigned n = 3000;
	const char *prefix = "debugfs-made-\xc3\xa9ntr\xc3\xbf-";
	FILE *f;

	tu_mkfs(dev, 64 * MIB);
	assert_int_equal(tu_sh("debugfs -w -R 'ssv def_hash_version %s' %s "
			       ">/dev/null 2>&1", hash, dev), 0);
	f = fopen(cmds, "w");
	assert_non_null(f);
	fprintf(f, "mkdir h\n");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "write /dev/null h/%s%u\n", prefix, i);
	fclose(f);
	assert_int_equal(tu_sh("debugfs -w -f %s %s >/dev/null 2>&1", cmds,
			       dev), 0);
	check_indexed_dir(prefix, n, expect);
}

static void test_debugfs_htree_directories_of_every_hash(void **state)
{
	(void)state;
	debugfs_htree("half_md4", "Hash Version: 1");
	debugfs_htree("tea", "Hash Version: 2");
	debugfs_htree("legacy", "Hash Version: 0");
}

static void test_two_level_htree_built_read_and_changed_cleanly(void **state)
{
	const unsigned n = 7700;	/* > 508 leaves of 15 names */
	char prefix[256], name[512], *out;
	struct sdx_fs *fs;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	memset(prefix, 'n', 250);
	prefix[250] = '\0';
	fs = tu_mount(dev, 0);
	assert_int_equal(sdx_mkdir(fs, "/h", 0755), 0);
	for (unsigned i = 0; i < n; i++) {
		int fd;

		snprintf(name, sizeof(name), "/h/%s%u", prefix, i);
		fd = sdx_open(fs, name, O_CREAT | O_WRONLY, 0644);
		if (fd < 0)
			fail_msg("create entry %u: %s", i,
				 sdx_strerror_detail());
		assert_int_equal(sdx_close(fs, fd), 0);
	}
	assert_int_equal(sdx_unmount(fs), 0);
	/* syncdax built a two-level htree itself; e2fsck checks it */
	assert_true(tu_fsck_clean(dev));
	out = tu_capture("debugfs -R 'htree h' %s 2>&1 | head -8", dev);
	if (!strstr(out, "Indirect levels: 1"))
		fail_msg("syncdax's /h is no two-level htree:\n%s", out);
	free(out);
	check_indexed_dir(prefix, n, "Indirect levels: 1");
}

static void test_syncdax_files_and_symlinks_read_back_through_debugfs(
	void **state)
{
	char *slow = long_target('t', 1000), *out;
	struct sdx_fs *fs;
	int fd;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	fs = tu_mount(dev, 0);
	assert_int_equal(sdx_mkdir(fs, "/x", 0755), 0);
	assert_int_equal(sdx_mkdir(fs, "/x/y", 0700), 0);
	fd = sdx_open(fs, "/x/y/f", O_CREAT | O_WRONLY, 0644);
	assert_int_equal(sdx_pwrite(fs, fd, big, big_len, 0),
			 (ssize_t)big_len);
	assert_int_equal(sdx_close(fs, fd), 0);
	fd = sdx_open(fs, "/s", O_CREAT | O_WRONLY, 0644);
	assert_int_equal(sdx_pwrite(fs, fd, sparse + 2 * MIB + 1, 7000,
				    2 * MIB + 1), 7000);
	assert_int_equal(sdx_pwrite(fs, fd, sparse + sparse_len - 5, 5,
				    sparse_len - 5), 5);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_symlink(fs, "y/f2", "/x/fast"), 0);
	assert_int_equal(sdx_symlink(fs, slow, "/x/slow"), 0);
	assert_int_equal(sdx_rename(fs, "/x/y/f", "/x/y/f2"), 0);
	assert_int_equal(sdx_rename(fs, "/x/y", "/y"), 0);
	assert_int_equal(sdx_symlink(fs, "../y/f2", "/x/fast"), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	expect_dump("/y/f2", big, big_len);
	expect_dump("/s", sparse, sparse_len);
	expect_dump("/x/slow", slow, strlen(slow));
	out = tu_capture("debugfs -R 'stat /x/fast' %s 2>/dev/null", dev);
	if (!strstr(out, "Fast link dest: \"y/f2\""))
		fail_msg("debugfs stat /x/fast:\n%s", out);
	free(out);
	out = tu_capture("debugfs -R 'ls -l /y/..' %s 2>/dev/null", dev);
	assert_non_null(strstr(out, " x"));
	free(out);
	free(slow);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_debugfs_files_and_symlinks_read_back_through_syncdax),
		cmocka_unit_test(test_debugfs_htree_directories_of_every_hash),
		cmocka_unit_test(
		    test_two_level_htree_built_read_and_changed_cleanly),
		cmocka_unit_test(
		    test_syncdax_files_and_symlinks_read_back_through_debugfs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
