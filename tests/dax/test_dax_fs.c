/*
 * test_dax_fs.c - syncdax mappings of real files, end to end: the
 * synchronous-fault guarantee under SIGKILL and under the crash simulation
 * (every crash point, e2fsck -fn clean after recovery), plain MAP_SHARED
 * losing what was not msync'ed, no stale data in faulted blocks, remaps
 * under live mappings, SIGBUS after truncate, and mappings used as the
 * buffers of sdx_pread/sdx_pwrite.
 *
 * Workloads that must die run in forked children; the parent holds no
 * mount of the device meanwhile (one read-write opener at a time).
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
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dax/dax.h"
#include "pmem/pmem.h"
#include "syncdax.h"
#include "testutil.h"

#define PS 4096u
#define MIB (1u << 20)
#define FILE_PAGES 4096u		/* 16 MiB sparse record file */
#define MAX_RECORDS 400u
#define RECORD_MAGIC 0x5344585245433031ull	/* "SDXREC01" */

static const char *dev;

struct record {
	uint64_t magic;
	uint32_t seq, seed;
	uint64_t page;
	uint8_t fill[40];
};

static int open_file(struct sdx_fs *fs, const char *name, uint64_t size)
{
	int fd = sdx_open(fs, name, O_RDWR | O_CREAT, 0644);

	if (fd < 0)
		fail_msg("open %s: %s", name, sdx_strerror_detail());
	if (size)
		assert_int_equal(sdx_ftruncate(fs, fd, (off_t)size), 0);
	return fd;
}

static uint8_t *map_file(struct sdx_fs *fs, int fd, size_t len, int flags)
{
	void *p = sdx_mmap(fs, NULL, len, PROT_READ | PROT_WRITE, flags, fd,
			   0);

	if (p == MAP_FAILED)
		fail_msg("mmap: %s", sdx_strerror_detail());
	return p;
}

/* The pages records go to: a permutation of the file's pages by @seed. */
static void record_pages(unsigned seed, uint32_t *pages)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (uint32_t i = 0; i < FILE_PAGES; i++)
		pages[i] = i;
	for (uint32_t i = FILE_PAGES - 1; i > 0; i--) {
		uint32_t j, t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (uint32_t)(x % (i + 1));
		t = pages[i];
		pages[i] = pages[j];
		pages[j] = t;
	}
}

static void make_record(struct record *r, unsigned seed, uint32_t seq,
			uint64_t page)
{
	r->magic = RECORD_MAGIC;
	r->seq = seq;
	r->seed = seed;
	r->page = page;
	memset(r->fill, (int)(seq * 7 + seed), sizeof(r->fill));
}

/* Offset of record @seq's copy in its page. */
#define RECORD_OFF 128u

enum record_mode { REC_MAP_SYNC, REC_SYNC_FLAG, REC_PLAIN, REC_PLAIN_MSYNC };

/*
 * The child: map the record file by @mode, store records into random pages,
 * make each durable (sdx_persist; sdx_msync after all for REC_PLAIN_MSYNC)
 * and acknowledge it on @ack; then wait to be killed.
 */
static void record_child(enum record_mode mode, unsigned seed, int ack)
{
	static uint32_t pages[FILE_PAGES];
	struct sdx_fs *fs = sdx_mount(dev, 0);
	int fd, flags = mode == REC_MAP_SYNC ?
			MAP_SHARED_VALIDATE | MAP_SYNC : MAP_SHARED;
	uint8_t *map;

	if (!fs)
		_exit(2);
	fd = sdx_open(fs, "/records", O_RDWR, 0);
	map = sdx_mmap(fs, NULL, FILE_PAGES * PS, PROT_READ | PROT_WRITE,
		       flags, fd, 0);
	if (fd < 0 || map == MAP_FAILED)
		_exit(3);
	record_pages(seed, pages);
	for (uint32_t i = 0; i < MAX_RECORDS; i++) {
		struct record *r = (struct record *)(map + pages[i] * PS +
						     RECORD_OFF);

		make_record(r, seed, i, pages[i]);
		sdx_persist(r, sizeof(*r));
		if (mode == REC_PLAIN_MSYNC && i + 1 < MAX_RECORDS)
			continue;
		if (mode == REC_PLAIN_MSYNC &&
		    sdx_msync(map, FILE_PAGES * PS, MS_SYNC))
			_exit(4);
		if (write(ack, &i, sizeof(i)) != sizeof(i))
			_exit(5);
	}
	for (;;)
		pause();
}

/* Records [0, @upto] found intact after a remount; returns how many. */
static unsigned records_found(unsigned seed, uint32_t upto)
{
	static uint32_t pages[FILE_PAGES];
	struct sdx_fs *fs = tu_mount(dev, 0);
	int fd = sdx_open(fs, "/records", O_RDONLY, 0);
	unsigned found = 0;

	assert_true(fd >= 0);
	record_pages(seed, pages);
	for (uint32_t i = 0; i <= upto && i < MAX_RECORDS; i++) {
		struct record want, got;

		make_record(&want, seed, i, pages[i]);
		assert_int_equal(sdx_pread(fs, fd, &got, sizeof(got),
					   (off_t)pages[i] * PS + RECORD_OFF),
				 sizeof(got));
		found += memcmp(&want, &got, sizeof(got)) == 0;
	}
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	return found;
}

