/*
 * bench_faultlat.c - the 2017 measurement of synchronous page faults, on
 * syncdax: the latency of 512 single-page write faults into a 2 MiB file,
 * preallocated (fallocate) vs empty, with and without a background copying
 * load (a thread memcpy-ing 32 MiB in a loop), with and without MAP_SYNC,
 * printed as min/avg/max and log2 histograms in µs in the format of the
 * patch series' cover letter.  Then the same with fault-around (16 pages,
 * 2 MiB where aligned) and sync-ahead (2 MiB) on, where one fault serves
 * many pages (the first store to each page is what is timed), and the
 * kernel's own page-cache fault on a tmpfs file for scale.
 *
 * The file system is a fresh image in /dev/shm (an emulated device).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dax/dax.h"
#include "fs/mkfs.h"
#include "syncdax.h"

#define PAGES 512u
#define PS 4096u
#define FILE_BYTES (PAGES * PS)
#define LOAD_BYTES (32u << 20)
#define BUCKETS 24

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- background load ---- */

static int load_stop;

static void *copy_loop(void *arg)
{
	uint8_t *src = malloc(LOAD_BYTES), *dst = malloc(LOAD_BYTES);

	(void)arg;
	if (!src || !dst)
		goto out;
	memset(src, 0x5a, LOAD_BYTES);
	while (!__atomic_load_n(&load_stop, __ATOMIC_RELAXED)) {
		memcpy(dst, src, LOAD_BYTES);
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
out:
	free(src);
	free(dst);
	return NULL;
}

/* ---- timing and printing ---- */

/* Time the first store to each page of @map (sequential order). */
static void time_first_stores(uint8_t *map, uint64_t *ns)
{
	for (unsigned i = 0; i < PAGES; i++) {
		uint64_t t0 = now_ns();

		*(volatile uint8_t *)(map + i * PS) = (uint8_t)i;
		ns[i] = now_ns() - t0;
	}
}

/* min/avg/max and the log2 histogram, in microseconds. */
static void print_latencies(const char *title, const uint64_t *ns)
{
	unsigned hist[BUCKETS] = { 0 };
	uint64_t min = UINT64_MAX, max = 0, sum = 0;

	for (unsigned i = 0; i < PAGES; i++) {
		uint64_t us = ns[i] / 1000;
		unsigned b = 0;

		while (b + 1 < BUCKETS && us >> b)
			b++;
		hist[b]++;
		min = ns[i] < min ? ns[i] : min;
		max = ns[i] > max ? ns[i] : max;
		sum += ns[i];
	}
	printf("%s:\nmin=%.1f avg=%.1f max=%.1f\n", title, min / 1e3,
	       sum / 1e3 / PAGES, max / 1e3);
	for (unsigned b = 0; b < BUCKETS; b++) {
		unsigned lo = b ? 1u << (b - 1) : 0, hi = b ? (1u << b) - 1 : 0;

		if (hist[b])
			printf("%u - %u us: %u\n", lo, hi, hist[b]);
	}
}

/* ---- the cases ---- */

struct fault_case {
	bool is_prealloc, has_load, is_sync;
};

static int run_case(struct sdx_fs *fs, const struct fault_case *c,
		    const char *extra)
{
	int flags = c->is_sync ? MAP_SHARED_VALIDATE | MAP_SYNC : MAP_SHARED;
	struct sdx_dax_stats st;
	uint64_t ns[PAGES];
	char title[160];
	pthread_t load;
	uint8_t *map;
	int fd, err = -1;

	fd = sdx_open(fs, "/bench", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || sdx_ftruncate(fs, fd, FILE_BYTES) ||
	    (c->is_prealloc && sdx_fallocate(fs, fd, 0, 0, FILE_BYTES)) ||
	    sdx_fsync(fs, fd))
		goto out_close;
	map = sdx_mmap(fs, NULL, FILE_BYTES, PROT_READ | PROT_WRITE, flags,
		       fd, 0);
	if (map == MAP_FAILED)
		goto out_close;
	__atomic_store_n(&load_stop, 0, __ATOMIC_RELAXED);
	if (c->has_load && pthread_create(&load, NULL, copy_loop, NULL))
		goto out_unmap;
	sdx_dax_reset_stats();
	time_first_stores(map, ns);
	sdx_dax_get_stats(&st);
	if (c->has_load) {
		__atomic_store_n(&load_stop, 1, __ATOMIC_RELAXED);
		pthread_join(load, NULL);
	}
	snprintf(title, sizeof(title), "File %s, %s background load, %s"
		 "MAP_SYNC%s", c->is_prealloc ? "preallocated" : "empty",
		 c->has_load ? "with" : "no", c->is_sync ? "" : "no ", extra);
	print_latencies(title, ns);
	printf("faults=%llu commits=%llu pages/fault=%.1f kernel mappings=%llu"
	       "\n\n", (unsigned long long)(st.faults_write +
					     st.faults_mkwrite),
	       (unsigned long long)st.commits,
	       (double)st.pages_mapped /
	       (double)(st.faults_write + st.faults_mkwrite +
			(st.faults_write + st.faults_mkwrite == 0)),
	       (unsigned long long)st.kernel_mappings);
	err = 0;
out_unmap:
	sdx_munmap(map, FILE_BYTES);
out_close:
	if (err)
		fprintf(stderr, "bench_faultlat: %s\n", sdx_strerror_detail());
	if (fd >= 0)
		sdx_close(fs, fd);
	sdx_unlink(fs, "/bench");
	return err;
}

/* The kernel's page-cache fault: a tmpfs file, mapped MAP_SHARED. */
static int run_tmpfs(const char *path, bool is_prealloc)
{
	uint64_t ns[PAGES];
	char title[96];
	uint8_t *map;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || ftruncate(fd, FILE_BYTES) ||
	    (is_prealloc && posix_fallocate(fd, 0, FILE_BYTES)))
		return -1;
	map = mmap(NULL, FILE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   0);
	if (map == MAP_FAILED)
		return -1;
	time_first_stores(map, ns);
	snprintf(title, sizeof(title), "Kernel page cache (tmpfs), file %s",
		 is_prealloc ? "preallocated" : "empty");
	print_latencies(title, ns);
	printf("\n");
	munmap(map, FILE_BYTES);
	close(fd);
	unlink(path);
	return 0;
}

