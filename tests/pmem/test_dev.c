/*
 * test_dev.c - sdx_dev_open tells the device kinds apart and refuses what
 * is no device; the lock keeps a second writer out; every flush kind this
 * CPU has preserves data; the persist copies handle odd sizes; aliases are
 * attributed to the right device offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncdax.h"
#include "pmem/pmem.h"
#include "testutil.h"

#define DEV_SIZE (1u << 20)

/* Create (or replace) @path as a file of @size zero bytes. */
static void make_file(const char *path, uint64_t size)
{
	int fd;

	unlink(path);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

/* A scratch path on a file system that is not tmpfs (the FILE kind). */
static const char *disk_path(const char *name)
{
	static const char *const dirs[] = { "/var/tmp", "/tmp", "." };
	static char path[256];
	struct statfs sfs;
	unsigned i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (statfs(dirs[i], &sfs) == 0 && sfs.f_type != TMPFS_MAGIC)
			break;
	if (i == sizeof(dirs) / sizeof(dirs[0]))
		fail_msg("no directory outside tmpfs for a plain file");
	snprintf(path, sizeof(path), "%s/sdxtest-%d-%s", dirs[i],
		 (int)getpid(), name);
	return path;
}

static void test_tmpfs_file_is_emulated_persistent_memory(void **state)
{
	const char *path = tu_path("emul.img");
	struct sdx_dev *dev;

	(void)state;
	make_file(path, DEV_SIZE);
	assert_int_equal(sdx_dev_open(path, 0, &dev), 0);
	assert_int_equal(dev->kind, SDX_DEV_EMULATED);
	assert_true(dev->is_persistent);
	assert_false(dev->is_rdonly);
	assert_int_not_equal(dev->flush, SDX_FLUSH_MSYNC);
	assert_int_equal(dev->size, DEV_SIZE);
	dev->base[DEV_SIZE - 1] = 0x5a;
	assert_ptr_equal(sdx_dev_lookup(dev->base + 100), dev);
	assert_ptr_equal(sdx_dev_lookup(dev->base + DEV_SIZE - 1), dev);
	assert_null(sdx_dev_lookup(dev->base + DEV_SIZE));
	assert_string_equal(sdx_dev_kind_name(dev->kind), "emulated");
	sdx_dev_close(dev);
	assert_int_equal(sdx_dev_open(path, SDX_DEV_RDONLY, &dev), 0);
	assert_true(dev->is_rdonly);
	assert_int_equal(dev->base[DEV_SIZE - 1], 0x5a);
	sdx_dev_close(dev);
	unlink(path);
}

/* Bytes of @path the file system holds (tmpfs: pages allocated). */
static uint64_t allocated_bytes(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* SDX_DEV_POPULATE=1 allocates a sparse emulated device's pages at open;
 * without it the device stays sparse until used. */
static void test_populate_allocates_emulated_device_at_open(void **state)
{
	const char *path = tu_path("populate.img");
	struct sdx_dev *dev;

	(void)state;
	make_file(path, DEV_SIZE);
	assert_int_equal(sdx_dev_open(path, 0, &dev), 0);
	assert_int_equal(allocated_bytes(path), 0);
	sdx_dev_close(dev);
	setenv("SDX_DEV_POPULATE", "1", 1);
	assert_int_equal(sdx_dev_open(path, 0, &dev), 0);
	unsetenv("SDX_DEV_POPULATE");
	assert_int_equal(allocated_bytes(path), DEV_SIZE);
	assert_int_equal(dev->base[DEV_SIZE - 1], 0);
	sdx_dev_close(dev);
	unlink(path);
}

static void test_plain_disk_file_is_file_kind_made_durable_by_msync(
	void **state)
{
	const char *path = disk_path("plain.img");
	struct sdx_dev *dev;
	char back[16] = "";
	int fd;

	(void)state;
	make_file(path, DEV_SIZE);
	assert_int_equal(sdx_dev_open(path, 0, &dev), 0);
	assert_int_equal(dev->kind, SDX_DEV_FILE);
	assert_false(dev->is_persistent);
	assert_int_equal(dev->flush, SDX_FLUSH_MSYNC);
	memcpy(dev->base + 5000, "durable by msync", 16);
	sdx_dev_persist(dev, dev->base + 5000, 16);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, back, 16, 5000), 16);
	close(fd);
	assert_memory_equal(back, "durable by msync", 16);
	/* A cache flush would not make a disk file durable: refused. */
	assert_int_equal(sdx_dev_set_flush(dev, sdx_cpu_best_flush()),
			 -EINVAL);
	assert_non_null(strstr(sdx_strerror_detail(), "msync only"));
	sdx_dev_close(dev);
	unlink(path);
}

