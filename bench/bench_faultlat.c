/*
 * bench_faultlat.c - the 2017 measurement of synchronous page faults, on
 * syncdax and on the kernel's ext4 -o dax: the latency of 512 single-page
 * write faults into a 2 MiB file, preallocated (fallocate: unwritten
 * extents) vs empty, with and without a background copying load (a thread
 * memcpy-ing 32 MiB in a loop), with and without MAP_SYNC, printed as
 * min/avg/max and log2 histograms in µs in the format of the patch series'
 * cover letter.
 *
 *   bench_faultlat [--dir DAXDIR] [--runs N]
 *
 * Backends:
 *   syncdax  a fresh file system: an emulated device in /dev/shm, or with
 *            --dir a fully written container file on that mount, opened as
 *            an fsdax-file device (see kernel/backend.h)
 *   kernel   with --dir (an ext4 -o dax mount): open + mmap
 *            MAP_SHARED_VALIDATE|MAP_SYNC of a file there, posix_fallocate
 *            for the preallocated case; faults counted with getrusage, jbd2
 *            commits from /proc/fs/jbd2/<dev>-8/info
 *
 * Two passes.  "off": syncdax with fault-around and sync-ahead off, the
 * kernel's mapping placed 4 KiB past a 2 MiB boundary (every page its own
 * fault, as in 2017).  "on": syncdax with fault-around (16 pages, 2 MiB
 * where aligned) and sync-ahead (2 MiB); the kernel's mapping 2 MiB-aligned,
 * so it may map the whole file with one PMD fault.  The first store to each
 * page is what is timed.
 *
 * Every (pass, configuration, backend) runs N times (default 5),
 * interleaved; the printed histogram is that of the run with the median
 * average.  The end: the kernel's page-cache fault on tmpfs for scale, a
 * table of median averages side by side, one line
 * "ratio <configuration> syncdax/kernel=<x>" per configuration (with
 * --dir), and "data fault <backend> <configuration> <avg>..." lines with
 * every run's average for scripts (bench/kernel/run.sh takes medians over
 * several boots from them).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dax/dax.h"
#include "kernel/backend.h"
#include "syncdax.h"

#define PAGES 512u
#define PS 4096u
#define FILE_BYTES (PAGES * PS)
#define HUGE_BYTES (2u << 20)
#define LOAD_BYTES (32u << 20)
#define BUCKETS 24
#define CASES 8
#define PASSES 2
#define MAX_RUNS 101

enum backend { KERNEL, SYNCDAX, BACKENDS };

static const char *const backend_name[BACKENDS] = { "kernel", "syncdax" };

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

/* One run of one case: the first store to each page, and what it cost. */
struct run {
	uint64_t ns[PAGES];
	double avg_us;
	long long faults, commits;	/* -1: unknown */
	double pages_per_fault;
	unsigned long long kernel_mappings;
};

/* Time the first store to each page of @map (sequential order). */
static void time_first_stores(uint8_t *map, uint64_t *ns)
{
	for (unsigned i = 0; i < PAGES; i++) {
		uint64_t t0 = bench_now_ns();

		*(volatile uint8_t *)(map + i * PS) = (uint8_t)i;
		ns[i] = bench_now_ns() - t0;
	}
}

static double average_us(const uint64_t *ns)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < PAGES; i++)
		sum += ns[i];
	return sum / 1e3 / PAGES;
}

/* min/avg/max and the log2 histogram, in microseconds. */
static void print_latencies(const char *title, const uint64_t *ns)
{
	unsigned hist[BUCKETS] = { 0 };
	uint64_t min = UINT64_MAX, max = 0;

	for (unsigned i = 0; i < PAGES; i++) {
		uint64_t us = ns[i] / 1000;
		unsigned b = 0;

		while (b + 1 < BUCKETS && us >> b)
			b++;
		hist[b]++;
		min = ns[i] < min ? ns[i] : min;
		max = ns[i] > max ? ns[i] : max;
	}
	printf("%s:\nmin=%.1f avg=%.1f max=%.1f\n", title, min / 1e3,
	       average_us(ns), max / 1e3);
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

static struct fault_case case_of(unsigned i)
{
	return (struct fault_case){ !(i & 4), i & 2, i & 1 };
}

/* "prealloc-noload-sync", with "+ahead" in the second pass. */
static void case_key(char *buf, size_t n, unsigned pass, unsigned i)
{
	struct fault_case c = case_of(i);

	snprintf(buf, n, "%s-%s-%s%s", c.is_prealloc ? "prealloc" : "empty",
		 c.has_load ? "load" : "noload", c.is_sync ? "sync" : "nosync",
		 pass ? "+ahead" : "");
}

/* Page faults of this thread (a DAX fault that allocates counts major). */
static long long thread_faults(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_THREAD, &ru) ? -1 : ru.ru_minflt + ru.ru_majflt;
}

