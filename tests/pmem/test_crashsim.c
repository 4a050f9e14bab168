/*
 * test_crashsim.c - the rules of the simulated crash, one test each: what
 * was flushed and drained survives; what was only written, or flushed and
 * not drained, does not (strict); eviction and tearing touch only lines
 * written and not persisted, tearing at 8-byte granularity; a crash at the
 * N-th drain is reproducible from its seed; drains are counted.
 *
 * The crashing workload runs in a forked child (the crash _exit()s it);
 * the parent inspects the media the child left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncdax.h"
#include "pmem/pmem.h"
#include "testutil.h"

#define DEV_SIZE (256u << 10)
#define LINE SDX_CACHELINE
#define NR_LINES (DEV_SIZE / LINE)

static const char *dev_path;
static const char *media_path;

/* A fresh device of zeroes, and no media. */
static int reset_device(void)
{
	int fd;

	unlink(dev_path);
	unlink(media_path);
	fd = open(dev_path, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, DEV_SIZE) != 0)
		return -1;
	return close(fd);
}

static int setup(void **state)
{
	(void)state;
	dev_path = tu_path("crash.img");
	media_path = tu_path("crash.media");
	return reset_device();
}

static int teardown(void **state)
{
	(void)state;
	unlink(dev_path);
	unlink(media_path);
	return 0;
}

typedef void workload_fn(struct sdx_dev *dev);

/*
 * Run @fn in a child on the device armed with @mode/@at/@seed; return the
 * child's exit status (SDX_CRASH_EXIT after a simulated crash).
 */
static int run_crashing(enum sdx_crash_mode mode, uint64_t at, uint64_t seed,
			workload_fn *fn)
{
	int status;
	pid_t pid;

	assert_int_equal(reset_device(), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sdx_crash_config cfg = { dev_path, media_path, at,
						mode, seed };
		struct sdx_dev *dev;

		if (sdx_crashsim_arm(&cfg) || sdx_dev_open(dev_path, 0, &dev))
			_exit(2);
		fn(dev);
		_exit(3);	/* the workload should not have returned */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static uint8_t *read_media(void)
{
	uint8_t *buf = malloc(DEV_SIZE);
	int fd = open(media_path, O_RDONLY);

	assert_non_null(buf);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, DEV_SIZE, 0), DEV_SIZE);
	close(fd);
	return buf;
}

static void fill_line(struct sdx_dev *dev, unsigned line, int c)
{
	memset(dev->base + (size_t)line * LINE, c, LINE);
}

/* Is line @line of @img all @c? */
static bool line_is(const uint8_t *img, unsigned line, int c)
{
	unsigned i;

	for (i = 0; i < LINE; i++)
		if (img[(size_t)line * LINE + i] != (uint8_t)c)
			return false;
	return true;
}

static void persist_then_write_then_drain(struct sdx_dev *dev)
{
	fill_line(dev, 0, 0x11);
	sdx_dev_persist(dev, dev->base, LINE);		/* drain 1 */
	fill_line(dev, 1, 0x22);			/* written only */
	sdx_dev_drain(dev);				/* drain 2: crash */
}

static void test_flushed_and_drained_line_survives(void **state)
{
	uint8_t *media;

	(void)state;
	assert_int_equal(run_crashing(SDX_CRASH_STRICT, 2, 1,
				      persist_then_write_then_drain),
			 SDX_CRASH_EXIT);
	media = read_media();
	assert_true(line_is(media, 0, 0x11));
	assert_true(line_is(media, 1, 0));
	free(media);
}

static void write_then_crash(struct sdx_dev *dev)
{
	fill_line(dev, 5, 0x55);
	sdx_crashsim_crash(dev);
}

