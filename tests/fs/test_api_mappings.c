/*
 * test_api_mappings.c - the public file system calls beside live syncdax
 * mappings: fsync and fdatasync write back what a plain MAP_SHARED mapping
 * stored (it is on the media after a simulated crash), unmount refuses
 * with EBUSY while a mapping holds an inode, and calls whose arguments or
 * results lie in not-yet-faulted mappings (struct stat, flags, paths,
 * readlink buffers) do not deadlock on fs->lock, which the fault takes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs/iomap.h"
#include "pmem/pmem.h"
#include "syncdax.h"
#include "testutil.h"

#define PS 4096u
#define MIB (1u << 20)
#define WB_PAGES 16u
#define DEADLOCK_WATCHDOG_S 60	/* a hang ends the program, not CI */

static const char *dev;

static int setup(void **state)
{
	(void)state;
	dev = tu_path("api-map.img");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(dev);
	return 0;
}

/* @npages of @fd from page @first, shared, not faulted in. */
static uint8_t *map_pages(struct sdx_fs *fs, int fd, unsigned first,
			  unsigned npages)
{
	void *p = sdx_mmap(fs, NULL, (size_t)npages * PS,
			   PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			   (off_t)first * PS);

	if (p == MAP_FAILED)
		fail_msg("mmap: %s", sdx_strerror_detail());
	return p;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(0x5a ^ (i * 13) ^ (i / PS));
}

/* ---- fsync writes back non-synchronous mappings ---- */

/*
 * Child: with the crash simulation armed (only flushed and drained lines
 * reach the media), store a pattern through a plain MAP_SHARED mapping of
 * a file whose size is committed, fsync or fdatasync it, and crash.
 */
static void writeback_child(const char *media, bool is_datasync)
{
	struct sdx_crash_config cfg = { dev, media, 0, SDX_CRASH_STRICT, 1 };
	struct sdx_fs *fs;
	uint8_t *map;
	int fd;

	if (sdx_crashsim_arm(&cfg))
		_exit(2);
	fs = sdx_mount(dev, 0);
	if (!fs)
		_exit(3);
	fd = sdx_open(fs, "/wb", O_RDWR | O_CREAT, 0644);
	if (fd < 0 || sdx_ftruncate(fs, fd, WB_PAGES * PS) ||
	    sdx_fsync(fs, fd))
		_exit(4);
	map = sdx_mmap(fs, NULL, WB_PAGES * PS, PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		_exit(5);
	for (size_t i = 0; i < WB_PAGES * PS; i++)
		map[i] = pattern(i);
	if (is_datasync ? sdx_fdatasync(fs, fd) : sdx_fsync(fs, fd))
		_exit(6);
	sdx_crashsim_crash(sdx_fs_dev(fs));
}

static void check_sync_writes_back_mapping(bool is_datasync)
{
	const char *media = tu_path("api-map.media");
	const char *call = is_datasync ? "fdatasync" : "fsync";
	uint8_t *got = malloc(WB_PAGES * PS);
	struct sdx_fs *fs;
	int fd, status;
	pid_t pid;

	tu_mkfs(dev, 32 * MIB);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		writeback_child(media, is_datasync);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != SDX_CRASH_EXIT)
		fail_msg("%s child: status 0x%x, expected the simulated crash",
			 call, status);
	fs = tu_mount(media, 0);		/* journal replay */
	fd = sdx_open(fs, "/wb", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(sdx_pread(fs, fd, got, WB_PAGES * PS, 0),
			 WB_PAGES * PS);
	for (size_t i = 0; i < WB_PAGES * PS; i++)
		if (got[i] != pattern(i))
			fail_msg("after %s and a crash: byte %zu is 0x%02x, "
				 "the mapping stored 0x%02x", call, i, got[i],
				 pattern(i));
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(media));
	unlink(media);
	free(got);
}

static void test_fsync_writes_back_plain_shared_mapping(void **state)
{
	(void)state;
	check_sync_writes_back_mapping(false);
}

static void test_fdatasync_writes_back_plain_shared_mapping(void **state)
{
	(void)state;
	check_sync_writes_back_mapping(true);
}

/* ---- unmount ---- */