/* The timed part, under the background load if the case has one. */
static int timed_stores(const struct fault_case *c, uint8_t *map,
			struct run *r)
{
	pthread_t load;

	__atomic_store_n(&load_stop, 0, __ATOMIC_RELAXED);
	if (c->has_load && pthread_create(&load, NULL, copy_loop, NULL))
		return -EAGAIN;
	time_first_stores(map, r->ns);
	if (c->has_load) {
		__atomic_store_n(&load_stop, 1, __ATOMIC_RELAXED);
		pthread_join(load, NULL);
	}
	r->avg_us = average_us(r->ns);
	return 0;
}

static int run_syncdax(struct sdx_fs *fs, const struct fault_case *c,
		       struct run *r)
{
	int flags = c->is_sync ? MAP_SHARED_VALIDATE | MAP_SYNC : MAP_SHARED;
	struct sdx_dax_stats st;
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
	sdx_dax_reset_stats();
	err = timed_stores(c, map, r);
	sdx_dax_get_stats(&st);
	r->faults = (long long)(st.faults_write + st.faults_mkwrite);
	r->commits = (long long)st.commits;
	r->pages_per_fault = (double)st.pages_mapped /
			     (double)(r->faults + (r->faults == 0));
	r->kernel_mappings = st.kernel_mappings;
	sdx_munmap(map, FILE_BYTES);
out_close:
	if (err)
		fprintf(stderr, "bench_faultlat: syncdax: %s\n",
			sdx_strerror_detail());
	if (fd >= 0)
		sdx_close(fs, fd);
	sdx_unlink(fs, "/bench");
	return err;
}

/*
 * The kernel's file mapped at a 2 MiB boundary (@is_aligned) or 4 KiB past
 * one, inside a PROT_NONE reservation that *@resv keeps (unmapped whole).
 */