static void test_emulate_flag_makes_a_disk_file_emulated(void **state)
{
	const char *path = disk_path("emulate.img");
	struct sdx_dev *dev;

	(void)state;
	make_file(path, DEV_SIZE);
	assert_int_equal(sdx_dev_open(path, SDX_DEV_EMULATE, &dev), 0);
	assert_int_equal(dev->kind, SDX_DEV_EMULATED);
	assert_true(dev->is_persistent);
	assert_int_equal(dev->flush, sdx_cpu_best_flush());
	sdx_dev_close(dev);
	unlink(path);
}

/* Opening @path fails with @err and a sentence containing @words. */
static void expect_refused(const char *path, unsigned flags, int err,
			   const char *words)
{
	struct sdx_dev *dev = NULL;

	assert_int_equal(sdx_dev_open(path, flags, &dev), err);
	assert_null(dev);
	if (!strstr(sdx_strerror_detail(), words))
		fail_msg("%s: expected \"%s\" in \"%s\"", path, words,
			 sdx_strerror_detail());
}

static void test_bad_paths_are_refused_with_a_sentence(void **state)
{
	const char *empty = tu_path("empty.img");
	const char *odd = tu_path("odd.img");
	char under[300];

	(void)state;
	unlink(tu_path("missing.img"));
	expect_refused(tu_path("missing.img"), 0, -ENOENT, "missing.img");
	expect_refused("/dev/shm", 0, -EINVAL, "a directory");
	expect_refused("/dev/null", 0, -EINVAL, "not a device-DAX device");
	make_file(empty, 0);
	expect_refused(empty, 0, -EINVAL, "empty device");
	make_file(odd, 4096 + 512);
	expect_refused(odd, 0, -EINVAL, "not a multiple of 4 KiB");
	snprintf(under, sizeof(under), "%s/inside", odd);
	expect_refused(under, 0, -ENOTDIR, "inside");
	expect_refused(odd, 0x100, -EINVAL, "unknown open flags");
	expect_refused("", 0, -EINVAL, "no device path");
	unlink(empty);
	unlink(odd);
}