static void test_written_only_line_is_lost_in_strict_mode(void **state)
{
	uint8_t *media, *cache;
	int fd;

	(void)state;
	assert_int_equal(run_crashing(SDX_CRASH_STRICT, 0, 1,
				      write_then_crash), SDX_CRASH_EXIT);
	media = read_media();
	assert_true(line_is(media, 5, 0));
	/* The device file (the cache view) did see the store. */
	cache = malloc(DEV_SIZE);
	fd = open(dev_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, cache, DEV_SIZE, 0), DEV_SIZE);
	close(fd);
	assert_true(line_is(cache, 5, 0x55));
	free(cache);
	free(media);
}

static void flush_then_crash_at_drain(struct sdx_dev *dev)
{
	fill_line(dev, 3, 0x33);
	sdx_dev_flush(dev, dev->base + 3 * LINE, LINE);
	sdx_dev_drain(dev);				/* drain 1: crash */
}

static void test_flushed_but_not_drained_line_is_lost_in_strict_mode(
	void **state)
{
	uint8_t *media;

	(void)state;
	assert_int_equal(run_crashing(SDX_CRASH_STRICT, 1, 1,
				      flush_then_crash_at_drain),
			 SDX_CRASH_EXIT);
	media = read_media();
	assert_true(line_is(media, 3, 0));
	free(media);
}

static void store_after_flush(struct sdx_dev *dev)
{
	fill_line(dev, 7, 0x77);
	sdx_dev_flush(dev, dev->base + 7 * LINE, LINE);
	fill_line(dev, 7, 0x78);	/* after the flush: not covered */
	sdx_dev_drain(dev);
	sdx_crashsim_crash(dev);
}

static void test_drain_persists_what_the_flush_saw(void **state)
{
	uint8_t *media;

	(void)state;
	assert_int_equal(run_crashing(SDX_CRASH_STRICT, 0, 1,
				      store_after_flush), SDX_CRASH_EXIT);
	media = read_media();
	assert_true(line_is(media, 7, 0x77));
	free(media);
}

/* Word @w of line @line in the unpersisted region: distinct everywhere. */
static uint64_t word_value(unsigned line, unsigned w)
{
	return ((uint64_t)line << 8 | w) * 0x9e3779b97f4a7c15ull | 1;
}

#define PERSISTED_LINES 64u		/* lines 0..63: persisted */
#define WRITTEN_END 192u		/* lines 64..191: written only */

/* Lines 0..63 persisted with 0xa5, 64..191 written only, then a crash. */
static void persisted_and_written(struct sdx_dev *dev)
{
	uint64_t *words = (uint64_t *)dev->base;
	unsigned line, w;

	memset(dev->base, 0xa5, PERSISTED_LINES * LINE);
	sdx_dev_persist(dev, dev->base, PERSISTED_LINES * LINE);
	for (line = PERSISTED_LINES; line < WRITTEN_END; line++)
		for (w = 0; w < LINE / 8; w++)
			words[line * (LINE / 8) + w] = word_value(line, w);
	sdx_crashsim_crash(dev);
}

/* Persisted and untouched lines are exactly as they were. */
static void check_persisted_and_untouched(const uint8_t *media)
{
	unsigned line;

	for (line = 0; line < PERSISTED_LINES; line++)
		assert_true(line_is(media, line, 0xa5));
	for (line = WRITTEN_END; line < NR_LINES; line++)
		assert_true(line_is(media, line, 0));
}

static void test_eviction_changes_only_unpersisted_lines_whole(void **state)
{
	const uint64_t *words;
	unsigned line, w, evicted = 0, kept = 0;
	uint8_t *media;

	(void)state;
	assert_int_equal(run_crashing(SDX_CRASH_EVICT, 0, 42,
				      persisted_and_written), SDX_CRASH_EXIT);
	media = read_media();
	words = (const uint64_t *)media;
	check_persisted_and_untouched(media);
	for (line = PERSISTED_LINES; line < WRITTEN_END; line++) {
		if (line_is(media, line, 0)) {
			kept++;
			continue;
		}
		for (w = 0; w < LINE / 8; w++)
			assert_true(words[line * (LINE / 8) + w] ==
				    word_value(line, w));
		evicted++;
	}
	/* 128 coin flips: both outcomes appear. */
	assert_true(evicted > 0 && kept > 0);
	free(media);
}