static void test_unmount_with_live_mapping_fails_busy(void **state)
{
	struct sdx_fs *fs;
	struct stat st;
	uint8_t *map;
	int fd;

	(void)state;
	tu_mkfs(dev, 32 * MIB);
	fs = tu_mount(dev, 0);
	fd = sdx_open(fs, "/busy", O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(sdx_ftruncate(fs, fd, 4 * PS), 0);
	map = map_pages(fs, fd, 0, 4);
	map[0] = 0x5a;
	/* closed and unlinked: only the mapping holds the inode */
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unlink(fs, "/busy"), 0);
	errno = 0;
	assert_int_equal(sdx_unmount(fs), -1);
	assert_int_equal(errno, EBUSY);
	/* still mounted, the mapping still backed by its inode */
	map[PS] = 0xa5;
	assert_int_equal(map[0], 0x5a);
	assert_int_equal(map[PS], 0xa5);
	assert_int_equal(sdx_munmap(map, 4 * PS), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));	/* the orphan was deleted */
	fs = tu_mount(dev, 0);
	assert_int_equal(sdx_stat(fs, "/busy", &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(sdx_unmount(fs), 0);
}

/* ---- caller memory that is a mapping ---- */

/* Store @s (with its NUL) at page @page of @fd through pwrite. */
static void put_string(struct sdx_fs *fs, int fd, unsigned page,
		       const char *s)
{
	assert_int_equal(sdx_pwrite(fs, fd, s, strlen(s) + 1,
				    (off_t)page * PS), (ssize_t)strlen(s) + 1);
}

enum { PG_FSTAT, PG_STAT, PG_LSTAT, PG_FLAGS, PG_PATH_TARGET, PG_PATH_LINK,
       PG_READLINK, PG_PATH_ROOT, PG_COUNT };

static void test_results_stored_into_unfaulted_mapping(void **state)
{
	uint8_t *map[PG_COUNT];
	struct sdx_fs *fs;
	struct sdx_dir *d;
	struct stat want, link;
	unsigned flags, *mapped_flags;
	char content[5000];
	int fd, target, fd2;

	(void)state;
	alarm(DEADLOCK_WATCHDOG_S);
	tu_mkfs(dev, 32 * MIB);
	fs = tu_mount(dev, 0);
	target = sdx_open(fs, "/target", O_RDWR | O_CREAT, 0640);
	assert_true(target >= 0);
	memset(content, 'x', sizeof(content));
	assert_int_equal(sdx_pwrite(fs, target, content, sizeof(content), 0),
			 sizeof(content));
	assert_int_equal(sdx_symlink(fs, "/target", "/link"), 0);
	assert_int_equal(sdx_fstat(fs, target, &want), 0);
	assert_int_equal(sdx_lstat(fs, "/link", &link), 0);
	assert_int_equal(sdx_getflags(fs, target, &flags), 0);

	fd = sdx_open(fs, "/buffers", O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(sdx_ftruncate(fs, fd, PG_COUNT * PS), 0);
	put_string(fs, fd, PG_PATH_TARGET, "/target");
	put_string(fs, fd, PG_PATH_LINK, "/link");
	put_string(fs, fd, PG_PATH_ROOT, "/");
	/* one mapping per page: no fault-around maps a page ahead */
	for (unsigned i = 0; i < PG_COUNT; i++)
		map[i] = map_pages(fs, fd, i, 1);

	assert_int_equal(sdx_fstat(fs, target, (struct stat *)map[PG_FSTAT]),
			 0);
	assert_memory_equal(map[PG_FSTAT], &want, sizeof(want));
	assert_int_equal(sdx_stat(fs, "/target", (struct stat *)map[PG_STAT]),
			 0);
	assert_memory_equal(map[PG_STAT], &want, sizeof(want));
	assert_int_equal(sdx_lstat(fs, "/link", (struct stat *)map[PG_LSTAT]),
			 0);
	assert_memory_equal(map[PG_LSTAT], &link, sizeof(link));
	mapped_flags = (unsigned *)map[PG_FLAGS];
	assert_int_equal(sdx_getflags(fs, target, mapped_flags), 0);
	assert_int_equal(*mapped_flags, flags);

	/* paths read from mappings */
	assert_int_equal(sdx_stat(fs, (char *)map[PG_PATH_TARGET], &link), 0);
	assert_int_equal(link.st_ino, want.st_ino);
	assert_int_equal(sdx_readlink(fs, (char *)map[PG_PATH_LINK],
				      (char *)map[PG_READLINK], PS), 7);
	assert_memory_equal(map[PG_READLINK], "/target", 7);
	d = sdx_opendir(fs, (char *)map[PG_PATH_ROOT]);
	assert_non_null(d);
	assert_int_equal(sdx_closedir(d), 0);
	assert_int_equal(sdx_rename(fs, (char *)map[PG_PATH_TARGET],
				    "/renamed"), 0);
	fd2 = sdx_open(fs, (char *)map[PG_PATH_TARGET], O_RDWR | O_CREAT,
		       0644);
	assert_true(fd2 >= 0);
	assert_int_equal(sdx_close(fs, fd2), 0);
	assert_int_equal(sdx_unlink(fs, (char *)map[PG_PATH_TARGET]), 0);

	for (unsigned i = 0; i < PG_COUNT; i++)
		assert_int_equal(sdx_munmap(map[i], PS), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_close(fs, target), 0);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
	alarm(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fsync_writes_back_plain_shared_mapping),
		cmocka_unit_test(
			test_fdatasync_writes_back_plain_shared_mapping),
		cmocka_unit_test(test_unmount_with_live_mapping_fails_busy),
		cmocka_unit_test(test_results_stored_into_unfaulted_mapping),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
