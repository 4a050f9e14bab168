/*
 * backend.h - what the benchmarks that compare syncdax with the kernel share
 * (bench_faultlat.c, bench_durability.c; header-only, each benchmark is one
 * program): the clock, percentiles, the syncdax device a run uses, and the
 * kernel's jbd2 commit count.  bench_pmem.c and bench_journal.c use its
 * clock and sort order too.
 *
 * The syncdax device is either
 *   - an emulated device in /dev/shm (the host's native run), or
 *   - a container file on the kernel's ext4 -o dax mount under test (the
 *     guest run of bench/kernel/): made by sdx_mkfs, whose mkfs.ext4 punches
 *     the file's blocks out again (discard), so every hole is then written
 *     with zeroes: a fully written container, whose kernel faults never
 *     allocate, so only syncdax's own fault path and journal are measured.
 *     syncdax opens it as an fsdax-file device (MAP_SYNC works on it).
 */
#ifndef SDX_BENCH_BACKEND_H
#define SDX_BENCH_BACKEND_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "fs/mkfs.h"

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The @pct-th percentile of @n sorted values (nearest rank). */
static inline uint64_t bench_percentile(const uint64_t *sorted, size_t n,
					unsigned pct)
{
	size_t rank = (n * pct + 99) / 100;

	return n ? sorted[rank ? rank - 1 : 0] : 0;
}

/* Median of @n values (sorts them). */
static inline double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

/* Write zeroes into every hole of @fd (its contents stay the same). */
static inline int bench_fill_holes(int fd, off_t size)
{
	static const char zeroes[1 << 16];
	off_t hole = 0, data;

	while (hole < size) {
		hole = lseek(fd, hole, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		data = hole < size ? lseek(fd, hole, SEEK_DATA) : size;
		if (data < 0)
			data = size;	/* ENXIO: a hole up to the end */
		while (hole < data) {
			size_t n = data - hole < (off_t)sizeof(zeroes) ?
				   (size_t)(data - hole) : sizeof(zeroes);
			ssize_t w = pwrite(fd, zeroes, n, hole);

			if (w <= 0)
				return w < 0 ? -errno : -EIO;
			hole += w;
		}
	}
	return fsync(fd) ? -errno : 0;
}

/*
 * bench_make_device - a fresh syncdax file system of @size bytes at
 * @path: in /dev/shm an emulated device, elsewhere (a DAX mount) a fully
 * written container.  Return: 0 or -errno (with sdx_mkfs's sentence).
 */
static inline int bench_make_device(const char *path, uint64_t size)
{
	int fd, err;

	unlink(path);
	err = sdx_mkfs(path, size, NULL, NULL);
	if (err || strncmp(path, "/dev/shm/", 9) == 0)
		return err;
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -errno;
	err = bench_fill_holes(fd, (off_t)size);
	close(fd);
	return err;
}

/*
 * bench_jbd2_commits - transactions the kernel's jbd2 has committed on the
 * ext4 file system that holds @dir (/proc/fs/jbd2/<dev>-8/info), or -1
 * when it cannot be told (not ext4, no procfs).
 */
static inline long long bench_jbd2_commits(const char *dir)
{
	char link[PATH_MAX], path[PATH_MAX + 64], *name;
	long long n = -1;
	struct stat st;
	ssize_t len;
	FILE *f;

	if (stat(dir, &st) < 0)
		return -1;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u",
		 major(st.st_dev), minor(st.st_dev));
	len = readlink(path, link, sizeof(link) - 1);
	if (len <= 0)
		return -1;
	link[len] = '\0';
	name = strrchr(link, '/');
	snprintf(path, sizeof(path), "/proc/fs/jbd2/%s-8/info",
		 name ? name + 1 : link);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld transactions", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

#endif /* SDX_BENCH_BACKEND_H */
