/*
 * test_corpus.c - hostile input.  Every image of the e2fsprogs test suite
 * (/work/shared/corpus/e2fsprogs-images, mostly corrupt on purpose) is
 * mounted read-only and walked -- readdir, lstat, read every file,
 * readlink -- or refused with an error sentence; never a crash, a hang or
 * a sanitizer report.  Then targeted corruptions of the fields lookup
 * trusts (directory rec_len/name_len/inode, checksums, sizes, the htree
 * root, the orphan list), each with its checksum made valid again where
 * that matters, must be refused with EUCLEAN (or a named error).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syncdax.h"
#include "fs/fs.h"
#include "lib/crc32c.h"
#include "testutil.h"

#define CORPUS		"/work/shared/corpus/e2fsprogs-images"
#define MAX_DEPTH	16
#define MAX_READ	(8u << 20)	/* bytes read per file */
#define MAX_ENTRIES	20000		/* entries walked per image */

static const char *img;

static int setup(void **state)
{
	(void)state;
	img = tu_path("corpus.img");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(img);
	return 0;
}

struct walk_stats {
	unsigned entries;
	unsigned files_read;
	unsigned errors;
};

static void walk_file(struct sdx_fs *fs, const char *path, uint8_t *buf,
		      struct walk_stats *ws)
{
	int fd = sdx_open(fs, path, O_RDONLY, 0);
	size_t done = 0;

	if (fd < 0) {
		ws->errors++;
		return;
	}
	while (done < MAX_READ) {
		ssize_t r = sdx_pread(fs, fd, buf, 1u << 20, (off_t)done);

		if (r <= 0) {
			ws->errors += r < 0;
			break;
		}
		done += (size_t)r;
	}
	ws->files_read++;
	assert_int_equal(sdx_close(fs, fd), 0);
}

static void walk_dir(struct sdx_fs *fs, const char *path, int depth,
		     uint8_t *buf, struct walk_stats *ws)
{
	struct sdx_dir *d = sdx_opendir(fs, path);
	struct dirent *de;

	if (!d) {
		/* a refusal must say something */
		assert_true(sdx_strerror_detail()[0] != '\0');
		ws->errors++;
		return;
	}
	while ((de = sdx_readdir(d)) != NULL && ws->entries < MAX_ENTRIES) {
		char child[4200];
		struct stat st;

		ws->entries++;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		if (sdx_lstat(fs, child, &st) != 0) {
			ws->errors++;
			continue;
		}
		if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
			walk_dir(fs, child, depth + 1, buf, ws);
		} else if (S_ISREG(st.st_mode)) {
			walk_file(fs, child, buf, ws);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];

			ws->errors += sdx_readlink(fs, child, target,
						   sizeof(target)) < 0;
			sdx_stat(fs, child, &st);
		}
	}
	assert_int_equal(sdx_closedir(d), 0);
}

static bool unpack(const char *name)
{
	size_t n = strlen(name);

	if (n > 3 && !strcmp(name + n - 3, ".gz"))
		return tu_sh("gzip -dc '%s/%s' > '%s'", CORPUS, name, img) == 0;
	if (n > 4 && !strcmp(name + n - 4, ".bz2"))
		return tu_sh("bzip2 -dc '%s/%s' > '%s'", CORPUS, name,
			     img) == 0;
	return tu_sh("cp '%s/%s' '%s'", CORPUS, name, img) == 0;
}

static void test_every_corpus_image_mounts_and_walks_or_is_refused(
	void **state)
{
	DIR *dir = opendir(CORPUS);
	uint8_t *buf = malloc(1u << 20);
	unsigned images = 0, mounted = 0;
	struct dirent *de;

	(void)state;
	if (!dir)
		skip();
	while ((de = readdir(dir)) != NULL) {
		struct walk_stats ws = { 0 };
		struct sdx_fs *fs;

		if (!strstr(de->d_name, ".image"))
			continue;
		images++;
		if (!unpack(de->d_name)) {
			printf("# %s: cannot unpack\n", de->d_name);
			continue;
		}
		fs = sdx_mount(img, SDX_MOUNT_RDONLY | SDX_MOUNT_EMULATE);
		if (!fs) {
			const char *why = sdx_strerror_detail();

			assert_true(why[0] != '\0');
			printf("# %s: refused: %s\n", de->d_name, why);
			continue;
		}
		mounted++;
		walk_dir(fs, "/", 0, buf, &ws);
		printf("# %s: mounted; %u entries, %u files read, %u errors\n",
		       de->d_name, ws.entries, ws.files_read, ws.errors);
		assert_int_equal(sdx_unmount(fs), 0);
	}
	closedir(dir);
	free(buf);
	printf("# %u images, %u mounted and walked\n", images, mounted);
	assert_true(images >= 200);
	assert_true(mounted >= 20);
}

