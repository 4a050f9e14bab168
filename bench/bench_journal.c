/*
 * bench_journal.c - what a jbd2 commit costs on an emulated device: the
 * latency of sdx_journal_force_commit() for a transaction of 1, 4 and 16
 * modified metadata blocks (descriptor + copies + one drain + commit block
 * + a second drain), median and 99th percentile over many commits, and how
 * often a commit also had to checkpoint (the log half full).  Then, through
 * the public API on the same image: sdx_fdatasync() after a 4 KiB write
 * that allocates a block (one commit: extent and bitmaps) and after one
 * that overwrites an allocated block (no metadata: no commit).
 *
 * The image is a fresh syncdax file system in /dev/shm; the journal inode's
 * extents come from debugfs, as the file system layer would pass them.
 * The handle's work (copying the blocks into the transaction) is outside
 * the timed region: only the commit is timed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs/mkfs.h"
#include "journal/journal.h"
#include "kernel/backend.h"
#include "pmem/pmem.h"
#include "syncdax.h"

#define DEV_SIZE (256ull << 20)
#define COMMITS 4000
#define FIRST_BLOCK 40000	/* free data blocks of the fresh image */
#define SYNCS 2000		/* fdatasyncs per kind */

static const unsigned widths[] = { 1, 4, 16 };

/* The journal inode's extents, from `debugfs -R "ex <8>"`. */
static unsigned journal_extents(const char *path, struct sdx_jextent *ext,
				unsigned max)
{
	char cmd[512], line[256];
	unsigned n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "debugfs -R 'ex <8>' '%s' 2>/dev/null",
		 path);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long l0, l1, p0, p1, len;

		if (n < max && sscanf(line, " %*u/ %*u %*u/ %*u %llu - %llu "
				      "%llu - %llu %llu", &l0, &l1, &p0, &p1,
				      &len) == 5)
			ext[n++] = (struct sdx_jextent){ l0, p0, len };
	}
	pclose(p);
	return n;
}

/* Commit @width-block transactions; print median and p99 in microseconds. */
static int measure(struct sdx_journal *j, unsigned width)
{
	static uint64_t t[COMMITS];
	struct sdx_journal_stats before, after;
	int err = 0;

	sdx_journal_get_stats(j, &before);
	for (unsigned i = 0; i < COMMITS && !err; i++) {
		struct sdx_handle *h;
		uint64_t start;

		err = sdx_journal_start(j, (int)width, &h);
		for (unsigned b = 0; b < width && !err; b++) {
			uint64_t block = FIRST_BLOCK + (i % 64) * 16 + b;
			void *data;

			err = sdx_journal_get_write_access(h, block, &data);
			if (!err) {
				((uint8_t *)data)[i % 4096] ^= 1;
				sdx_journal_dirty_metadata(h, block);
			}
		}
		if (err)
			break;
		err = sdx_journal_stop(h);
		start = bench_now_ns();
		if (!err)
			err = sdx_journal_force_commit(j);
		t[i] = bench_now_ns() - start;
	}
	if (err)
		return err;
	sdx_journal_get_stats(j, &after);
	qsort(t, COMMITS, sizeof(t[0]), bench_cmp_u64);
	printf("%-8u %12.2f %12.2f %14llu\n", width, t[COMMITS / 2] / 1e3,
	       t[COMMITS * 99 / 100] / 1e3,
	       (unsigned long long)(after.checkpoints - before.checkpoints));
	return 0;
}

static void print_latency(const char *what, uint64_t *t, unsigned n)
{
	qsort(t, n, sizeof(t[0]), bench_cmp_u64);
	printf("%-34s %12.2f %12.2f\n", what, t[n / 2] / 1e3,
	       t[n * 99 / 100] / 1e3);
}

/* fdatasync after allocating, then after overwriting, 4 KiB writes. */
static int measure_fdatasync(const char *path)
{
	static uint64_t alloc[SYNCS], over[SYNCS];
	static char buf[4096];
	struct sdx_fs *fs = sdx_mount(path, 0);
	int fd, err = 0;

	if (!fs)
		return -errno;
	fd = sdx_open(fs, "/bench", O_CREAT | O_RDWR, 0644);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	for (unsigned k = 0; k < 2 * SYNCS && !err; k++) {
		off_t off = (off_t)(k % SYNCS) * 4096;
		uint64_t start;

		memset(buf, (int)k, sizeof(buf));
		if (sdx_pwrite(fs, fd, buf, sizeof(buf), off) != sizeof(buf)) {
			err = -errno;
			break;
		}
		start = bench_now_ns();
		if (sdx_fdatasync(fs, fd))
			err = -errno;
		(k < SYNCS ? alloc : over)[k % SYNCS] = bench_now_ns() - start;
	}
	sdx_close(fs, fd);
	if (err)
		goto out;
	printf("%-34s %12s %12s\n", "fdatasync after a 4 KiB write",
	       "median us", "p99 us");
	print_latency("  allocating (one commit)", alloc, SYNCS);
	print_latency("  overwriting (no commit)", over, SYNCS);
out:
	if (sdx_unmount(fs) && !err)
		err = -errno;
	return err;
}

int main(void)
{
	char path[128];
	struct sdx_jextent ext[32];
	struct sdx_dev *dev = NULL;
	struct sdx_journal *j = NULL;
	unsigned nr_ext;
	int err;

	snprintf(path, sizeof(path), "/dev/shm/sdxbench-journal-%d.img",
		 (int)getpid());
	err = sdx_mkfs(path, DEV_SIZE, NULL, NULL);
	nr_ext = err ? 0 : journal_extents(path, ext, 32);
	if (!err && nr_ext == 0)
		err = -ENOENT;
	if (!err)
		err = sdx_dev_open(path, 0, &dev);
	if (!err) {
		struct sdx_journal_opts opts = {
			.fs_blocks = DEV_SIZE / SDX_PAGE_SIZE,
			.metadata_csum = true,
			.is_64bit = true,
		};

		err = sdx_journal_open(dev, ext, nr_ext, &opts, &j);
	}
	if (err) {
		fprintf(stderr, "bench_journal: %s: %s\n", path,
			strerror(-err));
		goto out;
	}
	printf("# jbd2 commit latency, %s device %s (%s), csum v3, "
	       "%d commits each\n", sdx_dev_kind_name(dev->kind), path,
	       sdx_flush_kind_name(dev->flush), COMMITS);
	printf("%-8s %12s %12s %14s\n", "blocks", "median us", "p99 us",
	       "checkpoints");
	for (unsigned i = 0; i < sizeof(widths) / sizeof(widths[0]) && !err;
	     i++)
		err = measure(j, widths[i]);
	if (err)
		fprintf(stderr, "bench_journal: commit: %s\n", strerror(-err));
out:
	if (j)
		sdx_journal_close(j);
	if (dev)
		sdx_dev_close(dev);
	if (!err) {
		err = measure_fdatasync(path);
		if (err)
			fprintf(stderr, "bench_journal: fdatasync: %s: %s\n",
				strerror(-err), sdx_strerror_detail());
	}
	unlink(path);
	return err ? 1 : 0;
}
