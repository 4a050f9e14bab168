/*
 * test_file.c - file data through the public API: reads and writes byte
 * exact (also as debugfs sees them), no stale data in new blocks, truncate,
 * every fallocate mode against a model, O_APPEND, access modes, fsync and
 * fdatasync commit semantics, unlink while open and the orphan list;
 * COLLAPSE_RANGE and INSERT_RANGE on a deep extent tree shift extents in
 * one transaction and copy no block.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncdax.h"
#include "fs/fs.h"
#include "testutil.h"

#define MIB (1u << 20)

static const char *dev;

static int setup(void **state)
{
	(void)state;
	dev = tu_path("file.img");
	tu_mkfs(dev, 64 * MIB);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(dev);
	return 0;
}

static void fill(uint8_t *buf, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7 + i / 4096);
}

static void write_all(struct sdx_fs *fs, int fd, const void *buf, size_t n,
		      off_t off)
{
	ssize_t r = sdx_pwrite(fs, fd, buf, n, off);

	if (r != (ssize_t)n)
		fail_msg("pwrite %zu at %lld: %zd (%s)", n, (long long)off, r,
			 sdx_strerror_detail());
}

static void expect_content(struct sdx_fs *fs, int fd, const uint8_t *want,
			   size_t n)
{
	uint8_t *got = malloc(n + 1);
	struct stat st;

	assert_int_equal(sdx_fstat(fs, fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)n);
	assert_int_equal(sdx_pread(fs, fd, got, n + 1, 0), (ssize_t)n);
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("byte %zu: 0x%02x, expected 0x%02x", i, got[i],
				 want[i]);
	free(got);
}

/* debugfs dump of @path compared with @want. */
static void expect_debugfs(const char *path, const uint8_t *want, size_t n)
{
	const char *out = tu_path("file.dump");
	uint8_t *got = malloc(n + 1);
	FILE *f;

	unlink(out);
	assert_int_equal(tu_sh("debugfs -R 'dump %s %s' %s >/dev/null 2>&1",
			       path, out, dev), 0);
	f = fopen(out, "rb");
	assert_non_null(f);
	assert_int_equal(fread(got, 1, n + 1, f), n);
	fclose(f);
	unlink(out);
	assert_memory_equal(got, want, n);
	free(got);
}