/* ---- targeted corruptions ---- */

/*
 * An image with /d (entries a, b), /d/a a file, /l a slow symlink; the
 * physical block of /d's first block, its checksum seed and inode number.
 */
struct victim {
	uint64_t dir_block;
	uint32_t dir_seed;
	uint32_t dir_ino;
	uint32_t inodes_count;
};

static void make_victim(struct victim *v)
{
	char target[300];
	struct sdx_fs *fs;
	struct sdx_inode *inode;
	struct stat st;
	char *out;
	int fd;

	tu_mkfs(img, 16u << 20);
	fs = sdx_mount(img, 0);
	assert_non_null(fs);
	assert_int_equal(sdx_mkdir(fs, "/d", 0755), 0);
	fd = sdx_open(fs, "/d/a", O_CREAT | O_RDWR, 0644);
	assert_int_equal(sdx_pwrite(fs, fd, "hello", 5, 0), 5);
	assert_int_equal(sdx_close(fs, fd), 0);
	fd = sdx_open(fs, "/d/b", O_CREAT | O_RDWR, 0644);
	assert_int_equal(sdx_close(fs, fd), 0);
	memset(target, 'x', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	assert_int_equal(sdx_symlink(fs, target, "/l"), 0);
	assert_int_equal(sdx_stat(fs, "/d", &st), 0);
	v->dir_ino = (uint32_t)st.st_ino;
	v->inodes_count = fs->inodes_count;
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(sdx_iget(fs, v->dir_ino, &inode), 0);
	v->dir_seed = inode->csum_seed;
	sdx_iput(inode);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(sdx_unmount(fs), 0);
	out = tu_capture("debugfs -R 'bmap /d 0' %s 2>/dev/null", img);
	v->dir_block = strtoull(out, NULL, 10);
	free(out);
	assert_true(v->dir_block > 0);
}

/* Change @len bytes at @off of /d's first block; restamp its checksum. */
static void poke_dir(const struct victim *v, size_t off, const void *bytes,
		     size_t len, bool fix_csum)
{
	uint8_t block[4096];
	int fd = open(img, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, block, sizeof(block),
			       (off_t)(v->dir_block * 4096)), 4096);
	memcpy(block + off, bytes, len);
	if (fix_csum) {
		uint32_t c = sdx_crc32c(v->dir_seed, block, 4096 - 12);

		memcpy(block + 4092, &c, 4);
	}
	assert_int_equal(pwrite(fd, block, sizeof(block),
				(off_t)(v->dir_block * 4096)), 4096);
	close(fd);
}

/* Looking up /d/b on the (read-only mounted) image fails with @err. */
static void expect_lookup_refused(int err)
{
	struct sdx_fs *fs = sdx_mount(img, SDX_MOUNT_RDONLY);
	struct sdx_dir *d;
	struct stat st;

	assert_non_null(fs);
	assert_int_equal(sdx_stat(fs, "/d/b", &st), -1);
	if (errno != err)
		fail_msg("errno %d (%s), expected %d", errno,
			 sdx_strerror_detail(), err);
	assert_true(sdx_strerror_detail()[0] != '\0');
	d = sdx_opendir(fs, "/d");
	assert_null(d);
	assert_int_equal(sdx_unmount(fs), 0);
}

static void test_corrupt_rec_len_and_name_len_are_refused(void **state)
{
	/* entry ".": rec_len at 4, name_len at 6; ".." at 12 */
	const struct { size_t off; uint16_t value; } cases[] = {
		{ 4, 0 },	/* rec_len 0: would loop forever */
		{ 4, 13 },	/* not a multiple of 4 */
		{ 4, 8 },	/* smaller than a record */
		{ 4, 8000 },	/* past the block */
		{ 16, 4096 },	/* ".." over the tail */
		{ 6, 0x0200 | 200 },	/* name_len 200 > rec_len 12 */
	};
	struct victim v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_victim(&v);
		poke_dir(&v, cases[i].off, &cases[i].value, 2, true);
		expect_lookup_refused(EUCLEAN);
	}
}