/*
 * Run a record child, SIGKILL it after @kill_after acknowledgements (or
 * at its last), and return the highest acknowledged record (-1: none).
 * *@seconds is how long the child ran.
 */
static int run_and_kill(enum record_mode mode, unsigned seed,
			unsigned kill_after, double *seconds)
{
	struct timespec t0, t1;
	int pipefd[2], status;
	unsigned acks = 0;
	int last = -1;
	uint32_t seq;
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		record_child(mode, seed, pipefd[1]);
	}
	close(pipefd[1]);
	while (read(pipefd[0], &seq, sizeof(seq)) == sizeof(seq)) {
		last = (int)seq;
		if (++acks == kill_after || seq + 1 == MAX_RECORDS)
			break;
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	while (read(pipefd[0], &seq, sizeof(seq)) == sizeof(seq))
		last = (int)seq;
	close(pipefd[0]);
	if (!WIFSIGNALED(status))
		fail_msg("record child exited with status %d before the kill",
			 WEXITSTATUS(status));
	*seconds = (double)(t1.tv_sec - t0.tv_sec) +
		   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return last;
}

/* ---- no stale data ---- */

#define CANARY 0xc5

/* Write @mib files of 1 MiB of canary, make them durable, delete them. */
static void fill_device_with_canary_then_delete(int mib)
{
	uint8_t *buf = malloc(MIB);
	struct sdx_fs *fs;
	char name[32];

	memset(buf, CANARY, MIB);
	fs = tu_mount(dev, 0);
	for (int i = 0; i < mib; i++) {
		int fd;

		snprintf(name, sizeof(name), "/canary%d", i);
		fd = open_file(fs, name, 0);
		assert_int_equal(sdx_pwrite(fs, fd, buf, MIB, 0), MIB);
		assert_int_equal(sdx_fsync(fs, fd), 0);
		assert_int_equal(sdx_close(fs, fd), 0);
	}
	for (int i = 0; i < mib; i++) {
		snprintf(name, sizeof(name), "/canary%d", i);
		assert_int_equal(sdx_unlink(fs, name), 0);
	}
	assert_int_equal(sdx_unmount(fs), 0);
	free(buf);
}

static void expect_no_canary(const uint8_t *p, size_t len, const char *what)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] == CANARY)
			fail_msg("%s: canary byte visible at offset %zu", what,
				 i);
}

/* A fresh file system of @mib MiB holding an empty sparse record file;
 * with @canary_mib, on blocks that held that much deleted canary data. */