static void test_tearing_changes_only_unpersisted_lines_by_words(
	void **state)
{
	unsigned line, w, torn_lines = 0, new_words = 0;
	const uint64_t *words;
	uint8_t *media;

	(void)state;
	assert_int_equal(run_crashing(SDX_CRASH_TEAR, 0, 7,
				      persisted_and_written), SDX_CRASH_EXIT);
	media = read_media();
	words = (const uint64_t *)media;
	check_persisted_and_untouched(media);
	for (line = PERSISTED_LINES; line < WRITTEN_END; line++) {
		unsigned here = 0;

		for (w = 0; w < LINE / 8; w++) {
			uint64_t v = words[line * (LINE / 8) + w];

			/* Each word is whole: old or new, never a mix. */
			assert_true(v == 0 || v == word_value(line, w));
			here += v != 0;
		}
		new_words += here;
		torn_lines += here > 0 && here < LINE / 8;
	}
	assert_true(torn_lines > 0);
	assert_true(new_words > 0 && new_words < 128 * (LINE / 8));
	free(media);
}

/* Ten persisted lines (drains 1..10) among written-only lines. */
static void ten_drains(struct sdx_dev *dev)
{
	unsigned i;

	for (i = 0; i < 10; i++) {
		fill_line(dev, i, 0x40 + (int)i);
		/* written only: 20 lines from line 100 + 20 i */
		memset(dev->base + (100 + 20 * i) * LINE, 0x60 + (int)i,
		       20 * LINE);
		sdx_dev_persist(dev, dev->base + (size_t)i * LINE, LINE);
	}
}

static void test_crash_at_nth_drain_is_reproducible_from_the_seed(
	void **state)
{
	uint8_t *first, *again, *other;
	unsigned i;

	(void)state;
	assert_int_equal(run_crashing(SDX_CRASH_EVICT, 5, 99, ten_drains),
			 SDX_CRASH_EXIT);
	first = read_media();
	assert_int_equal(run_crashing(SDX_CRASH_EVICT, 5, 99, ten_drains),
			 SDX_CRASH_EXIT);
	again = read_media();
	assert_memory_equal(first, again, DEV_SIZE);
	assert_int_equal(run_crashing(SDX_CRASH_EVICT, 5, 100, ten_drains),
			 SDX_CRASH_EXIT);
	other = read_media();
	assert_memory_not_equal(first, other, DEV_SIZE);
	/* Drains 1..4 published lines 0..3; line 5 on was never written. */
	for (i = 0; i < 4; i++)
		assert_true(line_is(first, i, 0x40 + (int)i));
	for (i = 5; i < 10; i++)
		assert_true(line_is(first, i, 0));
	assert_true(line_is(first, 4, 0x44) || line_is(first, 4, 0));
	free(first);
	free(again);
	free(other);
}

static void test_drains_are_counted_for_a_harness(void **state)
{
	struct sdx_crash_config cfg = { dev_path, media_path, 0,
					SDX_CRASH_STRICT, 0 };
	struct sdx_dev *dev;
	uint8_t buf[1000];
	unsigned i;

	(void)state;
	assert_int_equal(sdx_crashsim_arm(&cfg), 0);
	assert_int_equal(sdx_crashsim_drains(), 0);
	assert_int_equal(sdx_dev_open(dev_path, 0, &dev), 0);
	assert_non_null(dev->crash);
	for (i = 0; i < 7; i++)
		sdx_dev_drain(dev);
	for (i = 0; i < 3; i++)
		sdx_dev_persist(dev, dev->base, 10);
	sdx_drain();
	memset(buf, 1, sizeof(buf));
	sdx_dev_memcpy_persist(dev, dev->base + 100, buf, sizeof(buf));
	sdx_dev_memset_persist(dev, dev->base + 5000, 2, 10);
	assert_int_equal(sdx_crashsim_drains(), 13);
	sdx_dev_close(dev);
	/* Arming was for one open only. */
	assert_int_equal(sdx_dev_open(dev_path, 0, &dev), 0);
	assert_null(dev->crash);
	sdx_dev_close(dev);
	assert_int_equal(sdx_crashsim_arm(NULL), 0);
}