static void test_changes_in_a_corrupt_directory_are_refused(void **state)
{
	const uint16_t bad = 13;	/* rec_len of "." not a multiple of 4 */
	struct victim v;
	struct sdx_fs *fs;

	(void)state;
	make_victim(&v);
	poke_dir(&v, 4, &bad, 2, true);
	fs = sdx_mount(img, 0);
	assert_non_null(fs);
	assert_int_equal(sdx_open(fs, "/d/new", O_CREAT | O_RDWR, 0644), -1);
	assert_int_equal(errno, EUCLEAN);
	assert_int_equal(sdx_unlink(fs, "/d/a"), -1);
	assert_int_equal(errno, EUCLEAN);
	assert_int_equal(sdx_rename(fs, "/l", "/d/l"), -1);
	assert_int_equal(errno, EUCLEAN);
	assert_int_equal(sdx_rmdir(fs, "/d"), -1);
	assert_int_equal(errno, EUCLEAN);
	assert_int_equal(sdx_unmount(fs), 0);
	/* nothing else was damaged: e2fsck finds only that record */
	assert_int_equal(tu_sh("e2fsck -fn %s 2>&1 | grep -q 'inode %u'",
			       img, v.dir_ino), 0);
	assert_int_equal(tu_sh("debugfs -R 'stat /l' %s 2>/dev/null | "
			       "grep -q 'Links: 1'", img), 0);
}

static void test_corrupt_entry_inode_and_checksum_are_refused(void **state)
{
	struct victim v;
	uint32_t ino;
	uint8_t zero = 0;

	(void)state;
	make_victim(&v);
	ino = v.inodes_count + 1;	/* "." names a missing inode */
	poke_dir(&v, 0, &ino, 4, true);
	expect_lookup_refused(EUCLEAN);
	make_victim(&v);
	poke_dir(&v, 30, &zero, 1, false);	/* checksum now wrong */
	expect_lookup_refused(EUCLEAN);
	make_victim(&v);
	poke_dir(&v, 4092 - 1, &zero, 1, true);	/* tail marker 0xDE gone */
	expect_lookup_refused(EUCLEAN);
}

static void test_corrupt_sizes_flags_and_orphans_are_refused(void **state)
{
	struct victim v;
	struct sdx_fs *fs;
	struct stat st;
	char buf[64];

	(void)state;
	make_victim(&v);
	tu_sh("debugfs -w -R 'sif /d size 5000' %s >/dev/null 2>&1", img);
	expect_lookup_refused(EUCLEAN);

	make_victim(&v);	/* a walk of 2^32 blocks would never end */
	tu_sh("debugfs -w -R 'sif /d size 0x100000000000' %s >/dev/null 2>&1",
	      img);
	expect_lookup_refused(EUCLEAN);

	make_victim(&v);	/* htree flag on a linear directory */
	tu_sh("debugfs -w -R 'sif /d flags 0x81000' %s >/dev/null 2>&1", img);
	expect_lookup_refused(EUCLEAN);

	make_victim(&v);
	tu_sh("debugfs -w -R 'sif /l size 100000' %s >/dev/null 2>&1", img);
	fs = sdx_mount(img, SDX_MOUNT_RDONLY);
	assert_non_null(fs);
	assert_int_equal(sdx_readlink(fs, "/l", buf, sizeof(buf)), -1);
	assert_int_equal(errno, EUCLEAN);
	assert_int_equal(sdx_stat(fs, "/l", &st), -1);
	assert_int_equal(sdx_unmount(fs), 0);

	make_victim(&v);
	tu_sh("debugfs -w -R 'ssv last_orphan %u' %s >/dev/null 2>&1",
	      v.inodes_count + 5, img);
	assert_null(sdx_mount(img, 0));
	assert_int_equal(errno, EUCLEAN);
	assert_non_null(strstr(sdx_strerror_detail(), "orphan"));
	fs = sdx_mount(img, SDX_MOUNT_RDONLY);	/* read-only leaves it */
	assert_non_null(fs);
	assert_int_equal(sdx_stat(fs, "/d/a", &st), 0);
	assert_int_equal(sdx_unmount(fs), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_every_corpus_image_mounts_and_walks_or_is_refused),
		cmocka_unit_test(test_corrupt_rec_len_and_name_len_are_refused),
		cmocka_unit_test(
		    test_corrupt_entry_inode_and_checksum_are_refused),
		cmocka_unit_test(test_changes_in_a_corrupt_directory_are_refused),
		cmocka_unit_test(
		    test_corrupt_sizes_flags_and_orphans_are_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
