/*
 * test_stats.c - the published statistics page of a mount (lib/statpage.h)
 * read through sdx_statpage_read, the reader `syncdax stats` uses: its
 * figures are the live counters (equal to sdx_dax_get_stats and
 * sdx_journal_get_stats for a process with one mount), each mount has its
 * own page, unmount removes it, a SIGKILLed owner's page reads as "not
 * mounted" and is removed, and a corrupt page is an error, not a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dax/dax.h"
#include "fs/fs.h"
#include "lib/statpage.h"
#include "syncdax.h"
#include "testutil.h"

#define PS 4096u
#define PAGES 8u
#define DEV_SIZE (64u << 20)

/* Faults counted one by one: no fault-around, no sync-ahead. */
static void one_page_per_fault(struct sdx_dax_config *saved)
{
	struct sdx_dax_config cfg;

	sdx_dax_get_config(saved);
	cfg = *saved;
	cfg.fault_around = 1;
	cfg.syncahead = 0;
	cfg.huge = false;
	assert_int_equal(sdx_dax_set_config(&cfg), 0);
}

/* A new sparse file of @pages pages, open read-write. */
static int sparse_file(struct sdx_fs *fs, const char *name, unsigned pages)
{
	int fd = sdx_open(fs, name, O_RDWR | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(sdx_ftruncate(fs, fd, (off_t)pages * PS), 0);
	return fd;
}

/* Store into each of @pages pages of a new sparse file through a MAP_SYNC
 * mapping: one write fault and one commit (a hole each) per page. */
static void write_faults(struct sdx_fs *fs, const char *name, unsigned pages)
{
	int fd = sparse_file(fs, name, pages);
	volatile uint8_t *map;

	map = sdx_mmap(fs, NULL, (size_t)pages * PS, PROT_READ | PROT_WRITE,
		       MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
	assert_true(map != MAP_FAILED);
	for (unsigned i = 0; i < pages; i++)
		map[(size_t)i * PS] = (uint8_t)(i + 1);
	assert_int_equal(sdx_munmap((void *)map, (size_t)pages * PS), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
}

/* The live mappings the page of @dev counts. */
static uint64_t live_mappings(const char *dev)
{
	struct sdx_statpage pg;

	assert_int_equal(sdx_statpage_read(dev, &pg), 0);
	return pg.mappings;
}

static void test_page_counts_live_mappings(void **state)
{
	const char *dev = tu_path("maps");
	void *m1, *m2, *m3;
	struct sdx_fs *fs;
	int fd;

	(void)state;
	tu_mkfs(dev, DEV_SIZE);
	fs = tu_mount(dev, 0);
	fd = sparse_file(fs, "/m", PAGES);
	assert_int_equal(live_mappings(dev), 0);
	m1 = sdx_mmap(fs, NULL, PAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
	m2 = sdx_mmap(fs, NULL, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	assert_true(m1 != MAP_FAILED && m2 != MAP_FAILED);
	assert_int_equal(live_mappings(dev), 2);
	/* A refused mapping is not counted. */
	m3 = sdx_mmap(fs, NULL, PS, PROT_READ, MAP_SHARED, fd, 1);
	assert_true(m3 == MAP_FAILED);
	assert_int_equal(live_mappings(dev), 2);
	assert_int_equal(sdx_munmap(m1, PAGES * PS), 0);
	assert_int_equal(live_mappings(dev), 1);
	assert_int_equal(sdx_munmap(m2, PS), 0);
	assert_int_equal(live_mappings(dev), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	unlink(dev);
}

/* The page of @dev, as a reader in another process sees it. */
static struct sdx_statpage read_page(const char *dev)
{
	struct sdx_statpage pg;

	assert_int_equal(sdx_statpage_read(dev, &pg), 0);
	return pg;
}

/* The file system's gauges follow its free counts and open descriptors. */
static void test_page_gauges_follow_the_file_system(void **state)
{
	const char *dev = tu_path("gauges");
	struct statvfs sv;
	struct sdx_fs *fs;
	int fd, fd2;

	(void)state;
	tu_mkfs(dev, DEV_SIZE);
	fs = tu_mount(dev, 0);
	assert_int_equal(sdx_statvfs(fs, "/", &sv), 0);
	assert_int_equal(read_page(dev).fs.free_blocks, sv.f_bfree);
	assert_int_equal(read_page(dev).fs.free_inodes, sv.f_ffree);
	assert_int_equal(read_page(dev).fs.open_files, 0);
	fd = sparse_file(fs, "/g", PAGES);
	fd2 = sdx_open(fs, "/g", O_RDONLY, 0);
	assert_true(fd2 >= 0);
	assert_int_equal(read_page(dev).fs.open_files, 2);
	assert_int_equal(sdx_fallocate(fs, fd, 0, 0, PAGES * PS), 0);
	assert_int_equal(sdx_statvfs(fs, "/", &sv), 0);
	assert_int_equal(read_page(dev).fs.free_blocks, sv.f_bfree);
	assert_int_equal(read_page(dev).fs.free_inodes, sv.f_ffree);
	assert_int_equal(sdx_close(fs, fd2), 0);
	assert_int_equal(read_page(dev).fs.open_files, 1);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(read_page(dev).fs.open_files, 0);
	assert_int_equal(sdx_unmount(fs), 0);
	unlink(dev);
}

/* msync and a remap under a mapping count for the mapping's mount. */
static void test_msync_and_remaps_count_for_their_mount(void **state)
{
	const char *dev = tu_path("msync");
	struct sdx_dax_config saved;
	volatile uint8_t *map;
	struct sdx_fs *fs;
	int fd;

	(void)state;
	one_page_per_fault(&saved);
	tu_mkfs(dev, DEV_SIZE);
	fs = tu_mount(dev, 0);
	fd = sparse_file(fs, "/w", PAGES);
	map = sdx_mmap(fs, NULL, PAGES * PS, PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	for (unsigned i = 0; i < PAGES; i++)
		map[(size_t)i * PS] = 1;
	assert_int_equal(sdx_msync((void *)map, PAGES * PS, MS_SYNC), 0);
	assert_int_equal(read_page(dev).dax.msync_pages, PAGES);
	assert_int_equal(sdx_fallocate(fs, fd, FALLOC_FL_PUNCH_HOLE |
				       FALLOC_FL_KEEP_SIZE, 0, 2 * PS), 0);
	assert_int_equal(read_page(dev).dax.invalidated_pages, 2);
	assert_int_equal(sdx_munmap((void *)map, PAGES * PS), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_int_equal(sdx_dax_set_config(&saved), 0);
	unlink(dev);
}

static void page_name(const char *device, char *buf, size_t n)
{
	struct stat st;

	assert_int_equal(stat(device, &st), 0);
	sdx_statpage_name(st.st_dev, st.st_ino, buf, n);
}

static void test_published_figures_are_the_live_counters(void **state)
{
	const char *dev = tu_path("live");
	struct sdx_journal_stats js;
	struct sdx_dax_config saved;
	struct sdx_dax_stats ds;
	struct sdx_statpage pg;
	struct sdx_fs *fs;

	(void)state;
	tu_mkfs(dev, DEV_SIZE);
	one_page_per_fault(&saved);
	sdx_dax_reset_stats();
	fs = tu_mount(dev, 0);
	write_faults(fs, "/f", PAGES);

	/* The journal's thread commits under fs->lock: hold it so both
	 * views are of one moment. */
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(sdx_statpage_read(dev, &pg), 0);
	sdx_journal_get_stats(fs->journal, &js);
	pthread_mutex_unlock(&fs->lock);
	sdx_dax_get_stats(&ds);

	assert_int_equal(pg.pid, getpid());
	assert_string_equal(pg.device, dev);
	assert_int_equal(pg.mode, 0);
	assert_int_equal(pg.dax.faults_write, PAGES);
	assert_true(pg.dax.commits >= PAGES);
	ds.kernel_mappings = 0;	/* the owner's own view only */
	assert_memory_equal(&pg.dax, &ds, sizeof(ds));
	assert_memory_equal(&pg.journal, &js, sizeof(js));
	assert_true(pg.journal.commits >= pg.dax.commits);
	assert_true(pg.journal.log_blocks > 0);
	assert_true(pg.journal.log_used <= pg.journal.log_blocks);
	assert_int_equal(pg.latency.count, PAGES);
	assert_true(pg.latency.max_ns > 0);
	assert_true(pg.latency.max_ns <= pg.latency.total_ns);

	assert_int_equal(sdx_unmount(fs), 0);
	assert_int_equal(sdx_dax_set_config(&saved), 0);
	unlink(dev);
}

static void test_each_mount_has_its_own_page(void **state)
{
	const char *a = tu_path("a"), *b = tu_path("b");
	struct sdx_statpage pa, pb;
	struct sdx_dax_config saved;
	struct sdx_fs *fa, *fb;

	(void)state;
	tu_mkfs(a, DEV_SIZE);
	tu_mkfs(b, DEV_SIZE);
	one_page_per_fault(&saved);
	fa = tu_mount(a, 0);
	fb = tu_mount(b, 0);
	write_faults(fa, "/f", PAGES);
	write_faults(fb, "/g", 3);

	assert_int_equal(sdx_statpage_read(a, &pa), 0);
	assert_int_equal(sdx_statpage_read(b, &pb), 0);
	assert_string_equal(pa.device, a);
	assert_string_equal(pb.device, b);
	assert_int_equal(pa.dax.faults_write, PAGES);
	assert_int_equal(pb.dax.faults_write, 3);
	assert_int_equal(pa.latency.count, PAGES);
	assert_int_equal(pb.latency.count, 3);

	assert_int_equal(sdx_unmount(fa), 0);
	assert_int_equal(sdx_statpage_read(a, &pa), -ENOENT);
	assert_int_equal(sdx_statpage_read(b, &pb), 0);
	assert_int_equal(sdx_unmount(fb), 0);
	assert_int_equal(sdx_dax_set_config(&saved), 0);
	unlink(a);
	unlink(b);
}

static void test_populate_counts_for_its_mount(void **state)
{
	const char *dev = tu_path("populate");
	struct sdx_statpage pg;
	struct sdx_fs *fs;
	void *map;
	int fd;

	(void)state;
	tu_mkfs(dev, DEV_SIZE);
	fs = tu_mount(dev, 0);
	fd = sparse_file(fs, "/p", PAGES);
	map = sdx_mmap(fs, NULL, PAGES * PS, PROT_READ, MAP_SHARED |
		       MAP_POPULATE, fd, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(sdx_statpage_read(dev, &pg), 0);
	assert_true(pg.dax.faults_read >= 1);
	assert_int_equal(pg.dax.pages_mapped, PAGES);
	assert_int_equal(sdx_munmap(map, PAGES * PS), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	unlink(dev);
}

static void test_unmount_removes_the_page(void **state)
{
	const char *dev = tu_path("gone");
	struct sdx_statpage pg;
	struct sdx_fs *fs;
	char name[512];

	(void)state;
	tu_mkfs(dev, DEV_SIZE);
	page_name(dev, name, sizeof(name));
	assert_int_equal(sdx_statpage_read(dev, &pg), -ENOENT);
	fs = tu_mount(dev, 0);
	assert_int_equal(access(name, F_OK), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_int_equal(access(name, F_OK), -1);
	assert_int_equal(sdx_statpage_read(dev, &pg), -ENOENT);
	assert_non_null(strstr(sdx_strerror_detail(), "mounted"));
	unlink(dev);
}

static void test_second_mount_keeps_the_first_page(void **state)
{
	const char *dev = tu_path("ro");
	struct sdx_statpage pg;
	struct sdx_fs *f1, *f2;

	(void)state;
	tu_mkfs(dev, DEV_SIZE);
	f1 = tu_mount(dev, SDX_MOUNT_RDONLY);
	f2 = tu_mount(dev, SDX_MOUNT_RDONLY);
	assert_int_equal(sdx_unmount(f2), 0);
	/* The first mount's page is still the one shown. */
	assert_int_equal(sdx_statpage_read(dev, &pg), 0);
	assert_int_equal(pg.mode, SDX_STATPAGE_RDONLY);
	assert_int_equal(sdx_unmount(f1), 0);
	assert_int_equal(sdx_statpage_read(dev, &pg), -ENOENT);
	unlink(dev);
}

/* A mount without a page of its own (the device's page is another
 * mount's) counts nowhere, so the other mount may go first. */
static void test_mapping_of_a_mount_without_a_page_outlives_the_pages_mount(
	void **state)
{
	const char *dev = tu_path("ro2");
	struct sdx_fs *f1, *f2;
	volatile uint8_t *map;
	int fd;

	(void)state;
	tu_mkfs(dev, DEV_SIZE);
	f1 = tu_mount(dev, 0);
	fd = sparse_file(f1, "/m", PAGES);
	assert_int_equal(sdx_close(f1, fd), 0);
	assert_int_equal(sdx_unmount(f1), 0);
	f1 = tu_mount(dev, SDX_MOUNT_RDONLY);
	f2 = tu_mount(dev, SDX_MOUNT_RDONLY);
	fd = sdx_open(f2, "/m", O_RDONLY, 0);
	assert_true(fd >= 0);
	map = sdx_mmap(f2, NULL, PAGES * PS, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(live_mappings(dev), 0);	/* f1's page */
	assert_int_equal(sdx_unmount(f1), 0);
	assert_int_equal(map[PS], 0);			/* a fault */
	assert_int_equal(sdx_munmap((void *)map, PAGES * PS), 0);
	assert_int_equal(sdx_close(f2, fd), 0);
	assert_int_equal(sdx_unmount(f2), 0);
	unlink(dev);
}

static void test_killed_owner_reads_as_not_mounted(void **state)
{
	const char *dev = tu_path("killed");
	struct sdx_statpage pg;
	int ready[2], status, err;
	char name[512], c = 0;
	pid_t pid;

	(void)state;
	tu_mkfs(dev, DEV_SIZE);
	page_name(dev, name, sizeof(name));
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sdx_fs *fs = sdx_mount(dev, 0);

		close(ready[0]);
		if (fs)
			write_faults(fs, "/f", 2);
		if (!fs || write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	err = sdx_statpage_read(dev, &pg);
	/* No child left behind, whatever the checks say. */
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(err, 0);
	assert_int_equal(pg.pid, pid);
	assert_true(pg.dax.faults_write >= 1);
	assert_true(WIFSIGNALED(status));
	/* Left behind, and removed by this reader (or by any mount's sweep
	 * in a test running beside this one). */
	assert_int_equal(sdx_statpage_read(dev, &pg), -ENOENT);
	assert_non_null(strstr(sdx_strerror_detail(), "no syncdax process"));
	assert_int_equal(access(name, F_OK), -1);
	unlink(dev);
}

/* A page at the device's name, locked (LIVE) by this test: @len bytes of
 * a valid page changed by @corrupt. */
static int fake_live_page(const char *name, size_t len,
			  void (*corrupt)(struct sdx_statpage *))
{
	struct sdx_statpage pg;
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	memset(&pg, 0, sizeof(pg));
	pg.magic = SDX_STATPAGE_MAGIC;
	pg.version = SDX_STATPAGE_VERSION;
	pg.size = sizeof(pg);
	corrupt(&pg);
	assert_int_equal(pwrite(fd, &pg, len, 0), (ssize_t)len);
	return fd;
}

static void bad_magic(struct sdx_statpage *pg)
{
	pg->magic = 0x1234;
}

static void bad_version(struct sdx_statpage *pg)
{
	pg->version = SDX_STATPAGE_VERSION + 1;
}

static void other_device(struct sdx_statpage *pg)
{
	pg->device_ino = 1;
	memset(pg->device, 'x', sizeof(pg->device));	/* no NUL */
}

static void test_corrupt_page_is_an_error(void **state)
{
	static void (*const corrupt[])(struct sdx_statpage *) = {
		bad_magic, bad_version, other_device, bad_magic,
	};
	const size_t lens[] = {
		sizeof(struct sdx_statpage), sizeof(struct sdx_statpage),
		sizeof(struct sdx_statpage), 100,
	};
	const char *expect[] = { "magic", "version", "another", "bytes" };
	const char *dev = tu_path("corrupt");
	struct sdx_statpage pg;
	char name[512];

	(void)state;
	tu_mkfs(dev, DEV_SIZE);
	page_name(dev, name, sizeof(name));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		int fd = fake_live_page(name, lens[i], corrupt[i]);

		assert_int_equal(sdx_statpage_read(dev, &pg), -EUCLEAN);
		if (!strstr(sdx_strerror_detail(), expect[i]))
			fail_msg("case %zu: expected \"%s\" in \"%s\"", i,
				 expect[i], sdx_strerror_detail());
		close(fd);
	}
	/* Unlocked now: a stale page, removed. */
	assert_int_equal(sdx_statpage_read(dev, &pg), -ENOENT);
	assert_int_equal(access(name, F_OK), -1);
	assert_int_equal(sdx_statpage_read("/nonexistent/device", &pg),
			 -ENOENT);
	unlink(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_published_figures_are_the_live_counters),
		cmocka_unit_test(test_each_mount_has_its_own_page),
		cmocka_unit_test(test_populate_counts_for_its_mount),
		cmocka_unit_test(test_page_counts_live_mappings),
		cmocka_unit_test(test_page_gauges_follow_the_file_system),
		cmocka_unit_test(test_msync_and_remaps_count_for_their_mount),
		cmocka_unit_test(test_unmount_removes_the_page),
		cmocka_unit_test(test_second_mount_keeps_the_first_page),
		cmocka_unit_test(
		   test_mapping_of_a_mount_without_a_page_outlives_the_pages_mount),
		cmocka_unit_test(test_killed_owner_reads_as_not_mounted),
		cmocka_unit_test(test_corrupt_page_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