static uint8_t *map_kernel(int fd, int flags, bool is_aligned, void **resv)
{
	uintptr_t at;

	*resv = mmap(NULL, 2 * HUGE_BYTES + FILE_BYTES, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (*resv == MAP_FAILED)
		return MAP_FAILED;
	at = ((uintptr_t)*resv + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1);
	if (!is_aligned)
		at += PS;
	return mmap((void *)at, FILE_BYTES, PROT_READ | PROT_WRITE,
		    flags | MAP_FIXED, fd, 0);
}

static int run_kernel(const char *dir, unsigned pass,
		      const struct fault_case *c, struct run *r)
{
	int flags = c->is_sync ? MAP_SHARED_VALIDATE | MAP_SYNC : MAP_SHARED;
	long long faults0, commits0;
	char path[4096];
	uint8_t *map;
	void *resv;
	int fd, err = -1;

	snprintf(path, sizeof(path), "%s/faultlat-%d", dir, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		goto out;
	if (ftruncate(fd, FILE_BYTES) ||
	    (c->is_prealloc && (errno = posix_fallocate(fd, 0, FILE_BYTES))) ||
	    fsync(fd))
		goto out_close;
	map = map_kernel(fd, flags, pass == 1, &resv);
	if (map == MAP_FAILED)
		goto out_unmap;
	faults0 = thread_faults();
	commits0 = bench_jbd2_commits(dir);
	err = timed_stores(c, map, r);
	r->faults = thread_faults() - faults0;
	r->commits = commits0 < 0 ? -1 : bench_jbd2_commits(dir) - commits0;
	r->pages_per_fault = (double)PAGES /
			     (double)(r->faults + (r->faults <= 0));
	r->kernel_mappings = 0;
out_unmap:
	if (resv != MAP_FAILED)
		munmap(resv, 2 * HUGE_BYTES + FILE_BYTES);
out_close:
	close(fd);
	unlink(path);
out:
	if (err)
		fprintf(stderr, "bench_faultlat: kernel: %s: %s\n", path,
			strerror(errno));
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

/*
 * The floor of any user-space fault: a SIGSEGV handler that maps the
 * faulting page of a written file with mmap(MAP_FIXED) and returns, with
 * no file system work - what syncdax's fault costs before its own code.
 */
static int floor_fd = -1;
static uint8_t *floor_base;

static void floor_handler(int sig, siginfo_t *si, void *uc)
{
	uintptr_t page = (uintptr_t)si->si_addr & ~(uintptr_t)(PS - 1);

	(void)sig;
	(void)uc;
	if (mmap((void *)page, PS, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, floor_fd,
		 (off_t)(page - (uintptr_t)floor_base)) == MAP_FAILED)
		abort();
}

static int run_fault_floor(const char *path)
{
	struct sigaction sa = { .sa_sigaction = floor_handler,
				.sa_flags = SA_SIGINFO }, old;
	uint64_t ns[PAGES];
	char title[4200];
	int err = -1;

	floor_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (floor_fd < 0 || ftruncate(floor_fd, FILE_BYTES) ||
	    bench_fill_holes(floor_fd, FILE_BYTES))
		goto out_close;
	floor_base = mmap(NULL, FILE_BYTES, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (floor_base == MAP_FAILED)
		goto out_close;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old) == 0) {
		time_first_stores(floor_base, ns);
		sigaction(SIGSEGV, &old, NULL);
		snprintf(title, sizeof(title), "User-space fault floor "
			 "(SIGSEGV + mmap MAP_FIXED of a written page of %s)",
			 path);
		print_latencies(title, ns);
		printf("\n");
		err = 0;
	}
	munmap(floor_base, FILE_BYTES);
out_close:
	if (floor_fd >= 0)
		close(floor_fd);
	unlink(path);
	return err;
}

/* ---- runs, medians, the report ---- */

struct results {
	unsigned runs;
	struct run *run;	/* [pass][case][backend][run] */
};

static struct run *result(struct results *res, unsigned pass, unsigned i,
			  enum backend b, unsigned k)
{
	return &res->run[((pass * CASES + i) * BACKENDS + b) * res->runs + k];
}

/* The run of a cell whose average is the median (lower middle). */
static struct run *median_run(struct results *res, unsigned pass,
			      unsigned i, enum backend b)
{
	double avg[MAX_RUNS], mid;
	unsigned k;

	for (k = 0; k < res->runs; k++)
		avg[k] = result(res, pass, i, b, k)->avg_us;
	qsort(avg, res->runs, sizeof(avg[0]), bench_cmp_double);
	mid = avg[(res->runs - 1) / 2];
	for (k = 0; result(res, pass, i, b, k)->avg_us != mid; k++)
		;
	return result(res, pass, i, b, k);
}

static void print_cell(struct results *res, unsigned pass, unsigned i,
		       enum backend b)
{
	static const char *const extra[PASSES][BACKENDS] = {
		{ ", 4 KiB faults", "" },
		{ ", 2 MiB-aligned mapping", ", fault-around + sync-ahead" },
	};
	struct fault_case c = case_of(i);
	struct run *r = median_run(res, pass, i, b);
	char title[200];

	snprintf(title, sizeof(title), "[%s] File %s, %s background load, %s"
		 "MAP_SYNC%s", backend_name[b],
		 c.is_prealloc ? "preallocated" : "empty",
		 c.has_load ? "with" : "no", c.is_sync ? "" : "no ",
		 extra[pass][b]);
	print_latencies(title, r->ns);
	printf("faults=%lld commits=%lld pages/fault=%.1f", r->faults,
	       r->commits, r->pages_per_fault);
	if (b == SYNCDAX)
		printf(" kernel mappings=%llu", r->kernel_mappings);
	printf(" (median run of %u)\n\n", res->runs);
}

static void print_summary(struct results *res, bool has_kernel)
{
	double med[PASSES][CASES][BACKENDS], v[MAX_RUNS];
	char key[64];

	for (unsigned pass = 0; pass < PASSES; pass++)
		for (unsigned i = 0; i < CASES; i++)
			for (unsigned b = 0; b < BACKENDS; b++) {
				for (unsigned k = 0; k < res->runs; k++)
					v[k] = result(res, pass, i, b, k)->avg_us;
				med[pass][i][b] = bench_median(v, res->runs);
			}
	printf("==== avg fault latency, median of %u runs (us) ====\n\n"
	       "%-28s %9s %9s %15s %12s %12s\n", res->runs, "configuration",
	       "kernel", "syncdax", "syncdax/kernel", "kernel s/ns",
	       "syncdax s/ns");
	for (unsigned pass = 0; pass < PASSES; pass++)
		for (unsigned i = 0; i < CASES; i++) {
			double *m = med[pass][i], *ns = med[pass][i & ~1u];

			case_key(key, sizeof(key), pass, i);
			printf("%-28s", key);
			if (has_kernel)
				printf(" %9.1f %9.1f %15.2f", m[KERNEL],
				       m[SYNCDAX], m[SYNCDAX] / m[KERNEL]);
			else
				printf(" %9s %9.1f %15s", "-", m[SYNCDAX],
				       "-");
			if (i & 1 && has_kernel)
				printf(" %12.2f", m[KERNEL] / ns[KERNEL]);
			else
				printf(" %12s", "-");
			if (i & 1)
				printf(" %12.2f", m[SYNCDAX] / ns[SYNCDAX]);
			printf("\n");
		}
	printf("(s/ns: MAP_SYNC avg / no-MAP_SYNC avg of the same file "
	       "and load)\n\n");
	for (unsigned pass = 0; pass < PASSES; pass++)
		for (unsigned i = 0; i < CASES; i++)
			for (unsigned b = 0; b < BACKENDS; b++) {
				if (b == KERNEL && !has_kernel)
					continue;
				case_key(key, sizeof(key), pass, i);
				printf("data fault %s %s", backend_name[b],
				       key);
				for (unsigned k = 0; k < res->runs; k++)
					printf(" %.2f", result(res, pass, i, b,
							       k)->avg_us);
				printf("\n");
			}
	if (!has_kernel)
		return;
	for (unsigned pass = 0; pass < PASSES; pass++)
		for (unsigned i = 0; i < CASES; i++) {
			case_key(key, sizeof(key), pass, i);
			printf("ratio %s syncdax/kernel=%.2f\n", key,
			       med[pass][i][SYNCDAX] / med[pass][i][KERNEL]);
		}
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_faultlat [--dir DAXDIR] [--runs N] "
		"(N 1..%u)\n", MAX_RUNS);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "runs", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct sdx_dax_config config[PASSES] = {
		{ .fault_around = 1 },
		{ .fault_around = 16, .syncahead = 2u << 20, .huge = true },
	};
	struct results res = { .runs = 5 };
	const char *dax = NULL;
	char dev[4096], floor[4096], shm[64];
	struct sdx_fs *fs;
	int c, err = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			dax = optarg;
		else if (c == 'r')
			res.runs = (unsigned)strtoul(optarg, NULL, 10);
		else
			usage();
	}
	if (optind != argc || res.runs < 1 || res.runs > MAX_RUNS)
		usage();
	res.run = calloc((size_t)PASSES * CASES * BACKENDS * res.runs,
			 sizeof(*res.run));
	if (!res.run)
		return 1;
	snprintf(dev, sizeof(dev), "%s/sdxbench-%d.img",
		 dax ? dax : "/dev/shm", (int)getpid());
	snprintf(shm, sizeof(shm), "/dev/shm/sdxbench-%d.tmp", (int)getpid());
	snprintf(floor, sizeof(floor), "%s/sdxbench-%d.floor",
		 dax ? dax : "/dev/shm", (int)getpid());
	err = bench_make_device(dev, 64u << 20);
	fs = err ? NULL : sdx_mount(dev, 0);
	if (!fs) {
		fprintf(stderr, "bench_faultlat: %s: %s (%s)\n", dev,
			strerror(err ? -err : errno), sdx_strerror_detail());
		unlink(dev);
		free(res.run);
		return 1;
	}
	printf("%u single-page write faults into a %u KiB file; times in us; "
	       "syncdax on %s%s%s\n\n", PAGES, FILE_BYTES >> 10, dev,
	       dax ? ", kernel on " : "", dax ? dax : "");
	for (unsigned k = 0; k < res.runs && !err; k++)
		for (unsigned pass = 0; pass < PASSES && !err; pass++)
			for (unsigned i = 0; i < CASES && !err; i++) {
				struct fault_case c = case_of(i);

				sdx_dax_set_config(&config[pass]);
				err = run_syncdax(fs, &c, result(&res, pass, i,
								 SYNCDAX, k));
				if (dax && !err)
					err = run_kernel(dax, pass, &c,
							 result(&res, pass, i,
								KERNEL, k));
			}
	for (unsigned pass = 0; pass < PASSES && !err; pass++) {
		printf("==== fault-around and sync-ahead %s ====\n\n",
		       pass ? "on (16 pages / 2 MiB)" : "off");
		for (unsigned i = 0; i < CASES; i++)
			for (unsigned b = dax ? KERNEL : SYNCDAX; b < BACKENDS;
			     b++)
				print_cell(&res, pass, i, b);
	}
	if (!err) {
		printf("==== for scale ====\n\n");
		err = run_tmpfs(shm, false) || run_tmpfs(shm, true) ||
		      run_fault_floor(floor);
	}
	if (!err)
		print_summary(&res, dax != NULL);
	sdx_unmount(fs);
	unlink(dev);
	free(res.run);
	return err ? 1 : 0;
}