static void test_unreadable_device_is_refused(void **state)
{
	const char *path = tu_path("noperm.img");
	struct sdx_dev *dev;
	int status;
	pid_t pid;

	(void)state;
	make_file(path, DEV_SIZE);
	assert_int_equal(chmod(path, 0), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* root reads everything: drop to nobody first */
		if (geteuid() == 0 && setuid(65534) != 0)
			_exit(2);
		_exit(sdx_dev_open(path, 0, &dev) == -EACCES &&
		      strstr(sdx_strerror_detail(), "noperm.img") ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	unlink(path);
}

/*
 * A child holds @path open with @child_flags until the parent writes to
 * the pipe; the parent's open with @flags gets @expected.
 */
static void expect_while_child_holds(const char *path, unsigned child_flags,
				     unsigned flags, int expected)
{
	int ready[2], done[2], status;
	struct sdx_dev *dev;
	char c = 0;
	pid_t pid;
	int r;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(done), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (sdx_dev_open(path, child_flags, &dev))
			_exit(2);
		if (write(ready[1], "r", 1) != 1 || read(done[0], &c, 1) != 1)
			_exit(3);
		sdx_dev_close(dev);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	r = sdx_dev_open(path, flags, &dev);
	if (r == 0)
		sdx_dev_close(dev);
	assert_int_equal(write(done[1], "d", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(ready[0]);
	close(ready[1]);
	close(done[0]);
	close(done[1]);
	assert_int_equal(r, expected);
	if (expected == -EBUSY)
		assert_non_null(strstr(sdx_strerror_detail(),
				       "in use by another process"));
}

static void test_device_open_by_another_writer_is_busy(void **state)
{
	const char *path = tu_path("locked.img");
	struct sdx_dev *dev;

	(void)state;
	make_file(path, DEV_SIZE);
	expect_while_child_holds(path, 0, 0, -EBUSY);
	expect_while_child_holds(path, 0, SDX_DEV_RDONLY, -EBUSY);
	/* The child has gone: the lock went with it. */
	assert_int_equal(sdx_dev_open(path, 0, &dev), 0);
	expect_refused(path, 0, -EBUSY, "already open in this process");
	sdx_dev_close(dev);
	unlink(path);
}

static void test_readers_share_a_device_but_keep_a_writer_out(void **state)
{
	const char *path = tu_path("shared.img");

	(void)state;
	make_file(path, DEV_SIZE);
	expect_while_child_holds(path, SDX_DEV_RDONLY, SDX_DEV_RDONLY, 0);
	expect_while_child_holds(path, SDX_DEV_RDONLY, 0, -EBUSY);
	unlink(path);
}

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed * 7 + (i >> 8));
}

static void test_each_flush_kind_of_this_cpu_preserves_data(void **state)
{
	static const enum sdx_flush_kind kinds[] = {
		SDX_FLUSH_CLWB, SDX_FLUSH_CLFLUSHOPT, SDX_FLUSH_CLFLUSH,
		SDX_FLUSH_MSYNC,
	};
	const char *path = tu_path("flush.img");
	enum sdx_flush_kind best;
	struct sdx_dev *dev;
	uint8_t *want = malloc(DEV_SIZE), *got = malloc(DEV_SIZE);
	bool found_best = false;
	unsigned i;
	int fd, r;

	(void)state;
	assert_non_null(want);
	assert_non_null(got);
	make_file(path, DEV_SIZE);
	assert_int_equal(sdx_dev_open(path, 0, &dev), 0);
	best = dev->flush;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		r = sdx_dev_set_flush(dev, kinds[i]);
		if (r == -ENOTSUP) {
			assert_non_null(strstr(sdx_strerror_detail(),
					sdx_flush_kind_name(kinds[i])));
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(dev->flush, kinds[i]);
		/* The default is the first (best) kind the CPU has. */
		if (!found_best)
			assert_int_equal(kinds[i], best);
		found_best = true;
		fill_pattern(want, DEV_SIZE, i);
		memcpy(dev->base, want, DEV_SIZE);
		sdx_dev_flush(dev, dev->base + 3, DEV_SIZE - 3);
		sdx_dev_flush(dev, dev->base, 1);
		sdx_dev_drain(dev);
		sdx_dev_persist(dev, dev->base + 4000, 200);
		assert_memory_equal(dev->base, want, DEV_SIZE);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, got, DEV_SIZE, 0), DEV_SIZE);
		close(fd);
		assert_memory_equal(got, want, DEV_SIZE);
	}
	assert_true(found_best);
	assert_int_equal(sdx_dev_set_flush(dev, (enum sdx_flush_kind)9),
			 -EINVAL);
	sdx_dev_close(dev);
	free(want);
	free(got);
	unlink(path);
}

/* memcpy/memset_persist write exactly [off, off+len) at every size. */
static void check_persist_copies(struct sdx_dev *dev)
{
	static const size_t sizes[] = { 0, 1, 7, 63, 64, 65, 255, 256, 257,
					1000, 4096 + 13, 70001 };
	static const size_t offs[] = { 0, 1, 8, 63, 64 + 5, 4096 - 1 };
	const size_t area = 80000;
	uint8_t *src = malloc(area), *want = malloc(area);
	unsigned i, j;

	assert_non_null(src);
	assert_non_null(want);
	fill_pattern(src, area, 3);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (j = 0; j < sizeof(offs) / sizeof(offs[0]); j++) {
			size_t off = offs[j], len = sizes[i];

			memset(dev->base, 0xee, area + 4096);
			memset(want, 0xee, area);
			memcpy(want + off, src, len);
			sdx_dev_memcpy_persist(dev, dev->base + off, src, len);
			assert_memory_equal(dev->base, want, area);
			memset(want + off, 0x3c, len);
			sdx_dev_memset_persist(dev, dev->base + off, 0x3c,
					       len);
			assert_memory_equal(dev->base, want, area);
		}
	}
	free(src);
	free(want);
}

static void test_persist_copies_handle_odd_sizes_and_alignments(
	void **state)
{
	const char *path = tu_path("copy.img");
	struct sdx_dev *dev;

	(void)state;
	make_file(path, DEV_SIZE);
	assert_int_equal(sdx_dev_open(path, 0, &dev), 0);
	check_persist_copies(dev);
	assert_int_equal(sdx_dev_set_flush(dev, SDX_FLUSH_MSYNC), 0);
	check_persist_copies(dev);
	sdx_dev_close(dev);
	unlink(path);
}