static void fresh_record_file(bool sync_flag, int mib, int canary_mib)
{
	struct sdx_fs *fs;
	int fd;

	tu_mkfs(dev, (uint64_t)mib * MIB);
	if (canary_mib)
		fill_device_with_canary_then_delete(canary_mib);
	fs = tu_mount(dev, 0);
	fd = open_file(fs, "/records", (uint64_t)FILE_PAGES * PS);
	if (sync_flag) {
		unsigned flags;

		assert_int_equal(sdx_getflags(fs, fd, &flags), 0);
		assert_int_equal(sdx_setflags(fs, fd, flags | FS_SYNC_FL), 0);
	}
	assert_int_equal(sdx_fsync(fs, fd), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
}

static void check_acked_records_survive(enum record_mode mode)
{
	for (unsigned seed = 1; seed <= 3; seed++) {
		unsigned kill_after = 20 + seed * 97 % 200;
		double seconds;
		int last;

		fresh_record_file(mode == REC_SYNC_FLAG, 64, 0);
		last = run_and_kill(mode, seed, kill_after, &seconds);
		assert_true(last >= 0);
		assert_int_equal(records_found(seed, (uint32_t)last),
				 (unsigned)last + 1);
	}
}

static void test_map_sync_records_survive_sigkill(void **state)
{
	(void)state;
	check_acked_records_survive(REC_MAP_SYNC);
}

static void test_sync_flag_records_survive_sigkill(void **state)
{
	(void)state;
	check_acked_records_survive(REC_SYNC_FLAG);
}

static void test_plain_shared_loses_records_until_msync(void **state)
{
	double seconds;
	int last;

	(void)state;
	fresh_record_file(false, 64, 0);
	last = run_and_kill(REC_PLAIN, 7, 100, &seconds);
	assert_true(last >= 99);
	/* Killed inside the 5 s commit interval, the blocks the faults
	 * allocated were never committed: records are lost.  (A slower run
	 * may have met the periodic commit; then nothing can be told.) */
	if (seconds < 4.0)
		assert_true(records_found(7, (uint32_t)last) <
			    (unsigned)last + 1);
	else
		print_message("# plain run took %.1f s: loss not checked\n",
			      seconds);
	fresh_record_file(false, 64, 0);
	last = run_and_kill(REC_PLAIN_MSYNC, 7, 1, &seconds);
	assert_int_equal(last, MAX_RECORDS - 1);
	assert_int_equal(records_found(7, MAX_RECORDS - 1), MAX_RECORDS);
}

/* ---- the crash simulation ---- */

#define CRASH_RECORDS 3u

/* Child: under the armed crash, store CRASH_RECORDS records through a
 * MAP_SYNC mapping, acknowledging each after sdx_persist returned. */
static void crash_child(const char *media, uint64_t at, int ack)
{
	struct sdx_crash_config cfg = { dev, media, at, SDX_CRASH_STRICT, at };
	struct sdx_fs *fs;
	uint8_t *map;
	int fd;

	if (sdx_crashsim_arm(&cfg))
		_exit(2);
	fs = sdx_mount(dev, 0);
	if (!fs)
		_exit(3);
	fd = sdx_open(fs, "/records", O_RDWR, 0);
	map = sdx_mmap(fs, NULL, 64 * PS, PROT_READ | PROT_WRITE,
		       MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
	if (fd < 0 || map == MAP_FAILED)
		_exit(4);
	for (uint32_t i = 0; i < CRASH_RECORDS; i++) {
		struct record *r = (struct record *)(map + i * 20 * PS +
						     RECORD_OFF);

		make_record(r, 1, i, i * 20);
		sdx_persist(r, sizeof(*r));
		if (write(ack, &i, sizeof(i)) != sizeof(i))
			_exit(5);
	}
	if (sdx_munmap(map, 64 * PS) || sdx_close(fs, fd) ||
	    sdx_unmount(fs))
		_exit(6);
	_exit(0);
}

/* Run the crash child crashing at drain @at; return its exit status and
 * the highest acknowledged record in *@last. */
static int run_crash(const char *media, uint64_t at, int *last)
{
	int pipefd[2], status;
	uint32_t seq;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		crash_child(media, at, pipefd[1]);
	}
	close(pipefd[1]);
	*last = -1;
	while (read(pipefd[0], &seq, sizeof(seq)) == sizeof(seq))
		*last = (int)seq;
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/*
 * Crash at every drain of the crash child, with @cfg's fault-around and
 * sync-ahead: after recovery every acknowledged record is there, no deleted
 * data shows, e2fsck -fn is clean.  Return: the crash points.
 */
static unsigned crash_at_every_point(const struct sdx_dax_config *cfg)
{
	const char *media = tu_path("dax-fs.media");
	const char *image = tu_path("dax-fs.clean");
	uint8_t *file = malloc(FILE_PAGES * PS);
	unsigned crashes = 0;
	int status, last;

	assert_int_equal(sdx_dax_set_config(cfg), 0);	/* children inherit */
	fresh_record_file(false, 24, 12);	/* small: the media is copied */
	assert_int_equal(tu_sh("cp '%s' '%s'", dev, image), 0);
	for (uint64_t at = 1;; at++) {
		struct sdx_fs *fs;
		uint8_t got[sizeof(struct record)];
		int fd;

		assert_int_equal(tu_sh("cp '%s' '%s'", image, dev), 0);
		status = run_crash(media, at, &last);
		if (status == 0)
			break;		/* past the last drain */
		assert_int_equal(status, SDX_CRASH_EXIT);
		crashes++;
		fs = tu_mount(media, 0);	/* recovery */
		fd = sdx_open(fs, "/records", O_RDONLY, 0);
		assert_true(fd >= 0);
		for (int i = 0; i <= last; i++) {
			struct record want;

			make_record(&want, 1, (uint32_t)i, (uint64_t)i * 20);
			assert_int_equal(sdx_pread(fs, fd, got, sizeof(got),
						   (off_t)i * 20 * PS +
						   RECORD_OFF), sizeof(got));
			if (memcmp(got, &want, sizeof(got)))
				fail_msg("crash at drain %llu: record %d, "
					 "acknowledged, is lost",
					 (unsigned long long)at, i);
		}
		assert_int_equal(sdx_pread(fs, fd, file, FILE_PAGES * PS, 0),
				 FILE_PAGES * PS);
		expect_no_canary(file, FILE_PAGES * PS, "after the crash");
		assert_int_equal(sdx_close(fs, fd), 0);
		assert_int_equal(sdx_unmount(fs), 0);
		if (!tu_fsck_clean(media))
			fail_msg("crash at drain %llu: e2fsck -fn not clean",
				 (unsigned long long)at);
	}
	assert_int_equal(last, (int)CRASH_RECORDS - 1);
	unlink(media);
	unlink(image);
	free(file);
	return crashes;
}

static void test_persisted_record_survives_every_crash_point(void **state)
{
	static const struct sdx_dax_config plain = { .fault_around = 1 };
	static const struct sdx_dax_config ahead = {
		.fault_around = 16, .syncahead = 2u << 20, .huge = true };
	struct sdx_dax_config saved;
	unsigned n;

	(void)state;
	sdx_dax_get_config(&saved);
	n = crash_at_every_point(&plain);	/* a commit per fault */
	assert_true(n > CRASH_RECORDS);
	print_message("# %u crash points, one commit per fault\n", n);
	n = crash_at_every_point(&ahead);	/* clusters, one commit */
	assert_true(n > CRASH_RECORDS);
	print_message("# %u crash points, fault-around + sync-ahead\n", n);
	assert_int_equal(sdx_dax_set_config(&saved), 0);
}

/* First writes through MAP_SYNC into an empty @len file (@is_prealloc:
 * fallocated first), sync-ahead of 2 MiB: how many 2 MiB runs were mapped
 * at once; the data reads back. */
static uint64_t huge_installs_writing(struct sdx_fs *fs, const char *name,
				      size_t len, bool is_prealloc)
{
	static const struct sdx_dax_config ahead = {
		.fault_around = 16, .syncahead = 2u << 20, .huge = true };
	struct sdx_dax_config saved;
	struct sdx_dax_stats st;
	int fd = open_file(fs, name, len);
	uint8_t *p, b;

	if (is_prealloc)
		assert_int_equal(sdx_fallocate(fs, fd, 0, 0, (off_t)len), 0);
	sdx_dax_get_config(&saved);
	assert_int_equal(sdx_dax_set_config(&ahead), 0);
	p = map_file(fs, fd, len, MAP_SHARED_VALIDATE | MAP_SYNC);
	sdx_dax_reset_stats();
	for (size_t off = 0; off < len; off += PS)
		p[off] = (uint8_t)(off / PS);
	sdx_dax_get_stats(&st);
	assert_int_equal(sdx_munmap(p, len), 0);
	for (size_t off = 0; off < len; off += PS) {
		assert_int_equal(sdx_pread(fs, fd, &b, 1, (off_t)off), 1);
		assert_int_equal(b, (uint8_t)(off / PS));
	}
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_dax_set_config(&saved), 0);
	return st.huge_installs;
}

/* The allocator gives a 2 MiB of the file a 2 MiB-aligned device run when
 * one is free, for faults and for fallocate alike, so a synchronous
 * mapping maps it with one huge page. */
static void test_real_allocator_gives_huge_mappings(void **state)
{
	struct sdx_fs *fs;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	fs = tu_mount(dev, 0);
	assert_int_equal(huge_installs_writing(fs, "/big", 8 * MIB, false), 4);
	assert_int_equal(huge_installs_writing(fs, "/pre", 8 * MIB, true), 4);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
}

/* With no aligned 2 MiB run free (free space in 1 MiB pieces), the same
 * writes get ordinary runs: page mappings, same data, a clean image; once
 * space is freed (the filler deleted and committed), aligned runs again. */
static void test_fragmented_space_falls_back_to_small_runs(void **state)
{
	struct sdx_fs *fs;
	off_t filled = 0;
	int fd;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	fs = tu_mount(dev, 0);
	fd = open_file(fs, "/filler", 0);
	while (sdx_fallocate(fs, fd, 0, filled, MIB) == 0)
		filled += MIB;
	assert_int_equal(errno, ENOSPC);
	for (off_t off = MIB / 2; off + MIB <= filled; off += 2 * MIB)
		assert_int_equal(sdx_fallocate(fs, fd, FALLOC_FL_PUNCH_HOLE |
					       FALLOC_FL_KEEP_SIZE, off, MIB),
				 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(huge_installs_writing(fs, "/frag", 4 * MIB, false),
			 0);
	assert_int_equal(huge_installs_writing(fs, "/frag2", 4 * MIB, false),
			 0);
	assert_int_equal(sdx_unlink(fs, "/filler"), 0);
	fd = open_file(fs, "/frag2", 0);
	assert_int_equal(sdx_fsync(fs, fd), 0);	/* the frees commit */
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(huge_installs_writing(fs, "/again", 4 * MIB, false),
			 2);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
}

static void test_faulted_blocks_never_show_deleted_data(void **state)
{
	static const int flags[] = { MAP_SHARED,
				     MAP_SHARED_VALIDATE | MAP_SYNC };
	const size_t len = 16 * MIB;
	struct sdx_fs *fs;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	fill_device_with_canary_then_delete(40);
	fs = tu_mount(dev, 0);
	for (unsigned k = 0; k < 2; k++) {
		char name[16];
		uint8_t *p;
		int fd;

		snprintf(name, sizeof(name), "/new%u", k);
		fd = open_file(fs, name, len);
		/* Half the file preallocated (unwritten), half holes. */
		assert_int_equal(sdx_fallocate(fs, fd, FALLOC_FL_KEEP_SIZE, 0,
					       (off_t)len / 2), 0);
		p = map_file(fs, fd, len, flags[k]);
		expect_no_canary(p, len / 4, "read faults");
		for (size_t off = len / 4; off < len; off += PS)
			p[off + 100] = 1;	/* write faults */
		for (size_t off = len / 4; off < len; off += PS)
			p[off + 100] = 0;
		expect_no_canary(p, len, "write faults");
		assert_int_equal(sdx_munmap(p, len), 0);
		assert_int_equal(sdx_close(fs, fd), 0);
	}
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
}

/* ---- remaps under live mappings ---- */

struct watcher {
	volatile uint8_t *addr;
	uint8_t old, new;
	int stop;
	unsigned long reads, wrong;
};

static void *watch(void *arg)
{
	struct watcher *w = arg;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		uint8_t v = *w->addr;

		if (v != w->old && v != w->new)
			__atomic_fetch_add(&w->wrong, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&w->reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

static bool read_gets_sigbus(volatile uint8_t *addr)
{
	struct sigaction sa, old;
	bool got = false;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(bus_jmp, 1) == 0)
		(void)*addr;
	else
		got = true;
	sigaction(SIGBUS, &old, NULL);
	return got;
}

static void test_punch_and_truncate_under_live_mapping(void **state)
{
	struct watcher w = { 0 };
	uint8_t *buf = malloc(64 * PS), *p;
	struct sdx_fs *fs;
	pthread_t t;
	int fd;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	fs = tu_mount(dev, 0);
	fd = open_file(fs, "/f", 0);
	for (unsigned i = 0; i < 64; i++)
		memset(buf + i * PS, 'A' + i % 26, PS);
	assert_int_equal(sdx_pwrite(fs, fd, buf, 64 * PS, 0), 64 * PS);
	p = map_file(fs, fd, 64 * PS, MAP_SHARED_VALIDATE | MAP_SYNC);
	assert_int_equal(p[10 * PS], 'A' + 10);
	w = (struct watcher){ p + 10 * PS + 5, 'A' + 10, 0, 0, 0, 0 };
	assert_int_equal(pthread_create(&t, NULL, watch, &w), 0);
	while (__atomic_load_n(&w.reads, __ATOMIC_RELAXED) == 0)
		sched_yield();
	assert_int_equal(sdx_fallocate(fs, fd, FALLOC_FL_PUNCH_HOLE |
				       FALLOC_FL_KEEP_SIZE, 8 * PS, 8 * PS),
			 0);
	assert_int_equal(p[10 * PS + 5], 0);	/* the hole, through the map */
	{
		unsigned long seen = __atomic_load_n(&w.reads,
						     __ATOMIC_RELAXED);

		while (__atomic_load_n(&w.reads, __ATOMIC_RELAXED) == seen)
			sched_yield();
	}
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(w.wrong, 0);
	assert_int_equal(p[20 * PS], 'A' + 20);
	/* Collapse the hole: page 16 moves to page 8 under the mapping. */
	assert_int_equal(sdx_fallocate(fs, fd, FALLOC_FL_COLLAPSE_RANGE,
				       8 * PS, 8 * PS), 0);
	assert_int_equal(p[8 * PS], 'A' + 16);
	assert_int_equal(p[20 * PS], 'A' + 28 % 26);
	/* Insert a 4-page hole at page 8: page 8's data moves to page 12. */
	assert_int_equal(sdx_fallocate(fs, fd, FALLOC_FL_INSERT_RANGE,
				       8 * PS, 4 * PS), 0);
	assert_int_equal(p[8 * PS], 0);
	assert_int_equal(p[12 * PS], 'A' + 16);
	/* Zero a range that is mapped writable: zeroes through the map. */
	p[13 * PS + 1] = 'z';
	assert_int_equal(sdx_fallocate(fs, fd, FALLOC_FL_ZERO_RANGE,
				       13 * PS, 2 * PS), 0);
	assert_int_equal(p[13 * PS + 1], 0);
	assert_int_equal(p[15 * PS], 'A' + 19);
	/* Truncate: beyond the new end the mapping raises SIGBUS. */
	assert_int_equal(sdx_ftruncate(fs, fd, 4 * PS), 0);
	assert_false(read_gets_sigbus(p + 3 * PS));
	assert_true(read_gets_sigbus(p + 5 * PS));
	assert_int_equal(sdx_munmap(p, 64 * PS), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	free(buf);
}

/* A private mapping's copies of pages a truncate cuts off go with them:
 * SIGBUS there, and after the file grows again the page shows the file
 * (zeroes), not the old copy; a copy inside the new size stays. */
static void test_truncate_drops_private_copies_beyond_eof(void **state)
{
	uint8_t *buf = malloc(8 * PS), *p;
	struct sdx_fs *fs;
	int fd;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	fs = tu_mount(dev, 0);
	fd = open_file(fs, "/priv", 0);
	memset(buf, 'F', 8 * PS);
	assert_int_equal(sdx_pwrite(fs, fd, buf, 8 * PS, 0), 8 * PS);
	p = map_file(fs, fd, 8 * PS, MAP_PRIVATE);
	p[PS] = 'c';				/* private copies */
	p[5 * PS] = 'c';
	p[7 * PS + 9] = 'c';
	assert_int_equal(sdx_ftruncate(fs, fd, 4 * PS), 0);
	assert_int_equal(p[PS], 'c');		/* inside: stays */
	assert_int_equal(p[PS + 1], 'F');
	assert_true(read_gets_sigbus(p + 5 * PS));
	assert_true(read_gets_sigbus(p + 7 * PS + 9));
	assert_int_equal(sdx_ftruncate(fs, fd, 8 * PS), 0);
	assert_int_equal(p[5 * PS], 0);		/* the file's hole */
	assert_int_equal(p[7 * PS + 9], 0);
	assert_int_equal(p[PS], 'c');
	assert_int_equal(sdx_pread(fs, fd, buf, PS, PS), PS);
	assert_int_equal(buf[0], 'F');		/* never reached the file */
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	free(buf);
}

/* ---- online defrag ---- */

/* Extents of @path in the image, as debugfs counts them. */
static int extent_count(const char *path)
{
	char *out = tu_capture("debugfs -R 'ex %s' '%s' 2>/dev/null | "
			       "grep -c '^ *[0-9]/'", path, dev);
	int n = atoi(out);

	free(out);
	return n;
}

/* What sdx_defrag reported through its progress callback. */
struct progress_log {
	unsigned calls;
	uint64_t done, total;
	bool is_increasing;		/* done grew, total stayed */
};

static void log_progress(uint64_t done, uint64_t total, void *arg)
{
	struct progress_log *pl = arg;

	if (pl->calls && (done <= pl->done || total != pl->total))
		pl->is_increasing = false;
	pl->calls++;
	pl->done = done;
	pl->total = total;
}

/* Defrag moves the pieces under a live mapping, reports its progress
 * (increasing, ending at done == total), and a second one moves nothing. */
static void test_defrag_under_live_mapping_keeps_contents(void **state)
{
	enum { PAGES = 256 };
	uint8_t *want = malloc(PAGES * PS), *got = malloc(PAGES * PS), *p;
	struct progress_log pl = { .is_increasing = true };
	struct watcher w;
	struct sdx_fs *fs;
	pthread_t t;
	int fa, fb;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	fs = tu_mount(dev, 0);
	fa = open_file(fs, "/a", 0);
	fb = open_file(fs, "/b", 0);
	for (size_t i = 0; i < PAGES * PS; i++)
		want[i] = (uint8_t)(i * 31 + i / PS);
	for (unsigned i = 0; i < PAGES; i++) {	/* interleaved: fragmented */
		assert_int_equal(sdx_pwrite(fs, fa, want + i * PS, PS,
					    (off_t)i * PS), PS);
		assert_int_equal(sdx_pwrite(fs, fb, want, PS, (off_t)i * PS),
				 PS);
	}
	assert_int_equal(sdx_fsync(fs, fa), 0);
	p = map_file(fs, fa, PAGES * PS, MAP_SHARED_VALIDATE | MAP_SYNC);
	assert_memory_equal(p, want, PAGES * PS);
	w = (struct watcher){ p + 77 * PS + 3, want[77 * PS + 3],
			      want[77 * PS + 3], 0, 0, 0 };
	assert_int_equal(pthread_create(&t, NULL, watch, &w), 0);
	while (__atomic_load_n(&w.reads, __ATOMIC_RELAXED) == 0)
		sched_yield();
	if (sdx_defrag(fs, fa, log_progress, &pl))
		fail_msg("defrag: %s", sdx_strerror_detail());
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(w.wrong, 0);
	assert_memory_equal(p, want, PAGES * PS);	/* same addresses */
	p[5 * PS] = 0x42;				/* the new blocks */
	want[5 * PS] = 0x42;
	assert_int_equal(sdx_pread(fs, fa, got, PAGES * PS, 0), PAGES * PS);
	assert_memory_equal(got, want, PAGES * PS);
	if (pl.calls < 3 || !pl.is_increasing || pl.done != PAGES ||
	    pl.total != PAGES)
		fail_msg("progress: %u calls, %s, last %llu of %llu; expected "
			 "increasing, ending at %u of %u", pl.calls,
			 pl.is_increasing ? "increasing" : "not increasing",
			 (unsigned long long)pl.done,
			 (unsigned long long)pl.total, PAGES, PAGES);
	pl = (struct progress_log){ .is_increasing = true };
	assert_int_equal(sdx_defrag(fs, fa, log_progress, &pl), 0);
	assert_int_equal(pl.calls, 1);		/* one run already */
	assert_int_equal(pl.done, PAGES);
	assert_int_equal(pl.total, PAGES);
	assert_int_equal(sdx_munmap(p, PAGES * PS), 0);
	assert_int_equal(sdx_close(fs, fa), 0);
	assert_int_equal(sdx_close(fs, fb), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_int_equal(extent_count("/a"), 1);
	assert_true(tu_fsck_clean(dev));
	free(want);
	free(got);
}

/* ---- threads ---- */

struct faulter {
	uint8_t *map;
	unsigned id;
};

#define THREADS 4u
#define THREAD_PAGES 512u

/* Every thread writes its id into its own slot of every page, in an order
 * of its own, so threads meet on the same pages and on different ones. */
static void *fault_pages(void *arg)
{
	struct faulter *f = arg;

	for (unsigned k = 0; k < THREAD_PAGES; k++) {
		unsigned pg = (k * (2 * f->id + 1) * 97 + f->id * 131) %
			      THREAD_PAGES;

		f->map[pg * PS + 64 * f->id] = (uint8_t)(f->id + 1);
		sdx_persist(f->map + pg * PS + 64 * f->id, 1);
	}
	return NULL;
}

static void test_threads_fault_one_synchronous_file(void **state)
{
	struct faulter f[THREADS];
	pthread_t t[THREADS];
	uint8_t *map, *got = malloc(THREAD_PAGES * PS);
	struct sdx_fs *fs;
	int fd;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	fs = tu_mount(dev, 0);
	fd = open_file(fs, "/t", THREAD_PAGES * PS);
	map = map_file(fs, fd, THREAD_PAGES * PS,
		       MAP_SHARED_VALIDATE | MAP_SYNC);
	for (unsigned i = 0; i < THREADS; i++) {
		f[i] = (struct faulter){ map, i };
		assert_int_equal(pthread_create(&t[i], NULL, fault_pages,
						&f[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(sdx_munmap(map, THREAD_PAGES * PS), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	fs = tu_mount(dev, 0);
	fd = sdx_open(fs, "/t", O_RDONLY, 0);
	assert_int_equal(sdx_pread(fs, fd, got, THREAD_PAGES * PS, 0),
			 THREAD_PAGES * PS);
	for (unsigned pg = 0; pg < THREAD_PAGES; pg++)
		for (unsigned i = 0; i < THREADS; i++)
			if (got[pg * PS + 64 * i] != i + 1)
				fail_msg("page %u: thread %u's byte is %u", pg,
					 i, got[pg * PS + 64 * i]);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	free(got);
}

/* ---- everything at once ---- */

#define MIX_PAGES 1024u

struct mixer {
	struct sdx_fs *fs;
	int fd;
	uint8_t *map;
	unsigned seed, rounds;
	int err;
};

/* The store threads share the lower half of the mapping (atomic stores:
 * they race for the same bytes on purpose), the I/O thread's buffers lie
 * in the upper half: a store racing with a copy would be the test's own
 * data race.  File offsets and remaps span the whole file. */
static void *mix_store(void *arg)
{
	struct mixer *x = arg;

	for (unsigned i = 0; i < x->rounds; i++) {
		unsigned pg = rand_r(&x->seed) % (MIX_PAGES / 2);

		__atomic_store_n(&x->map[pg * PS + 64 * (x->seed % 64)], 1,
				 __ATOMIC_RELAXED);
		sdx_persist(x->map + pg * PS, 64);
	}
	return NULL;
}

static void *mix_io(void *arg)
{
	struct mixer *x = arg;

	for (unsigned i = 0; i < x->rounds; i++) {
		unsigned pg = MIX_PAGES / 2 +
			      rand_r(&x->seed) % (MIX_PAGES / 2 - 4);
		off_t other = (off_t)((pg * 7 + 3) % (MIX_PAGES - 4)) * PS;

		if (i % 2 ? sdx_pwrite(x->fs, x->fd, x->map + pg * PS, 3 * PS,
				       other) != 3 * PS :
		    sdx_pread(x->fs, x->fd, x->map + pg * PS, 2 * PS,
			      other) != 2 * PS)
			x->err = errno;
	}
	return NULL;
}

static void *mix_remap(void *arg)
{
	struct mixer *x = arg;

	for (unsigned i = 0; i < x->rounds; i++) {
		unsigned pg = rand_r(&x->seed) % MIX_PAGES;

		if (sdx_fallocate(x->fs, x->fd, FALLOC_FL_PUNCH_HOLE |
				  FALLOC_FL_KEEP_SIZE, (off_t)pg * PS,
				  8 * PS) ||
		    (i % 16 == 0 && sdx_defrag(x->fs, x->fd, NULL, NULL)) ||
		    (i % 8 == 0 && sdx_msync(x->map, MIX_PAGES * PS, MS_SYNC)))
			x->err = errno;
	}
	return NULL;
}

/* Stores with sdx_persist, pread/pwrite with the mapping as buffer, punch,
 * defrag and msync on one MAP_SYNC file at once: no crash, no deadlock, no
 * error, e2fsck clean.  (Found the fault entry believing a page state an
 * invalidation was changing under it.) */
static void test_stores_io_punch_defrag_at_once(void **state)
{
	void *(*const fn[])(void *) = { mix_store, mix_store, mix_io,
					mix_remap };
	const unsigned rounds[] = { 20000, 20000, 2000, 300 };
	struct mixer x[4];
	pthread_t t[4];
	struct sdx_fs *fs;
	uint8_t *map;
	int fd;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	fs = tu_mount(dev, 0);
	fd = open_file(fs, "/mix", MIX_PAGES * PS);
	map = map_file(fs, fd, MIX_PAGES * PS, MAP_SHARED_VALIDATE | MAP_SYNC);
	for (unsigned i = 0; i < 4; i++) {
		x[i] = (struct mixer){ fs, fd, map, i + 1, rounds[i], 0 };
		assert_int_equal(pthread_create(&t[i], NULL, fn[i], &x[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (x[i].err)
			fail_msg("thread %u: %s (%s)", i, strerror(x[i].err),
				 sdx_strerror_detail());
	}
	assert_int_equal(sdx_munmap(map, MIX_PAGES * PS), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
}

/* ---- mappings as buffers of read/write ---- */

static void test_mapping_as_io_buffer_does_not_deadlock(void **state)
{
	const size_t len = 64 * PS;
	uint8_t *buf = malloc(len), *got = malloc(len), *a, *s;
	struct sdx_fs *fs;
	int fa, fb, fs_sync;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	fs = tu_mount(dev, 0);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 13 + i / PS);
	fa = open_file(fs, "/a", 0);
	fb = open_file(fs, "/b", 0);
	fs_sync = open_file(fs, "/s", len);
	assert_int_equal(sdx_pwrite(fs, fa, buf, len, 0), (ssize_t)len);
	a = map_file(fs, fa, len, MAP_SHARED);
	s = map_file(fs, fs_sync, len, MAP_SHARED_VALIDATE | MAP_SYNC);
	/* From an unfaulted mapping into another file. */
	assert_int_equal(sdx_pwrite(fs, fb, a, len, 0), (ssize_t)len);
	assert_int_equal(sdx_pread(fs, fb, got, len, 0), (ssize_t)len);
	assert_memory_equal(got, buf, len);
	/* Into a synchronous mapping of holes: the copy faults and commits. */
	assert_int_equal(sdx_pread(fs, fa, s, len, 0), (ssize_t)len);
	assert_memory_equal(s, buf, len);
	/* The same file as source and buffer. */
	assert_int_equal(sdx_pread(fs, fa, a + len / 2, len / 2, 0),
			 (ssize_t)(len / 2));
	assert_memory_equal(a + len / 2, buf, len / 2);
	assert_int_equal(sdx_munmap(a, len), 0);
	assert_int_equal(sdx_munmap(s, len), 0);
	assert_int_equal(sdx_close(fs, fa), 0);
	assert_int_equal(sdx_close(fs, fb), 0);
	assert_int_equal(sdx_close(fs, fs_sync), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	free(buf);
	free(got);
}

static void test_mmap_refuses_bad_descriptors(void **state)
{
	struct sdx_fs *fs;
	int fd, ro;

	(void)state;
	tu_mkfs(dev, 64 * MIB);
	fs = tu_mount(dev, 0);
	fd = open_file(fs, "/f", PS);
	ro = sdx_open(fs, "/f", O_RDONLY, 0);
	assert_true(ro >= 0);
	assert_int_equal(sdx_mkdir(fs, "/d", 0755), 0);
	assert_ptr_equal(sdx_mmap(fs, NULL, PS, PROT_READ, MAP_SHARED, 99, 0),
			 MAP_FAILED);
	assert_int_equal(errno, EBADF);
	assert_ptr_equal(sdx_mmap(fs, NULL, PS, PROT_READ | PROT_WRITE,
				  MAP_SHARED, ro, 0), MAP_FAILED);
	assert_int_equal(errno, EACCES);
	assert_ptr_equal(sdx_mmap(fs, NULL, PS, PROT_READ,
				  MAP_SHARED_VALIDATE | 0x40000000, fd, 0),
			 MAP_FAILED);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(sdx_close(fs, ro), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
}

static int setup(void **state)
{
	(void)state;
	dev = tu_path("dax-fs.img");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(dev);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_sync_records_survive_sigkill),
		cmocka_unit_test(test_sync_flag_records_survive_sigkill),
		cmocka_unit_test(test_plain_shared_loses_records_until_msync),
		cmocka_unit_test(
			test_persisted_record_survives_every_crash_point),
		cmocka_unit_test(test_faulted_blocks_never_show_deleted_data),
		cmocka_unit_test(test_punch_and_truncate_under_live_mapping),
		cmocka_unit_test(
			test_truncate_drops_private_copies_beyond_eof),
		cmocka_unit_test(
			test_defrag_under_live_mapping_keeps_contents),
		cmocka_unit_test(test_threads_fault_one_synchronous_file),
		cmocka_unit_test(test_stores_io_punch_defrag_at_once),
		cmocka_unit_test(test_mapping_as_io_buffer_does_not_deadlock),
		cmocka_unit_test(test_mmap_refuses_bad_descriptors),
		cmocka_unit_test(test_real_allocator_gives_huge_mappings),
		cmocka_unit_test(test_fragmented_space_falls_back_to_small_runs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
