/*
 * test_enospc.c - a full device and a full inode table: writes come back
 * short and then with ENOSPC, creates and mkdirs fail with ENOSPC without
 * leaking an inode or a block, the space is usable again after deletes,
 * and e2fsck -fn calls the image clean at every stage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syncdax.h"
#include "fs/fs.h"
#include "testutil.h"

#define MIB (1u << 20)

static const char *dev;

static int setup(void **state)
{
	(void)state;
	dev = tu_path("enospc.img");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(dev);
	return 0;
}

static void unmount_clean(struct sdx_fs *fs)
{
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(dev));
}

/* Write @path until the device is full; return the bytes written. */
static uint64_t fill(struct sdx_fs *fs, const char *path)
{
	static uint8_t chunk[256 * 1024];
	uint64_t done = 0;
	int fd = sdx_open(fs, path, O_CREAT | O_WRONLY, 0644);

	assert_true(fd >= 0);
	memset(chunk, 0x5A, sizeof(chunk));
	for (;;) {
		ssize_t r = sdx_pwrite(fs, fd, chunk, sizeof(chunk),
				       (off_t)done);

		if (r < 0) {
			assert_int_equal(errno, ENOSPC);
			break;
		}
		assert_true(r > 0);
		done += (uint64_t)r;
	}
	assert_int_equal(sdx_close(fs, fd), 0);
	return done;
}

static void test_full_device_fails_cleanly_and_recovers(void **state)
{
	struct sdx_fs *fs;
	uint64_t written, again;
	struct stat st;
	uint8_t buf[4096];
	int fd, i;

	(void)state;
	tu_mkfs(dev, 16 * MIB);
	fs = tu_mount(dev, 0);
	written = fill(fs, "/fill");
	assert_true(written > 8 * MIB);
	assert_int_equal(sdx_stat(fs, "/fill", &st), 0);
	assert_int_equal(st.st_size, (off_t)written);
	/* directories need blocks too; a failed mkdir leaves nothing */
	for (i = 0; i < 64; i++) {
		char name[32];

		snprintf(name, sizeof(name), "/d%d", i);
		if (sdx_mkdir(fs, name, 0755) != 0)
			break;
	}
	assert_true(i < 64);
	assert_int_equal(errno, ENOSPC);
	fd = sdx_open(fs, "/fill", O_RDWR, 0);
	assert_int_equal(sdx_fallocate(fs, fd, 0, (off_t)written,
				       4 * MIB), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(sdx_pread(fs, fd, buf, sizeof(buf), 4096), 4096);
	assert_int_equal(buf[100], 0x5A);
	assert_int_equal(sdx_close(fs, fd), 0);
	unmount_clean(fs);

	fs = tu_mount(dev, 0);
	assert_int_equal(sdx_unlink(fs, "/fill"), 0);
	fd = sdx_open(fs, "/", O_RDONLY, 0);
	assert_int_equal(sdx_fsync(fs, fd), 0);	/* frees become usable */
	assert_int_equal(sdx_close(fs, fd), 0);
	again = fill(fs, "/fill2");
	if (again + 64 * 4096 < written)
		fail_msg("refill: %llu bytes, first fill %llu",
			 (unsigned long long)again,
			 (unsigned long long)written);
	unmount_clean(fs);
}

static void test_full_inode_table_fails_cleanly_and_recovers(void **state)
{
	struct sdx_fs *fs;
	char name[64];
	unsigned made = 0;
	int fd;

	(void)state;
	tu_mkfs(dev, 8 * MIB);
	fs = tu_mount(dev, 0);
	assert_int_equal(sdx_mkdir(fs, "/many", 0755), 0);
	for (;;) {
		snprintf(name, sizeof(name), "/many/file%u", made);
		fd = sdx_open(fs, name, O_CREAT | O_WRONLY, 0644);
		if (fd < 0)
			break;
		assert_int_equal(sdx_close(fs, fd), 0);
		made++;
	}
	assert_int_equal(errno, ENOSPC);
	assert_true(made > 100);
	assert_int_equal(sdx_mkdir(fs, "/another", 0755), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(sdx_symlink(fs, "many", "/link"), -1);
	assert_int_equal(errno, ENOSPC);
	unmount_clean(fs);

	fs = tu_mount(dev, 0);
	assert_int_equal(sdx_unlink(fs, "/many/file7"), 0);
	fd = sdx_open(fs, "/many", O_RDONLY, 0);
	assert_int_equal(sdx_fsync(fs, fd), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_mkdir(fs, "/another", 0755), 0);
	unmount_clean(fs);
}

/* A file system smaller than 2 MiB (no journal) has no aligned 2 MiB run
 * for a fallocate of 2 MiB: ENOSPC as in Linux, not EINVAL. */
static void test_fallocate_past_a_tiny_file_system_is_enospc(void **state)
{
	struct sdx_fs *fs;
	int fd;

	(void)state;
	assert_int_equal(tu_sh("rm -f '%s' && truncate -s 1536K '%s' && "
			       "mkfs.ext4 -q -F -b 4096 -I 256 -O ^has_journal "
			       "'%s' >/dev/null 2>&1", dev, dev, dev), 0);
	fs = tu_mount(dev, 0);
	fd = sdx_open(fs, "/f", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(sdx_fallocate(fs, fd, 0, 0, 2 * MIB), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(sdx_close(fs, fd), 0);
	unmount_clean(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_device_fails_cleanly_and_recovers),
		cmocka_unit_test(
			test_full_inode_table_fails_cleanly_and_recovers),
		cmocka_unit_test(
			test_fallocate_past_a_tiny_file_system_is_enospc),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