int main(void)
{
	char dev[64], shm[64];
	struct sdx_dax_config off = { .fault_around = 1 };
	struct sdx_dax_config on = { .fault_around = 16, .syncahead = 2u << 20,
				     .huge = true };
	struct sdx_fs *fs;
	int err = 0;

	snprintf(dev, sizeof(dev), "/dev/shm/sdxbench-%d.img", (int)getpid());
	snprintf(shm, sizeof(shm), "/dev/shm/sdxbench-%d.tmp", (int)getpid());
	if (sdx_mkfs(dev, 64u << 20)) {
		fprintf(stderr, "bench_faultlat: mkfs %s failed\n", dev);
		return 1;
	}
	fs = sdx_mount(dev, 0);
	if (!fs) {
		fprintf(stderr, "bench_faultlat: mount: %s\n",
			sdx_strerror_detail());
		unlink(dev);
		return 1;
	}
	printf("%u single-page write faults into a %u KiB file; times in us\n"
	       "\n", PAGES, FILE_BYTES >> 10);
	for (int pass = 0; pass < 2 && !err; pass++) {
		sdx_dax_set_config(pass ? &on : &off);
		printf("==== fault-around and sync-ahead %s ====\n\n",
		       pass ? "on (16 pages / 2 MiB)" : "off");
		for (unsigned i = 0; i < 8 && !err; i++) {
			struct fault_case c = { !(i & 4), i & 2, i & 1 };

			err = run_case(fs, &c, pass ? ", fault-around + "
				       "sync-ahead" : "");
		}
	}
	printf("==== for scale ====\n\n");
	if (!err)
		err = run_tmpfs(shm, false) || run_tmpfs(shm, true);
	sdx_unmount(fs);
	unlink(dev);
	return err ? 1 : 0;
}