static void copies_then_crash(struct sdx_dev *dev)
{
	uint8_t buf[1000];

	memset(buf, 0x9d, sizeof(buf));
	sdx_dev_memcpy_persist(dev, dev->base + 4096 + 3, buf, sizeof(buf));
	sdx_dev_memset_persist(dev, dev->base + 65536 + 1, 0x9e, 3000);
	sdx_dev_memset_persist(dev, dev->base + 65536 + 5000, 0x9f, 10);
	sdx_crashsim_crash(dev);
}

static void test_persist_copies_reach_the_media(void **state)
{
	uint8_t *media;
	unsigned i;

	(void)state;
	assert_int_equal(run_crashing(SDX_CRASH_STRICT, 0, 1,
				      copies_then_crash), SDX_CRASH_EXIT);
	media = read_media();
	assert_int_equal(media[4096 + 2], 0);
	for (i = 0; i < 1000; i++)
		assert_int_equal(media[4096 + 3 + i], 0x9d);
	assert_int_equal(media[4096 + 1003], 0);
	for (i = 0; i < 3000; i++)
		assert_int_equal(media[65536 + 1 + i], 0x9e);
	assert_int_equal(media[65536 + 3001], 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(media[65536 + 5000 + i], 0x9f);
	free(media);
}

/* Page 0 of a second mapping at device offset 8192, persisted through it. */
static void persist_through_alias(struct sdx_dev *dev)
{
	uint8_t *va = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
			   dev->fd, 8192);

	if (va == MAP_FAILED)
		_exit(4);
	sdx_dev_alias(dev, va, 4096, 8192);
	memset(va + 64, 0xa1, 64);
	sdx_persist(va + 64, 64);		/* public, via the alias */
	memset(dev->base + 128, 0xa2, 64);
	sdx_flush(dev->base + 128, 64);
	sdx_drain();				/* public drain */
	memset(va + 192, 0xa3, 64);		/* written only */
	sdx_crashsim_crash(dev);
}

static void test_flush_through_an_alias_reaches_its_device_offset(
	void **state)
{
	uint8_t *media;

	(void)state;
	assert_int_equal(run_crashing(SDX_CRASH_STRICT, 0, 1,
				      persist_through_alias), SDX_CRASH_EXIT);
	media = read_media();
	assert_true(line_is(media, (8192 + 64) / LINE, 0xa1));
	assert_true(line_is(media, 1, 0));
	assert_true(line_is(media, 2, 0xa2));
	assert_true(line_is(media, (8192 + 192) / LINE, 0));
	free(media);
}

#define THREADS 4
#define ROUNDS 300

static struct sdx_dev *thread_dev;

static void *persist_own_line(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg, i;
	uint8_t *line = thread_dev->base + (size_t)t * 8 * LINE;

	for (i = 1; i <= ROUNDS; i++) {
		memset(line, (int)(i & 0xff), LINE);
		sdx_dev_persist(thread_dev, line, LINE);
	}
	return NULL;
}