static void test_large_and_sparse_files_read_back_through_debugfs(
	void **state)
{
	size_t big = 3 * MIB + 123, sparse = 10 * MIB + 77;
	uint8_t *a = malloc(big), *b = calloc(1, sparse);
	struct sdx_fs *fs = tu_mount(dev, 0);
	int fd;

	(void)state;
	fill(a, big, 1);
	fd = sdx_open(fs, "/big", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	write_all(fs, fd, a, big, 0);
	expect_content(fs, fd, a, big);
	assert_int_equal(sdx_close(fs, fd), 0);
	fd = sdx_open(fs, "/sparse", O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	fill(b + 5 * MIB + 3, 1000, 2);
	write_all(fs, fd, b + 5 * MIB + 3, 1000, 5 * MIB + 3);
	fill(b + sparse - 77, 77, 3);
	write_all(fs, fd, b + sparse - 77, 77, sparse - 77);
	assert_int_equal(sdx_close(fs, fd), 0);
	fd = sdx_open(fs, "/sparse", O_RDONLY, 0);
	expect_content(fs, fd, b, sparse);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	expect_debugfs("/big", a, big);
	expect_debugfs("/sparse", b, sparse);
	fs = tu_mount(dev, 0);
	fd = sdx_open(fs, "big", O_RDONLY, 0);
	expect_content(fs, fd, a, big);
	assert_int_equal(sdx_unmount(fs), 0);
	free(a);
	free(b);
}

static void test_partial_write_into_new_block_exposes_no_old_bytes(
	void **state)
{
	size_t n = 4 * MIB;
	uint8_t *junk = malloc(n), got[8192];
	struct sdx_fs *fs = tu_mount(dev, 0);
	int fd;

	(void)state;
	memset(junk, 0xAA, n);
	fd = sdx_open(fs, "/junk", O_CREAT | O_RDWR, 0644);
	write_all(fs, fd, junk, n, 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unlink(fs, "/junk"), 0);
	assert_int_equal(sdx_fsync(fs, sdx_open(fs, "/", O_RDONLY, 0)), 0);
	fd = sdx_open(fs, "/fresh", O_CREAT | O_RDWR, 0644);
	write_all(fs, fd, "0123456789", 10, 100);
	write_all(fs, fd, "xyz", 3, 4096 + 4000);
	assert_int_equal(sdx_pread(fs, fd, got, sizeof(got), 0), 4096 + 4003);
	for (size_t i = 0; i < 4096 + 4003; i++)
		if (got[i] != 0 && !(i >= 100 && i < 110) && i < 8096)
			fail_msg("byte %zu is 0x%02x, expected 0", i, got[i]);
	assert_memory_equal(got + 100, "0123456789", 10);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	free(junk);
}

static void test_truncate_shrink_zeroes_tail_and_grow_reads_zero(void **state)
{
	uint8_t buf[20000], want[20000];
	struct sdx_fs *fs = tu_mount(dev, 0);
	struct stat st;
	int fd;

	(void)state;
	memset(buf, 0xFF, sizeof(buf));
	fd = sdx_open(fs, "/t", O_CREAT | O_RDWR, 0644);
	write_all(fs, fd, buf, 10000, 0);
	assert_int_equal(sdx_ftruncate(fs, fd, 5000), 0);
	assert_int_equal(sdx_fstat(fs, fd, &st), 0);
	assert_int_equal(st.st_size, 5000);
	assert_int_equal(st.st_blocks, 16);	/* 2 blocks of 4 KiB */
	assert_int_equal(sdx_ftruncate(fs, fd, 18000), 0);
	memset(want, 0, sizeof(want));
	memset(want, 0xFF, 5000);
	expect_content(fs, fd, want, 18000);
	assert_int_equal(sdx_ftruncate(fs, fd, 0), 0);
	assert_int_equal(sdx_fstat(fs, fd, &st), 0);
	assert_int_equal(st.st_blocks, 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
}

/* One fallocate call on the file and on the model. */
static void falloc_both(struct sdx_fs *fs, int fd, uint8_t *model,
			size_t *size, int mode, size_t off, size_t len)
{
	int r = sdx_fallocate(fs, fd, mode, (off_t)off, (off_t)len);

	if (r != 0)
		fail_msg("fallocate 0x%x %zu+%zu: %s", mode, off, len,
			 sdx_strerror_detail());
	if (mode & FALLOC_FL_COLLAPSE_RANGE) {
		memmove(model + off, model + off + len, *size - off - len);
		*size -= len;
	} else if (mode & FALLOC_FL_INSERT_RANGE) {
		memmove(model + off + len, model + off, *size - off);
		memset(model + off, 0, len);
		*size += len;
	} else {
		if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
			memset(model + off, 0, len);
		if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > *size)
			*size = off + len;
	}
}

static void test_fallocate_modes_match_model(void **state)
{
	size_t cap = 4 * MIB, size = 600000;
	uint8_t *model = calloc(1, cap);
	struct sdx_fs *fs = tu_mount(dev, 0);
	struct stat st;
	int fd;

	(void)state;
	fd = sdx_open(fs, "/fa", O_CREAT | O_RDWR, 0644);
	fill(model, size, 9);
	write_all(fs, fd, model, size, 0);
	falloc_both(fs, fd, model, &size, FALLOC_FL_KEEP_SIZE, 500000, 500000);
	assert_int_equal(sdx_fstat(fs, fd, &st), 0);
	assert_true(st.st_blocks >= 1000000 / 512);
	falloc_both(fs, fd, model, &size, 0, 900000, 200000);
	expect_content(fs, fd, model, size);
	falloc_both(fs, fd, model, &size,
		    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000, 30000);
	falloc_both(fs, fd, model, &size, FALLOC_FL_ZERO_RANGE, 70001, 9000);
	falloc_both(fs, fd, model, &size, FALLOC_FL_ZERO_RANGE |
		    FALLOC_FL_KEEP_SIZE, 1099000, 9000);
	expect_content(fs, fd, model, size);
	falloc_both(fs, fd, model, &size, FALLOC_FL_COLLAPSE_RANGE, 8192,
		    3 * 4096);
	expect_content(fs, fd, model, size);
	falloc_both(fs, fd, model, &size, FALLOC_FL_INSERT_RANGE, 4096,
		    5 * 4096);
	expect_content(fs, fd, model, size);
	assert_int_equal(sdx_fallocate(fs, fd, FALLOC_FL_COLLAPSE_RANGE, 100,
				       4096), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sdx_fallocate(fs, fd, FALLOC_FL_PUNCH_HOLE, 0, 4096),
			 -1);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	expect_debugfs("/fa", model, size);
	free(model);
}

static void test_append_and_access_modes_are_checked(void **state)
{
	struct sdx_fs *fs = tu_mount(dev, 0);
	char buf[16];
	int fd, ro, wo;

	(void)state;
	fd = sdx_open(fs, "/ap", O_CREAT | O_WRONLY | O_APPEND, 0644);
	write_all(fs, fd, "abc", 3, 0);
	write_all(fs, fd, "def", 3, 0);
	ro = sdx_open(fs, "/ap", O_RDONLY, 0);
	assert_int_equal(sdx_pread(fs, ro, buf, sizeof(buf), 0), 6);
	assert_memory_equal(buf, "abcdef", 6);
	assert_int_equal(sdx_pread(fs, fd, buf, 1, 0), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(sdx_pwrite(fs, ro, "x", 1, 0), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(sdx_ftruncate(fs, ro, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sdx_fallocate(fs, ro, 0, 0, 10), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(sdx_open(fs, "/ap", O_ACCMODE, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sdx_open(fs, "/ap", O_CREAT | O_EXCL | O_RDWR, 0), -1);
	assert_int_equal(errno, EEXIST);
	wo = sdx_open(fs, "/ap", O_WRONLY | O_TRUNC, 0);
	assert_true(wo >= 0);
	assert_int_equal(sdx_pread(fs, ro, buf, sizeof(buf), 0), 0);
	assert_int_equal(sdx_close(fs, wo), 0);
	assert_int_equal(sdx_close(fs, wo), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(sdx_unmount(fs), 0);
}

static void test_fdatasync_commits_only_when_datasync_dirty(void **state)
{
	struct sdx_fs *fs = tu_mount(dev, 0);
	struct sdx_journal_stats before, after;
	char block[4096];
	int fd;

	(void)state;
	memset(block, 'q', sizeof(block));
	fd = sdx_open(fs, "/ds", O_CREAT | O_RDWR, 0644);
	write_all(fs, fd, block, sizeof(block), 0);
	assert_int_equal(sdx_fsync(fs, fd), 0);
	sdx_journal_get_stats(fs->journal, &before);
	write_all(fs, fd, block, 100, 10);	/* data-only overwrite */
	assert_int_equal(sdx_fdatasync(fs, fd), 0);
	sdx_journal_get_stats(fs->journal, &after);
	assert_int_equal(after.commits, before.commits);
	write_all(fs, fd, block, 100, 4096);	/* new block, new size */
	assert_int_equal(sdx_fdatasync(fs, fd), 0);
	sdx_journal_get_stats(fs->journal, &after);
	assert_true(after.commits > before.commits);
	assert_int_equal(sdx_close(fs, fd), 0);
	fd = sdx_open(fs, "/ds", O_RDWR | O_DSYNC, 0);
	sdx_journal_get_stats(fs->journal, &before);
	write_all(fs, fd, block, 100, 8192);
	sdx_journal_get_stats(fs->journal, &after);
	assert_true(after.commits > before.commits);
	assert_int_equal(sdx_unmount(fs), 0);
}

static void test_unlink_while_open_deletes_at_close(void **state)
{
	struct sdx_fs *fs = tu_mount(dev, 0);
	uint64_t free0, free1;
	char buf[8192];
	int fd;

	(void)state;
	free0 = sdx_fs_free_blocks(fs);
	memset(buf, 'u', sizeof(buf));
	fd = sdx_open(fs, "/gone", O_CREAT | O_RDWR, 0644);
	write_all(fs, fd, buf, sizeof(buf), 0);
	assert_int_equal(sdx_unlink(fs, "/gone"), 0);
	assert_int_equal(sdx_open(fs, "/gone", O_RDONLY, 0), -1);
	assert_int_equal(errno, ENOENT);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(sdx_pread(fs, fd, buf, sizeof(buf), 0), 8192);
	assert_int_equal(buf[8191], 'u');
	assert_int_equal(sdx_close(fs, fd), 0);
	free1 = sdx_fs_free_blocks(fs);
	assert_int_equal(free1, free0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
}

static void test_orphan_of_crashed_process_is_deleted_at_mount(void **state)
{
	pid_t pid;
	int status;
	struct sdx_fs *fs;
	struct stat st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[4096] = { 1 };
		struct sdx_fs *cfs = sdx_mount(dev, 0);
		int fd = cfs ? sdx_open(cfs, "/orph", O_CREAT | O_RDWR, 0644) :
			 -1;

		if (fd < 0 || sdx_pwrite(cfs, fd, buf, 4096, 0) != 4096 ||
		    sdx_unlink(cfs, "/orph") || sdx_fsync(cfs, fd))
			_exit(1);
		_exit(0);	/* "crash": no close, no unmount */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fs = tu_mount(dev, 0);
	assert_int_equal(sdx_stat(fs, "/orph", &st), -1);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
}

#define THREADS		4
#define RECORD		100
#define RECORDS		300

struct worker {
	struct sdx_fs *fs;
	unsigned id;
	uint8_t *model;		/* this thread's own file */
	size_t size;
};

/* Join the THREADS workers; each returns NULL or what failed. */
static void join_all(pthread_t *t)
{
	for (unsigned i = 0; i < THREADS; i++) {
		void *err;

		assert_int_equal(pthread_join(t[i], &err), 0);
		if (err)
			fail_msg("thread %u: %s failed", i, (char *)err);
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;
	char path[64], rec[RECORD];
	uint8_t chunk[65536];
	int own, shared;

	snprintf(path, sizeof(path), "/own%u", w->id);
	own = sdx_open(w->fs, path, O_CREAT | O_RDWR, 0644);
	shared = sdx_open(w->fs, "/shared", O_WRONLY | O_APPEND, 0);
	if (own < 0 || shared < 0)
		return "open";
	for (unsigned i = 0; i < RECORDS; i++) {
		size_t off = (i * 7919u + w->id * 104729u) % (1u << 20);
		size_t len = 1 + (i * 31u) % sizeof(chunk);

		memset(chunk, (int)(w->id * 16 + i % 16), len);
		if (sdx_pwrite(w->fs, own, chunk, len, (off_t)off) !=
		    (ssize_t)len)
			return "pwrite own";
		memcpy(w->model + off, chunk, len);
		if (off + len > w->size)
			w->size = off + len;
		memset(rec, 'A' + (int)w->id, sizeof(rec));
		if (sdx_pwrite(w->fs, shared, rec, sizeof(rec), 0) !=
		    (ssize_t)sizeof(rec))
			return "append";
		snprintf(path, sizeof(path), "/dir/t%u-%u", w->id, i);
		int fd = sdx_open(w->fs, path, O_CREAT | O_EXCL | O_RDWR, 0644);

		if (fd < 0 || sdx_close(w->fs, fd) != 0)
			return "create";
		if (i % 2 && sdx_unlink(w->fs, path) != 0)
			return "unlink";
	}
	if (sdx_close(w->fs, own) || sdx_close(w->fs, shared))
		return "close";
	return NULL;
}

static void test_concurrent_writers_appenders_and_creators(void **state)
{
	struct sdx_fs *fs = tu_mount(dev, 0);
	struct worker w[THREADS];
	pthread_t t[THREADS];
	unsigned counts[THREADS] = { 0 };
	uint8_t *all = malloc(THREADS * RECORDS * RECORD);
	struct sdx_dir *d;
	struct stat st;
	int fd;

	(void)state;
	assert_int_equal(sdx_mkdir(fs, "/dir", 0755), 0);
	fd = sdx_open(fs, "/shared", O_CREAT | O_WRONLY, 0644);
	assert_int_equal(sdx_close(fs, fd), 0);
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .fs = fs, .id = i,
					.model = calloc(1, 2u << 20) };
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	join_all(t);
	for (unsigned i = 0; i < THREADS; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/own%u", i);
		fd = sdx_open(fs, path, O_RDONLY, 0);
		expect_content(fs, fd, w[i].model, w[i].size);
		assert_int_equal(sdx_close(fs, fd), 0);
		free(w[i].model);
	}
	fd = sdx_open(fs, "/shared", O_RDONLY, 0);
	assert_int_equal(sdx_pread(fs, fd, all, THREADS * RECORDS * RECORD, 0),
			 THREADS * RECORDS * RECORD);
	for (unsigned r = 0; r < THREADS * RECORDS; r++) {
		unsigned id = (unsigned)(all[r * RECORD] - 'A');

		assert_true(id < THREADS);
		for (unsigned k = 1; k < RECORD; k++)
			assert_int_equal(all[r * RECORD + k], 'A' + id);
		counts[id]++;
	}
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(counts[i], RECORDS);
	assert_int_equal(sdx_close(fs, fd), 0);
	d = sdx_opendir(fs, "/dir");
	for (unsigned n = 0; sdx_readdir(d); n++)
		assert_true(n < 2 + THREADS * RECORDS / 2);
	assert_int_equal(sdx_closedir(d), 0);
	assert_int_equal(sdx_stat(fs, "/dir/t3-298", &st), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	free(all);
}

struct mixer {
	struct sdx_fs *fs;
	unsigned id;
};

/* Writes, reads, truncates, punches and fsyncs on one shared file. */
static void *mix(void *arg)
{
	struct mixer *m = arg;
	uint8_t buf[32768];
	unsigned seed = m->id * 7919u + 1;
	int fd = sdx_open(m->fs, "/mixed", O_RDWR, 0);

	if (fd < 0)
		return "open";
	for (unsigned i = 0; i < 400; i++) {
		off_t off = (off_t)(rand_r(&seed) % (4u << 20));
		size_t len = 1 + (size_t)rand_r(&seed) % sizeof(buf);
		int r = 0;

		memset(buf, (int)(m->id + 1), len);
		switch (rand_r(&seed) % 6) {
		case 0:
		case 1:
			r = sdx_pwrite(m->fs, fd, buf, len, off) ==
			    (ssize_t)len ? 0 : -1;
			break;
		case 2:
			r = sdx_pread(m->fs, fd, buf, len, off) < 0 ? -1 : 0;
			break;
		case 3:
			r = sdx_ftruncate(m->fs, fd, off);
			break;
		case 4:
			r = sdx_fallocate(m->fs, fd, FALLOC_FL_PUNCH_HOLE |
					  FALLOC_FL_KEEP_SIZE, off,
					  (off_t)len);
			break;
		default:
			r = i % 2 ? sdx_fdatasync(m->fs, fd) :
			    sdx_fsync(m->fs, fd);
		}
		if (r != 0)
			return "operation";
	}
	return sdx_close(m->fs, fd) ? "close" : NULL;
}

static void test_concurrent_remaps_and_io_on_one_file(void **state)
{
	struct sdx_fs *fs = tu_mount(dev, 0);
	struct mixer m[THREADS];
	pthread_t t[THREADS];
	uint8_t *buf;
	struct stat st;
	int fd;

	(void)state;
	fd = sdx_open(fs, "/mixed", O_CREAT | O_RDWR, 0644);
	assert_int_equal(sdx_close(fs, fd), 0);
	for (unsigned i = 0; i < THREADS; i++) {
		m[i] = (struct mixer){ .fs = fs, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, mix, &m[i]), 0);
	}
	join_all(t);
	/* every byte is zero or one thread's fill: no torn or stale data */
	assert_int_equal(sdx_stat(fs, "/mixed", &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	fd = sdx_open(fs, "/mixed", O_RDONLY, 0);
	assert_int_equal(sdx_pread(fs, fd, buf, (size_t)st.st_size + 1, 0),
			 st.st_size);
	for (off_t i = 0; i < st.st_size; i++)
		assert_true(buf[i] <= THREADS);
	assert_int_equal(sdx_close(fs, fd), 0);
	free(buf);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
}

static void test_chattr_flags_stored_and_enforced(void **state)
{
	struct sdx_fs *fs = tu_mount(dev, 0);
	struct sdx_journal_stats before, after;
	unsigned flags;
	char *out;
	int fd;

	(void)state;
	fd = sdx_open(fs, "/attr", O_CREAT | O_RDWR, 0644);
	assert_int_equal(sdx_getflags(fs, fd, &flags), 0);
	assert_int_equal(flags & FS_SYNC_FL, 0);
	assert_int_equal(sdx_setflags(fs, fd, flags | FS_SYNC_FL |
				      FS_NODUMP_FL), 0);
	assert_int_equal(sdx_getflags(fs, fd, &flags), 0);
	assert_int_equal(flags & (FS_SYNC_FL | FS_NODUMP_FL),
			 FS_SYNC_FL | FS_NODUMP_FL);
	assert_true(flags & FS_EXTENT_FL);
	sdx_journal_get_stats(fs->journal, &before);
	write_all(fs, fd, "sync", 4, 0);	/* FS_SYNC_FL: commits */
	sdx_journal_get_stats(fs->journal, &after);
	assert_true(after.commits > before.commits);
	assert_int_equal(sdx_setflags(fs, fd, flags & ~FS_EXTENT_FL), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(sdx_setflags(fs, fd, flags | FS_IMMUTABLE_FL), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_open(fs, "/attr", O_WRONLY, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	out = tu_capture("debugfs -R 'stat /attr' %s 2>/dev/null | head -1",
			 dev);
	assert_non_null(strstr(out, "Flags: 0x80058"));
	free(out);
}

/* ---- COLLAPSE_RANGE and INSERT_RANGE shift extents, copy nothing ---- */

#define DEEP_BLOCKS 6000u	/* a file of ~2000 extents: depth 1 */
#define DEEP_CAP (DEEP_BLOCKS + 2048u)

/* The physical block of each of the first @n logical blocks (0: hole). */
static void map_file(struct sdx_fs *fs, int fd, uint64_t *pmap, uint64_t n,
		     unsigned *depth)
{
	int open_flags;
	struct sdx_inode *inode = sdx_inode_get_fd(fs, fd, &open_flags);

	assert_non_null(inode);
	pthread_mutex_lock(&fs->lock);
	*depth = ((struct ext4_extent_header *)inode->raw.i_block)->eh_depth;
	for (uint64_t l = 0; l < n;) {
		uint64_t pblk, len;
		unsigned flags;

		if (sdx_extent_map(inode, l, &pblk, &len, &flags))
			fail_msg("map block %llu: %s", (unsigned long long)l,
				 sdx_strerror_detail());
		for (uint64_t k = 0; k < len && l < n; k++, l++)
			pmap[l] = flags & SDX_EXTENT_HOLE ? 0 : pblk + k;
	}
	pthread_mutex_unlock(&fs->lock);
	sdx_inode_put(inode);
}

static uint64_t commits(struct sdx_fs *fs)
{
	struct sdx_journal_stats st;

	pthread_mutex_lock(&fs->lock);
	sdx_journal_get_stats(fs->journal, &st);
	pthread_mutex_unlock(&fs->lock);
	return st.commits;
}

/* The block map of @path as `debugfs -R ex` prints its leaves. */
static void debugfs_map(const char *path, uint64_t *pmap, uint64_t n)
{
	char *out = tu_capture("debugfs -R 'ex %s' %s 2>/dev/null", path, dev);
	unsigned leaves = 0;

	memset(pmap, 0, n * sizeof(*pmap));
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned level, depth, i, nr;
		unsigned long long l0, l1, p0, p1, len;

		if (sscanf(line, " %u/ %u %u/ %u %llu - %llu %llu - %llu %llu",
			   &level, &depth, &i, &nr, &l0, &l1, &p0, &p1,
			   &len) != 9 &&
		    sscanf(line, " %u/ %u %u/ %u %llu - %llu %llu %llu",
			   &level, &depth, &i, &nr, &l0, &l1, &p0, &len) != 8)
			continue;
		if (level != depth)
			continue;	/* an index entry */
		leaves++;
		for (unsigned long long k = 0; k < len && l0 + k < n; k++)
			pmap[l0 + k] = p0 + k;
	}
	free(out);
	assert_true(leaves > 0);
}

/*
 * A file of ~2000 extents (depth 1) collapsed and inserted at several
 * offsets: contents as the model, each a single transaction, every byte
 * still in its physical block (nothing copied), the extents as debugfs
 * sees them shifted, e2fsck clean.
 */
static void test_collapse_insert_shift_deep_tree_without_copying(void **st)
{
	/* is_split: at the first block from there inside an extent */
	static const struct { int mode; unsigned first, n; bool is_split; }
	ops[] = {
		{ FALLOC_FL_COLLAPSE_RANGE, 10, 7, false },
		{ FALLOC_FL_INSERT_RANGE, 1001, 5, true },
		{ FALLOC_FL_COLLAPSE_RANGE, 2999, 700, false },
		{ FALLOC_FL_INSERT_RANGE, 1, 1500, false },
		{ FALLOC_FL_COLLAPSE_RANGE, 0, 1, false },
		{ FALLOC_FL_INSERT_RANGE, 3, 2, false },
		{ FALLOC_FL_COLLAPSE_RANGE, 4000, 1, false },
		{ FALLOC_FL_INSERT_RANGE, 2500, 3, true },
	};
	const size_t bs = SDX_BLOCK_SIZE;
	uint8_t *model = calloc(DEEP_CAP, bs);
	uint64_t *want = calloc(DEEP_CAP, sizeof(*want));
	uint64_t *got = calloc(DEEP_CAP, sizeof(*got));
	size_t size = (size_t)DEEP_BLOCKS * bs, nb = DEEP_BLOCKS;
	struct sdx_fs *fs = tu_mount(dev, 0);
	unsigned depth;
	int fd;

	(void)st;
	fd = sdx_open(fs, "/deep", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	/* runs of 1 to 3 blocks, each followed by a one-block hole */
	for (size_t b = 0, run; b < DEEP_BLOCKS; b += run + 1) {
		run = 1 + b / 4 % 3;
		run = run < DEEP_BLOCKS - b ? run : DEEP_BLOCKS - b;
		fill(model + b * bs, run * bs, (unsigned)b);
		write_all(fs, fd, model + b * bs, run * bs, (off_t)(b * bs));
	}
	assert_int_equal(sdx_ftruncate(fs, fd, (off_t)size), 0);
	map_file(fs, fd, want, nb, &depth);
	assert_true(depth >= 1);
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		size_t first = ops[k].first, n = ops[k].n;
		uint64_t before;

		while (ops[k].is_split &&
		       !(want[first - 1] && want[first] == want[first - 1] + 1))
			first++;
		assert_int_equal(sdx_journal_force_commit(fs->journal) |
				 sdx_fsync(fs, fd), 0);
		before = commits(fs);
		falloc_both(fs, fd, model, &size, ops[k].mode, first * bs,
			    n * bs);
		assert_int_equal(sdx_fsync(fs, fd), 0);
		if (commits(fs) != before + 1)
			fail_msg("op %zu: %llu commits, expected one", k,
				 (unsigned long long)(commits(fs) - before));
		if (ops[k].mode == FALLOC_FL_COLLAPSE_RANGE) {
			memmove(want + first, want + first + n,
				(nb - first - n) * sizeof(*want));
			nb -= n;
		} else {
			memmove(want + first + n, want + first,
				(nb - first) * sizeof(*want));
			memset(want + first, 0, n * sizeof(*want));
			nb += n;
		}
		expect_content(fs, fd, model, size);
		map_file(fs, fd, got, nb, &depth);
		assert_true(depth >= 1);
		for (size_t b = 0; b < nb; b++)
			if (got[b] != want[b])
				fail_msg("op %zu: block %zu in physical block "
					 "%llu, expected %llu (not moved)", k,
					 b, (unsigned long long)got[b],
					 (unsigned long long)want[b]);
	}
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	debugfs_map("/deep", got, nb);
	assert_memory_equal(got, want, nb * sizeof(*want));
	expect_debugfs("/deep", model, size);
	fs = tu_mount(dev, 0);
	assert_int_equal(sdx_unlink(fs, "/deep"), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	free(model);
	free(want);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_large_and_sparse_files_read_back_through_debugfs),
		cmocka_unit_test(
			test_partial_write_into_new_block_exposes_no_old_bytes),
		cmocka_unit_test(
			test_truncate_shrink_zeroes_tail_and_grow_reads_zero),
		cmocka_unit_test(test_fallocate_modes_match_model),
		cmocka_unit_test(
			test_collapse_insert_shift_deep_tree_without_copying),
		cmocka_unit_test(test_append_and_access_modes_are_checked),
		cmocka_unit_test(
			test_fdatasync_commits_only_when_datasync_dirty),
		cmocka_unit_test(test_unlink_while_open_deletes_at_close),
		cmocka_unit_test(
			test_orphan_of_crashed_process_is_deleted_at_mount),
		cmocka_unit_test(
			test_concurrent_writers_appenders_and_creators),
		cmocka_unit_test(test_concurrent_remaps_and_io_on_one_file),
		cmocka_unit_test(test_chattr_flags_stored_and_enforced),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