static void test_public_persist_on_device_and_on_heap(void **state)
{
	const char *path = tu_path("public.img");
	struct sdx_dev *dev;
	char *heap = malloc(300);

	(void)state;
	assert_non_null(heap);
	make_file(path, DEV_SIZE);
	assert_int_equal(sdx_dev_open(path, 0, &dev), 0);
	memcpy(dev->base + 64, "device line", 12);
	sdx_persist(dev->base + 64, 12);
	sdx_flush(dev->base + 64, 12);
	sdx_drain();
	assert_memory_equal(dev->base + 64, "device line", 12);
	memset(heap, 'h', 300);
	assert_null(sdx_dev_lookup(heap));
	sdx_persist(heap + 1, 299);
	sdx_flush(heap, 300);
	sdx_drain();
	sdx_cpu_persist(heap, 300);
	assert_int_equal(heap[299], 'h');
	assert_int_equal(heap[0], 'h');
	sdx_dev_close(dev);
	free(heap);
	unlink(path);
}

static void test_alias_maps_addresses_to_device_offsets(void **state)
{
	const char *path = tu_path("alias.img");
	struct sdx_dev *dev;
	uint64_t off, span;
	uint8_t *va;

	(void)state;
	make_file(path, DEV_SIZE);
	assert_int_equal(sdx_dev_open(path, 0, &dev), 0);
	va = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, dev->fd,
		  8192);
	assert_true(va != MAP_FAILED);
	sdx_dev_alias(dev, va, 3 * 4096, 8192);
	assert_ptr_equal(sdx_dev_lookup(va + 5), dev);
	assert_true(sdx_dev_translate(dev, va + 5, &off, &span));
	assert_int_equal(off, 8192 + 5);
	assert_int_equal(span, 3 * 4096 - 5);
	/* Remapping the middle page splits the alias in three. */
	sdx_dev_alias(dev, va + 4096, 4096, 0);
	assert_true(sdx_dev_translate(dev, va + 4096 + 1, &off, &span));
	assert_int_equal(off, 1);
	assert_int_equal(span, 4095);
	assert_true(sdx_dev_translate(dev, va + 1, &off, &span));
	assert_int_equal(off, 8193);
	assert_int_equal(span, 4095);
	assert_true(sdx_dev_translate(dev, va + 8192 + 2, &off, &span));
	assert_int_equal(off, 8192 + 8192 + 2);
	/* A new alias over the end of one piece and the start of the
	 * next trims both. */
	sdx_dev_alias(dev, va + 4096 + 2048, 4096, 65536);
	assert_true(sdx_dev_translate(dev, va + 4096 + 100, &off, &span));
	assert_int_equal(off, 100);
	assert_int_equal(span, 2048 - 100);
	assert_true(sdx_dev_translate(dev, va + 6144 + 5, &off, &span));
	assert_int_equal(off, 65536 + 5);
	assert_true(sdx_dev_translate(dev, va + 10240, &off, &span));
	assert_int_equal(off, 8192 + 8192 + 2048);
	assert_int_equal(span, 2048);
	/* An alias beyond the device is ignored. */
	sdx_dev_alias(dev, va, 4096, DEV_SIZE);
	assert_true(sdx_dev_translate(dev, va, &off, &span));
	assert_int_equal(off, 8192);
	/* len 0 removes the alias starting there, and only it (whatever
	 * offset is passed). */
	sdx_dev_alias(dev, va, 0, ~0ull);
	assert_null(sdx_dev_lookup(va + 1));
	assert_false(sdx_dev_translate(dev, va + 1, &off, &span));
	assert_ptr_equal(sdx_dev_lookup(va + 4096), dev);
	/* Closing the device drops its aliases. */
	sdx_dev_close(dev);
	assert_null(sdx_dev_lookup(va + 4096));
	munmap(va, 3 * 4096);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tmpfs_file_is_emulated_persistent_memory),
		cmocka_unit_test(
			test_populate_allocates_emulated_device_at_open),
		cmocka_unit_test(
		  test_plain_disk_file_is_file_kind_made_durable_by_msync),
		cmocka_unit_test(test_emulate_flag_makes_a_disk_file_emulated),
		cmocka_unit_test(test_bad_paths_are_refused_with_a_sentence),
		cmocka_unit_test(test_unreadable_device_is_refused),
		cmocka_unit_test(test_device_open_by_another_writer_is_busy),
		cmocka_unit_test(
		  test_readers_share_a_device_but_keep_a_writer_out),
		cmocka_unit_test(
		  test_each_flush_kind_of_this_cpu_preserves_data),
		cmocka_unit_test(
		  test_persist_copies_handle_odd_sizes_and_alignments),
		cmocka_unit_test(test_public_persist_on_device_and_on_heap),
		cmocka_unit_test(test_alias_maps_addresses_to_device_offsets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