static void threads_persist(struct sdx_dev *dev)
{
	pthread_t th[THREADS];
	uintptr_t t;

	thread_dev = dev;
	for (t = 0; t < THREADS; t++)
		if (pthread_create(&th[t], NULL, persist_own_line, (void *)t))
			_exit(4);
	for (t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	if (sdx_crashsim_drains() != THREADS * ROUNDS)
		_exit(5);
	sdx_crashsim_crash(dev);
}

static void test_threads_flushing_at_once_all_persist(void **state)
{
	uint8_t *media;
	unsigned t;

	(void)state;
	assert_int_equal(run_crashing(SDX_CRASH_STRICT, 0, 1,
				      threads_persist), SDX_CRASH_EXIT);
	media = read_media();
	for (t = 0; t < THREADS; t++)
		assert_true(line_is(media, t * 8, ROUNDS & 0xff));
	free(media);
}

/* Child: arm from the environment only, persist line 9, drain twice. */
static int run_env_armed(const char *mode)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sdx_dev *dev;

		setenv("SDX_CRASH_DEVICE", dev_path, 1);
		setenv("SDX_CRASH_MEDIA", media_path, 1);
		setenv("SDX_CRASH_AT", "2", 1);
		setenv("SDX_CRASH_MODE", mode, 1);
		setenv("SDX_CRASH_SEED", "0x10", 1);
		if (sdx_dev_open(dev_path, 0, &dev))
			_exit(strstr(sdx_strerror_detail(), "SDX_CRASH_MODE")
			      ? 6 : 2);
		fill_line(dev, 9, 0x99);
		sdx_dev_persist(dev, dev->base + 9 * LINE, LINE);
		fill_line(dev, 10, 0xaa);
		sdx_dev_persist(dev, dev->base + 10 * LINE, LINE);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void test_crash_armed_from_the_environment(void **state)
{
	uint8_t *media;

	(void)state;
	assert_int_equal(run_env_armed("strict"), SDX_CRASH_EXIT);
	media = read_media();
	assert_true(line_is(media, 9, 0x99));
	assert_true(line_is(media, 10, 0));
	free(media);
	assert_int_equal(run_env_armed("sideways"), 6);
}

static void test_crash_simulation_refuses_a_device_that_is_not_emulated(
	void **state)
{
	struct sdx_crash_config cfg = { NULL, media_path, 1,
					SDX_CRASH_STRICT, 0 };
	struct sdx_dev *dev = NULL;
	char plain[64];
	int fd;

	(void)state;
	snprintf(plain, sizeof(plain), "/var/tmp/sdxtest-%d-crash-plain.img",
		 (int)getpid());
	cfg.device_path = plain;
	fd = open(plain, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DEV_SIZE), 0);
	close(fd);
	assert_int_equal(sdx_crashsim_arm(&cfg), 0);
	assert_int_equal(sdx_dev_open(plain, 0, &dev), -EINVAL);
	assert_null(dev);
	assert_non_null(strstr(sdx_strerror_detail(),
			       "needs an emulated device"));
	cfg.media_path = dev_path;
	cfg.device_path = dev_path;
	assert_int_equal(sdx_crashsim_arm(&cfg), 0);
	assert_int_equal(sdx_dev_open(dev_path, 0, &dev), -EINVAL);
	assert_non_null(strstr(sdx_strerror_detail(), "device itself"));
	cfg.mode = (enum sdx_crash_mode)7;
	assert_int_equal(sdx_crashsim_arm(&cfg), -EINVAL);
	assert_int_equal(sdx_crashsim_arm(NULL), 0);
	unlink(plain);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_flushed_and_drained_line_survives),
		T(test_written_only_line_is_lost_in_strict_mode),
		T(test_flushed_but_not_drained_line_is_lost_in_strict_mode),
		T(test_drain_persists_what_the_flush_saw),
		T(test_eviction_changes_only_unpersisted_lines_whole),
		T(test_tearing_changes_only_unpersisted_lines_by_words),
		T(test_crash_at_nth_drain_is_reproducible_from_the_seed),
		T(test_drains_are_counted_for_a_harness),
		T(test_persist_copies_reach_the_media),
		T(test_flush_through_an_alias_reaches_its_device_offset),
		T(test_threads_flushing_at_once_all_persist),
		T(test_crash_armed_from_the_environment),
		T(test_crash_simulation_refuses_a_device_that_is_not_emulated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
