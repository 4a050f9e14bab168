/*
 * test_dax_fault.c - the mapping engine over a test double: a "file" whose
 * block map lives in this program and whose blocks are pages of a raw
 * emulated device.  Proves the mechanism without src/fs: reservation,
 * SIGSEGV entry, device extents mapped directly, zero page for holes,
 * NEEDDSYNC before writable, dirty tracking and msync, SIGBUS beyond EOF,
 * chaining of foreign signals, fault-around, sync-ahead, 2 MiB mappings,
 * copy-on-write, remaps under a reading thread, threads, prefault.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dax/dax.h"
#include "pmem/pmem.h"
#include "syncdax.h"
#include "testutil.h"

#define PS 4096u
#define FAKE_PAGES 1024u		/* 4 MiB of file */
#define DEV_BYTES (16u << 20)

/* ---- the test double: a file over a raw device ---- */

struct fake {
	struct sdx_dev *dev;
	pthread_mutex_t lock;
	pthread_rwlock_t inv;
	void *slot;
	uint64_t size;
	uint64_t map[FAKE_PAGES];	/* device page + 1; 0 is a hole */
	bool unwritten[FAKE_PAGES];
	uint64_t next_free;		/* next device page to hand out */
	bool dirty, sync_fl;
	unsigned commits, allocs, puts;
	const void *probe;		/* perms of this page at commit */
	char probe_perms[5];
};

static struct sdx_dev *dev;
static const char *dev_path;

/* Does the line "start-end perms ..." of /proc/self/maps hold @addr? */
static bool perms_in_line(const char *line, const void *addr, char out[5])
{
	char *end;
	unsigned long s = strtoul(line, &end, 16), e;

	if (*end != '-')
		return false;
	e = strtoul(end + 1, &end, 16);
	if (*end != ' ' || strlen(end + 1) < 4 ||
	    (unsigned long)addr < s || (unsigned long)addr >= e)
		return false;
	memcpy(out, end + 1, 4);
	out[4] = '\0';
	return true;
}

/* The permissions /proc/self/maps shows for @addr ("rw-s"), or "none".
 * Only open/read and the stack: it also runs in the fault handler (the
 * double's datasync), where stdio's malloc is not allowed. */
static void perms_of(const void *addr, char out[5])
{
	char buf[4096], line[64];
	size_t len = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	strcpy(out, "none");
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (len < sizeof(line) - 1)
					line[len++] = buf[i];
				continue;
			}
			line[len] = '\0';
			len = 0;
			if (perms_in_line(line, addr, out))
				goto out_close;
		}
	}
out_close:
	if (fd >= 0)
		close(fd);
}

static uint64_t fake_alloc(struct fake *f, uint64_t n)
{
	uint64_t first = f->next_free;

	assert_true((first + n) * PS <= dev->size);
	sdx_dev_memset_persist(dev, dev->base + first * PS, 0, n * PS);
	f->next_free += n;
	f->allocs += (unsigned)n;
	return first;
}

static int fake_iomap_begin(void *host, uint64_t pgoff, uint64_t npages,
			    unsigned flags, struct sdx_iomap *out)
{
	struct fake *f = host;
	uint64_t n = 1, p;

	if (pgoff >= FAKE_PAGES)
		return -EFBIG;
	if (npages == 0 || npages > FAKE_PAGES - pgoff)
		npages = FAKE_PAGES - pgoff;
	pthread_mutex_lock(&f->lock);
	memset(out, 0, sizeof(*out));
	out->pgoff = pgoff;
	if ((flags & SDX_IOMAP_WRITE) && f->unwritten[pgoff]) {
		sdx_dev_memset_persist(dev, dev->base + (f->map[pgoff] - 1) *
				       PS, 0, PS);
		f->unwritten[pgoff] = false;
		f->dirty = true;
		out->flags |= SDX_IOMAP_F_NEW;
	} else if ((flags & SDX_IOMAP_WRITE) && !f->map[pgoff]) {
		if (flags & SDX_IOMAP_SYNCAHEAD)
			while (n < npages && !f->map[pgoff + n])
				n++;
		p = fake_alloc(f, n);
		for (uint64_t i = 0; i < n; i++)
			f->map[pgoff + i] = p + i + 1;
		f->dirty = true;
		out->flags |= SDX_IOMAP_F_NEW;
	}
	if (!f->map[pgoff]) {
		out->type = SDX_IOMAP_HOLE;
		for (n = 1; n < npages && !f->map[pgoff + n]; n++)
			;
	} else {
		out->type = f->unwritten[pgoff] ? SDX_IOMAP_UNWRITTEN :
			    SDX_IOMAP_MAPPED;
		out->dev_off = (f->map[pgoff] - 1) * PS;
		for (n = 1; n < npages &&
		     f->map[pgoff + n] == f->map[pgoff] + n &&
		     f->unwritten[pgoff + n] == f->unwritten[pgoff]; n++)
			;
	}
	out->npages = n;
	if (f->dirty)
		out->flags |= SDX_IOMAP_F_DIRTY;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static bool fake_datasync_dirty(void *host)
{
	struct fake *f = host;
	bool dirty;

	pthread_mutex_lock(&f->lock);
	dirty = f->dirty;
	pthread_mutex_unlock(&f->lock);
	return dirty;
}

static int fake_datasync(void *host)
{
	struct fake *f = host;

	pthread_mutex_lock(&f->lock);
	if (f->dirty) {
		if (f->probe)
			perms_of(f->probe, f->probe_perms);
		f->commits++;
		f->dirty = false;
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static uint64_t fake_size(void *host)
{
	return ((struct fake *)host)->size;
}

static pthread_rwlock_t *fake_invalidate_lock(void *host)
{
	return &((struct fake *)host)->inv;
}

static void **fake_slot(void *host)
{
	return &((struct fake *)host)->slot;
}

static bool fake_is_sync(void *host)
{
	return ((struct fake *)host)->sync_fl;
}

static void fake_put(void *host)
{
	((struct fake *)host)->puts++;
}

static const struct sdx_dax_ops fake_ops = {
	.iomap_begin = fake_iomap_begin,
	.datasync_dirty = fake_datasync_dirty,
	.datasync = fake_datasync,
	.size = fake_size,
	.invalidate_lock = fake_invalidate_lock,
	.dax_slot = fake_slot,
	.is_sync = fake_is_sync,
	.put = fake_put,
};

static struct fake *fake_new(uint64_t size)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dev = dev;
	f->size = size;
	pthread_mutex_init(&f->lock, NULL);
	pthread_rwlock_init(&f->inv, NULL);
	return f;
}

static void fake_free(struct fake *f)
{
	assert_null(f->slot);	/* every mapping of it is gone */
	pthread_mutex_destroy(&f->lock);
	pthread_rwlock_destroy(&f->inv);
	free(f);
}

/* Allocate file pages [pgoff, pgoff+n) as one device run. */
static void fake_prealloc(struct fake *f, uint64_t pgoff, uint64_t n)
{
	uint64_t p = fake_alloc(f, n);

	for (uint64_t i = 0; i < n; i++)
		f->map[pgoff + i] = p + i + 1;
}

/* A remap: move file page @pgoff to a new block, by the protocol. */
static void fake_move(struct fake *f, uint64_t pgoff)
{
	uint64_t p;

	pthread_rwlock_wrlock(&f->inv);
	pthread_mutex_lock(&f->lock);
	p = fake_alloc(f, 1);
	sdx_dev_memcpy_persist(dev, dev->base + p * PS,
			       dev->base + (f->map[pgoff] - 1) * PS, PS);
	pthread_mutex_unlock(&f->lock);
	sdx_dax_invalidate(&f->slot, pgoff, 1);
	f->map[pgoff] = p + 1;
	pthread_rwlock_unlock(&f->inv);
}

static uint8_t *fake_map(struct fake *f, size_t len, int prot, int flags,
			 int acc)
{
	struct sdx_dax_file file = { &fake_ops, f, dev, acc };
	void *p = NULL;

	assert_int_equal(sdx_dax_mmap(&file, NULL, len, prot, flags, 0, &p),
			 0);
	return p;
}

static uint8_t *block_of(struct fake *f, uint64_t pgoff)
{
	assert_true(f->map[pgoff] != 0);
	return dev->base + (f->map[pgoff] - 1) * PS;
}

static void set_config(unsigned fault_around, uint64_t syncahead, bool huge)
{
	struct sdx_dax_config cfg = { fault_around, syncahead, huge, 0 };

	assert_int_equal(sdx_dax_set_config(&cfg), 0);
	sdx_dax_reset_stats();
}

static struct sdx_dax_stats stats(void)
{
	struct sdx_dax_stats st;

	sdx_dax_get_stats(&st);
	return st;
}

static int setup(void **state)
{
	(void)state;
	dev_path = tu_path("dax-fault.dev");
	unlink(dev_path);
	if (tu_sh("truncate -s %u '%s'", DEV_BYTES, dev_path))
		return -1;
	return sdx_dev_open(dev_path, SDX_DEV_EMULATE, &dev);
}

static int teardown(void **state)
{
	(void)state;
	sdx_dev_close(dev);
	unlink(dev_path);
	return 0;
}

/* ---- tests ---- */

static void test_read_of_hole_maps_zero_page_readonly(void **state)
{
	struct fake *f = fake_new(8 * PS);
	uint8_t *p;
	char perms[5];

	(void)state;
	set_config(16, 0, false);
	p = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	perms_of(p, perms);
	assert_string_equal(perms, "---p");	/* reservation */
	assert_int_equal(p[3 * PS + 17], 0);
	perms_of(p + 3 * PS, perms);
	assert_string_equal(perms, "r--p");
	assert_int_equal(f->allocs, 0);
	assert_int_equal(stats().faults_read_hole, 1);
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);
	assert_int_equal(f->puts, 1);
	fake_free(f);
}

static void test_write_fault_maps_device_block_directly(void **state)
{
	struct fake *f = fake_new(8 * PS);
	uint8_t *p;
	char perms[5];

	(void)state;
	set_config(16, 0, false);
	p = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	memcpy(p + 2 * PS + 100, "hello", 6);
	assert_string_equal((char *)block_of(f, 2) + 100, "hello");
	perms_of(p + 2 * PS, perms);
	assert_string_equal(perms, "rw-s");
	/* The same memory: a store to the device shows in the mapping. */
	memcpy(block_of(f, 2) + 200, "direct", 7);
	assert_string_equal((char *)p + 2 * PS + 200, "direct");
	assert_int_equal(f->allocs, 1);
	assert_int_equal(stats().faults_write, 1);
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);
	fake_free(f);
}

static void test_sync_write_commits_before_page_is_writable(void **state)
{
	struct fake *f = fake_new(8 * PS);
	uint8_t *p;
	char perms[5];

	(void)state;
	set_config(16, 0, false);
	p = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE,
		     MAP_SHARED_VALIDATE | MAP_SYNC, O_RDWR);
	f->probe = p + 5 * PS;
	p[5 * PS] = 1;
	assert_int_equal(f->commits, 1);
	/* At the commit the page was not yet writable (NEEDDSYNC). */
	assert_int_not_equal(f->probe_perms[1], 'w');
	perms_of(p + 5 * PS, perms);
	assert_string_equal(perms, "rw-s");
	p[5 * PS + 1] = 2;
	assert_int_equal(f->commits, 1);
	assert_int_equal(stats().commits, 1);
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);
	fake_free(f);
}

static void test_sync_flag_makes_shared_mapping_synchronous(void **state)
{
	struct fake *f = fake_new(8 * PS);
	uint8_t *p;

	(void)state;
	set_config(16, 0, false);
	f->sync_fl = true;
	p = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	f->probe = p;
	p[0] = 1;
	assert_int_equal(f->commits, 1);
	assert_int_not_equal(f->probe_perms[1], 'w');
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);
	fake_free(f);
}

static void test_map_sync_without_validate_is_ignored(void **state)
{
	struct fake *f = fake_new(8 * PS);
	uint8_t *p;

	(void)state;
	set_config(16, 0, false);
	p = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_SYNC,
		     O_RDWR);
	p[0] = 1;
	assert_int_equal(f->commits, 0);
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);
	fake_free(f);
}

static void test_nonsync_write_is_dirty_until_msync(void **state)
{
	struct fake *f = fake_new(8 * PS);
	uint8_t *p;
	char perms[5];

	(void)state;
	set_config(16, 0, false);
	p = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	p[0] = 'x';
	assert_int_equal(f->commits, 0);
	perms_of(p, perms);
	assert_string_equal(perms, "rw-s");
	assert_int_equal(sdx_msync(p, 8 * PS, MS_SYNC), 0);
	assert_int_equal(f->commits, 1);
	assert_int_equal(stats().msync_pages, 1);
	perms_of(p, perms);
	assert_string_equal(perms, "r--s");	/* write-protected again */
	p[1] = 'y';				/* faults, marks dirty */
	assert_int_equal(stats().faults_mkwrite, 1);
	perms_of(p, perms);
	assert_string_equal(perms, "rw-s");
	assert_int_equal(block_of(f, 0)[1], 'y');
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);
	fake_free(f);
}

/* What fsync owes the mappings of a file (sdx_dax_writeback): dirty pages
 * of its non-synchronous mappings flushed and write-protected again. */
static void test_writeback_protects_dirty_pages_of_a_file(void **state)
{
	struct fake *f = fake_new(8 * PS);
	uint8_t *p, *q;
	char perms[5];

	(void)state;
	set_config(1, 0, false);
	p = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	q = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	p[0] = 1;
	p[5 * PS] = 2;
	q[7 * PS] = 3;
	sdx_dax_writeback(&f->slot);
	assert_int_equal(stats().msync_pages, 3);
	perms_of(p + 5 * PS, perms);
	assert_string_equal(perms, "r--s");
	perms_of(q + 7 * PS, perms);
	assert_string_equal(perms, "r--s");
	assert_int_equal(q[5 * PS], 2);		/* the same block */
	p[5 * PS] = 4;				/* dirty again */
	assert_int_equal(stats().faults_mkwrite, 1);
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);
	assert_int_equal(sdx_munmap(q, 8 * PS), 0);
	fake_free(f);
}

static sigjmp_buf bus_jmp;
static volatile void *bus_addr;
static volatile int bus_code;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	bus_addr = si->si_addr;
	bus_code = si->si_code;
	siglongjmp(bus_jmp, 1);
}

/* Touch @addr (write if @write); return whether SIGBUS came. */
static bool touch_gets_sigbus(volatile uint8_t *addr, bool write)
{
	struct sigaction sa, old;
	bool got = false;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, &old);
	bus_addr = NULL;
	if (sigsetjmp(bus_jmp, 1) == 0) {
		if (write)
			*addr = 1;
		else
			(void)*addr;
	} else {
		got = true;
	}
	sigaction(SIGBUS, &old, NULL);
	return got;
}

static void test_access_beyond_eof_raises_sigbus(void **state)
{
	struct fake *f = fake_new(PS + 100);
	uint8_t *p;

	(void)state;
	set_config(16, 0, false);
	p = fake_map(f, 4 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	assert_false(touch_gets_sigbus(p + PS + 200, false));	/* tail */
	assert_true(touch_gets_sigbus(p + 2 * PS + 8, false));
	assert_ptr_equal(bus_addr, p + 2 * PS + 8);
	assert_int_equal(bus_code, BUS_ADRERR);
	assert_true(touch_gets_sigbus(p + 3 * PS, true));
	assert_ptr_equal(bus_addr, p + 3 * PS);
	/* The file grows: the same page now works. */
	f->size = 4 * PS;
	assert_false(touch_gets_sigbus(p + 3 * PS, true));
	assert_int_equal(stats().faults_sigbus, 2);
	assert_int_equal(sdx_munmap(p, 4 * PS), 0);
	fake_free(f);
}

static void test_fault_around_maps_neighbours_at_once(void **state)
{
	struct fake *f = fake_new(64 * PS);
	uint8_t *p;
	unsigned sum = 0;

	(void)state;
	set_config(16, 0, false);
	fake_prealloc(f, 0, 64);
	p = fake_map(f, 64 * PS, PROT_READ, MAP_SHARED, O_RDONLY);
	for (unsigned i = 0; i < 16; i++)
		sum += p[i * PS];
	assert_int_equal(sum, 0);
	assert_int_equal(stats().faults_read, 1);
	assert_int_equal(stats().pages_mapped, 16);
	(void)*(volatile uint8_t *)&p[16 * PS];
	assert_int_equal(stats().faults_read, 2);
	assert_int_equal(sdx_munmap(p, 64 * PS), 0);
	fake_free(f);
}

static void test_syncahead_allocates_cluster_for_one_commit(void **state)
{
	struct fake *f = fake_new(64 * PS);
	uint8_t *p;

	(void)state;
	set_config(16, 16 * PS, false);
	p = fake_map(f, 64 * PS, PROT_READ | PROT_WRITE,
		     MAP_SHARED_VALIDATE | MAP_SYNC, O_RDWR);
	for (unsigned i = 0; i < 16; i++)
		p[i * PS + 5] = (uint8_t)i;
	assert_int_equal(f->commits, 1);
	assert_int_equal(f->allocs, 16);
	assert_int_equal(stats().faults_write, 1);
	assert_int_equal(stats().syncahead_pages, 15);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(block_of(f, i)[5], i);
	/* Without sync-ahead every fault into a hole commits. */
	set_config(1, 0, false);
	for (unsigned i = 16; i < 20; i++)
		p[i * PS] = 1;
	assert_int_equal(f->commits, 5);
	assert_int_equal(sdx_munmap(p, 64 * PS), 0);
	fake_free(f);
}

static void test_huge_mapping_maps_2mib_at_once(void **state)
{
	struct fake *f = fake_new(FAKE_PAGES * PS);
	uint8_t *p;

	(void)state;
	set_config(16, 0, true);
	f->next_free = 512;		/* a 2 MiB aligned device run */
	fake_prealloc(f, 0, 512);
	block_of(f, 300)[7] = 42;
	p = fake_map(f, FAKE_PAGES * PS, PROT_READ, MAP_SHARED, O_RDONLY);
	assert_int_equal((uintptr_t)p % (2u << 20), 0);
	assert_int_equal(p[300 * PS + 7], 42);
	assert_int_equal(stats().huge_installs, 1);
	assert_int_equal(stats().pages_mapped, 512);
	for (unsigned i = 0; i < 512; i++)
		(void)*(volatile uint8_t *)&p[i * PS];
	assert_int_equal(stats().faults_read, 1);
	assert_int_equal(sdx_munmap(p, FAKE_PAGES * PS), 0);
	fake_free(f);
}

/* A synchronous write into a 2 MiB device run maps it at once; one that
 * is off by a page (device offset not congruent) maps the fault-around
 * window, and neither commits (the block map is committed already). */
static void test_sync_write_maps_2mib_where_run_is_aligned(void **state)
{
	struct fake *f = fake_new(FAKE_PAGES * PS);
	uint8_t *p;

	(void)state;
	set_config(16, 0, true);
	f->next_free = 512;
	fake_prealloc(f, 0, 512);		/* aligned run */
	f->next_free = 1025;
	fake_prealloc(f, 512, 512);		/* one page off */
	p = fake_map(f, FAKE_PAGES * PS, PROT_READ | PROT_WRITE,
		     MAP_SHARED_VALIDATE | MAP_SYNC, O_RDWR);
	p[300 * PS] = 1;
	assert_int_equal(stats().huge_installs, 1);
	assert_int_equal(stats().pages_mapped, 512);
	for (unsigned i = 0; i < 512; i++)
		p[i * PS + 1] = 2;
	assert_int_equal(stats().faults_write, 1);
	p[800 * PS] = 1;
	assert_int_equal(stats().huge_installs, 1);
	assert_int_equal(stats().pages_mapped, 512 + 16);
	assert_int_equal(block_of(f, 800)[0], 1);
	assert_int_equal(f->commits, 0);
	assert_int_equal(sdx_munmap(p, FAKE_PAGES * PS), 0);
	fake_free(f);
}

/* A run congruent with 2 MiB that starts after the aligned start (a hole
 * before it) is no huge mapping: the fault maps its own pages only. */
static void test_sync_write_after_a_hole_maps_its_own_run(void **state)
{
	struct fake *f = fake_new(FAKE_PAGES * PS);
	uint8_t *p;

	(void)state;
	set_config(16, 0, true);
	f->next_free = 612;
	fake_prealloc(f, 100, 412);		/* device page 712 + i */
	memset(dev->base, 0x77, PS);		/* device page 0 */
	p = fake_map(f, FAKE_PAGES * PS, PROT_READ | PROT_WRITE,
		     MAP_SHARED_VALIDATE | MAP_SYNC, O_RDWR);
	p[200 * PS] = 1;
	assert_int_equal(block_of(f, 200)[0], 1);
	assert_int_equal(stats().huge_installs, 0);
	assert_int_equal(stats().pages_mapped, 8);	/* 200..207 */
	assert_int_equal(p[0], 0);			/* still a hole */
	assert_int_equal(f->map[0], 0);
	assert_int_equal(dev->base[0], 0x77);
	assert_int_equal(sdx_munmap(p, FAKE_PAGES * PS), 0);
	fake_free(f);
}

struct reader {
	volatile uint8_t *addr;
	int stop;			/* atomics: UBSan's bool check once */
	unsigned long reads, wrong;	/* hoisted a volatile bool's load */
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		if (*r->addr != 'A')
			__atomic_fetch_add(&r->wrong, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&r->reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_remap_under_reading_thread_keeps_contents(void **state)
{
	struct fake *f = fake_new(8 * PS);
	struct reader r = { 0 };
	pthread_t t;
	uint8_t *p;
	char perms[5];

	(void)state;
	set_config(16, 0, false);
	p = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	p[PS] = 'A';
	fake_move(f, 1);
	perms_of(p + PS, perms);
	assert_string_equal(perms, "---p");	/* unmapped by the remap */
	assert_int_equal(p[PS], 'A');
	block_of(f, 1)[9] = 'n';		/* the new block is mapped */
	assert_int_equal(p[PS + 9], 'n');
	r.addr = p + PS;
	assert_int_equal(pthread_create(&t, NULL, read_loop, &r), 0);
	while (__atomic_load_n(&r.reads, __ATOMIC_RELAXED) == 0)
		sched_yield();
	for (unsigned i = 0; i < 200; i++)
		fake_move(f, 1);
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(r.wrong, 0);
	assert_true(r.reads > 0);
	assert_true(stats().invalidated_pages >= 1);
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);
	fake_free(f);
}

static void test_private_mapping_copies_on_write(void **state)
{
	struct fake *f = fake_new(8 * PS);
	uint8_t *p;

	(void)state;
	set_config(16, 0, false);
	fake_prealloc(f, 0, 1);
	memcpy(block_of(f, 0), "device", 7);
	p = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, O_RDONLY);
	assert_string_equal((char *)p, "device");
	memcpy(p, "privat", 7);
	assert_string_equal((char *)p, "privat");
	assert_string_equal((char *)block_of(f, 0), "device");
	p[3 * PS] = 9;				/* a hole: no allocation */
	assert_int_equal(p[3 * PS], 9);
	assert_int_equal(f->allocs, 1);
	assert_int_equal(stats().faults_cow, 2);
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);
	fake_free(f);
}

/* A punch keeps private copies (as Linux); a truncate below them drops
 * them: access there raises SIGBUS. */
static void test_truncate_drops_private_copies_punch_keeps_them(void **state)
{
	struct fake *f = fake_new(4 * PS);
	uint8_t *p;

	(void)state;
	set_config(16, 0, false);
	fake_prealloc(f, 0, 4);
	p = fake_map(f, 4 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, O_RDONLY);
	p[0] = 'p';
	p[2 * PS] = 'p';
	p[3 * PS] = 'p';
	pthread_rwlock_wrlock(&f->inv);		/* a punch of page 0 */
	sdx_dax_invalidate(&f->slot, 0, 1);
	pthread_rwlock_unlock(&f->inv);
	assert_int_equal(p[0], 'p');
	pthread_rwlock_wrlock(&f->inv);		/* truncate to 2 pages */
	f->size = 2 * PS;
	sdx_dax_invalidate(&f->slot, 2, 2);
	pthread_rwlock_unlock(&f->inv);
	assert_int_equal(p[0], 'p');
	assert_true(touch_gets_sigbus(p + 2 * PS, false));
	assert_true(touch_gets_sigbus(p + 3 * PS, true));
	assert_int_equal(stats().invalidated_pages, 2);
	assert_int_equal(block_of(f, 2)[0], 0);	/* the file never saw it */
	assert_int_equal(sdx_munmap(p, 4 * PS), 0);
	fake_free(f);
}

static int map_errno(struct fake *f, size_t len, int prot, int flags,
		     uint64_t off, int acc)
{
	struct sdx_dax_file file = { &fake_ops, f, dev, acc };
	void *p;
	int r = sdx_dax_mmap(&file, NULL, len, prot, flags, off, &p);

	if (r == 0)
		assert_int_equal(sdx_munmap(p, len), 0);
	return r;
}

static void test_mmap_checks_flags_like_linux(void **state)
{
	struct fake *f = fake_new(8 * PS);
	int rw = PROT_READ | PROT_WRITE;

	(void)state;
	assert_int_equal(map_errno(f, 0, PROT_READ, MAP_SHARED, 0, O_RDWR),
			 -EINVAL);
	assert_int_equal(map_errno(f, PS, PROT_READ, MAP_SHARED, 100, O_RDWR),
			 -EINVAL);
	assert_int_equal(map_errno(f, PS, 0x10, MAP_SHARED, 0, O_RDWR),
			 -EINVAL);
	assert_int_equal(map_errno(f, PS, PROT_READ, 0, 0, O_RDWR), -EINVAL);
	assert_int_equal(map_errno(f, PS, PROT_READ,
				   MAP_SHARED_VALIDATE | 0x40000000, 0,
				   O_RDWR), -EOPNOTSUPP);
	assert_int_equal(map_errno(f, PS, PROT_READ, MAP_SHARED | 0x40000000,
				   0, O_RDWR), 0);	/* legacy: ignored */
	assert_int_equal(map_errno(f, PS, rw, MAP_SHARED, 0, O_RDONLY),
			 -EACCES);
	assert_int_equal(map_errno(f, PS, rw, MAP_PRIVATE, 0, O_RDONLY), 0);
	assert_int_equal(map_errno(f, PS, PROT_READ, MAP_SHARED, 0, O_WRONLY),
			 -EACCES);
	assert_int_equal(map_errno(f, PS, rw, MAP_SHARED_VALIDATE | MAP_SYNC,
				   0, O_RDWR), 0);
	dev->is_persistent = false;
	assert_int_equal(map_errno(f, PS, rw, MAP_SHARED_VALIDATE | MAP_SYNC,
				   0, O_RDWR), -EOPNOTSUPP);
	assert_int_equal(map_errno(f, PS, rw, MAP_SHARED | MAP_SYNC, 0,
				   O_RDWR), 0);
	dev->is_persistent = true;
	assert_int_equal(sdx_munmap((void *)1, PS), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(f->puts, 4);	/* one per successful mapping */
	fake_free(f);
}

struct striper {
	uint8_t *p;
	unsigned id, threads, pages;
	unsigned sum;
};

/* Byte 0 of a page is read by all and written by thread 0: atomics. */
static void *stripe(void *arg)
{
	struct striper *s = arg;

	for (unsigned i = 0; i < s->pages; i++)
		s->sum += __atomic_load_n(&s->p[i * PS], __ATOMIC_RELAXED);
	for (unsigned i = s->id; i < s->pages; i += s->threads)
		memset(s->p + i * PS + 64, (int)(s->id + 1), 64);
	for (unsigned i = 0; i < s->pages; i++)
		__atomic_store_n(&s->p[i * PS + 8 * s->id],
				 (uint8_t)(s->id + 1), __ATOMIC_RELAXED);
	return NULL;
}

static void test_threads_fault_same_and_different_pages(void **state)
{
	enum { THREADS = 4, PAGES = 128 };
	struct fake *f = fake_new(PAGES * PS);
	struct striper s[THREADS];
	pthread_t t[THREADS];
	uint8_t *p;

	(void)state;
	set_config(1, 0, false);
	p = fake_map(f, PAGES * PS, PROT_READ | PROT_WRITE,
		     MAP_SHARED_VALIDATE | MAP_SYNC, O_RDWR);
	for (unsigned i = 0; i < THREADS; i++) {
		s[i] = (struct striper){ p, i, THREADS, PAGES, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, stripe, &s[i]),
				 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(f->allocs, PAGES);	/* each page once */
	for (unsigned i = 0; i < PAGES; i++) {
		uint8_t *b = block_of(f, i);

		assert_int_equal(b[64], i % THREADS + 1);
		for (unsigned k = 0; k < THREADS; k++)
			assert_int_equal(b[8 * k], k + 1);
	}
	assert_int_equal(sdx_munmap(p, PAGES * PS), 0);
	fake_free(f);
}

static void test_prefault_lets_system_calls_use_mapping(void **state)
{
	struct fake *f = fake_new(8 * PS);
	int pipefd[2];
	uint8_t *p;

	(void)state;
	set_config(1, 0, false);
	assert_int_equal(pipe(pipefd), 0);
	p = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	assert_int_equal(write(pipefd[1], p, 10), -1);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(sdx_prefault(p, 10, 0), 0);
	assert_int_equal(write(pipefd[1], p, 10), 10);
	assert_int_equal(read(pipefd[0], p + PS, 10), -1);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(sdx_prefault(p + PS, 10, 1), 0);
	assert_int_equal(read(pipefd[0], p + PS, 10), 10);
	assert_int_equal(sdx_prefault(p + 9 * PS, 1, 0), -1);
	assert_int_equal(errno, EFAULT);
	close(pipefd[0]);
	close(pipefd[1]);
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);
	fake_free(f);
}

static void test_populate_maps_allocated_extents(void **state)
{
	struct fake *f = fake_new(16 * PS);
	unsigned sum = 0;
	uint8_t *p;

	(void)state;
	set_config(16, 0, false);
	fake_prealloc(f, 0, 8);
	p = fake_map(f, 16 * PS, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_POPULATE, O_RDWR);
	assert_int_equal(f->allocs, 8);		/* holes stay holes */
	sdx_dax_reset_stats();
	for (unsigned i = 0; i < 16; i++)
		sum += p[i * PS];
	for (unsigned i = 0; i < 8; i++)
		p[i * PS] = 1;			/* allocated: writable */
	assert_int_equal(sum, 0);
	assert_int_equal(stats().faults_read + stats().faults_write +
			 stats().faults_mkwrite, 0);
	assert_int_equal(sdx_munmap(p, 16 * PS), 0);
	fake_free(f);
}

static void test_sequential_faults_keep_few_kernel_mappings(void **state)
{
	struct fake *f = fake_new(512 * PS);
	uint8_t *p;

	(void)state;
	set_config(16, 0, false);
	fake_prealloc(f, 0, 512);
	p = fake_map(f, 512 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	for (unsigned i = 0; i < 512; i++)
		(void)*(volatile uint8_t *)&p[i * PS];
	assert_int_equal(stats().faults_read, 32);
	assert_true(stats().kernel_mappings <= 2);
	for (unsigned i = 0; i < 512; i++)
		p[i * PS] = 1;
	assert_true(stats().kernel_mappings <= 2);
	assert_int_equal(sdx_munmap(p, 512 * PS), 0);
	assert_int_equal(stats().kernel_mappings, 0);
	fake_free(f);
}

static void test_kernel_mappings_stay_under_budget(void **state)
{
	struct sdx_dax_config cfg = { 1, 0, false, 40 };
	struct fake *f = fake_new(1024 * PS);
	uint8_t *p;

	(void)state;
	assert_int_equal(sdx_dax_set_config(&cfg), 0);
	sdx_dax_reset_stats();
	fake_prealloc(f, 0, 1024);
	p = fake_map(f, 1024 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	/* Read-only and writable pages alternate: a kernel mapping each. */
	for (unsigned i = 0; i < 1024; i++) {
		(void)*(volatile uint8_t *)&p[i * PS];
		if (i % 2)
			p[i * PS] = 1;
		assert_true(stats().kernel_mappings <= 40);
	}
	assert_true(stats().shrinks >= 1);
	for (unsigned i = 1; i < 1024; i += 2)
		assert_int_equal(block_of(f, i)[0], 1);
	assert_int_equal(sdx_munmap(p, 1024 * PS), 0);
	set_config(16, 0, false);
	fake_free(f);
}

static void test_partial_munmap_keeps_the_rest(void **state)
{
	struct fake *f = fake_new(8 * PS);
	uint8_t *p;
	char perms[5];

	(void)state;
	set_config(1, 0, false);
	p = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	p[3 * PS] = 3;
	assert_int_equal(sdx_munmap(p + 2 * PS, 2 * PS), 0);
	perms_of(p + 3 * PS, perms);
	assert_string_equal(perms, "none");
	p[0] = 1;
	p[7 * PS] = 7;
	assert_int_equal(block_of(f, 7)[0], 7);
	assert_int_equal(block_of(f, 3)[0], 3);
	assert_int_equal(f->puts, 0);
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);
	assert_int_equal(f->puts, 1);
	fake_free(f);
}

static void test_map_fixed_replaces_part_of_a_mapping(void **state)
{
	struct fake *f = fake_new(8 * PS), *g = fake_new(2 * PS);
	struct sdx_dax_file file = { &fake_ops, g, dev, O_RDWR };
	uint8_t *p;
	void *q;

	(void)state;
	set_config(1, 0, false);
	g->next_free = 100;			/* its own device blocks */
	p = fake_map(f, 8 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	p[2 * PS] = 'f';
	assert_int_equal(sdx_dax_mmap(&file, p + 2 * PS, 2 * PS,
				      PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_FIXED, 0, &q), 0);
	assert_ptr_equal(q, p + 2 * PS);
	assert_int_equal(p[2 * PS], 0);		/* g's hole, not f's page */
	p[2 * PS] = 'g';
	assert_int_equal(block_of(g, 0)[0], 'g');
	assert_int_equal(block_of(f, 2)[0], 'f');
	p[7 * PS] = 7;				/* f's mapping goes on */
	assert_int_equal(block_of(f, 7)[0], 7);
	assert_int_equal(sdx_munmap(p, 8 * PS), 0);	/* both */
	assert_int_equal(f->puts + g->puts, 2);
	fake_free(f);
	fake_free(g);
}

/* ---- child processes: fresh signal dispositions ---- */

static sigjmp_buf segv_jmp;
static volatile void *segv_addr;

static void on_sigsegv(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	segv_addr = si->si_addr;
	siglongjmp(segv_jmp, 1);
}

/* The application's SIGSEGV handler, installed before syncdax's, still
 * sees the faults that are not syncdax's. Exit 0 when it did. */
static int child_chain(void)
{
	struct sigaction sa;
	volatile uint8_t *q;
	struct fake *f;
	uint8_t *p, *w;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsegv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	if (setup(NULL))
		return 2;
	f = fake_new(8 * PS);
	p = fake_map(f, 8 * PS, PROT_READ, MAP_SHARED, O_RDONLY);
	q = mmap(NULL, PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p[0] != 0)			/* ours: resolved */
		return 3;
	if (sigsetjmp(segv_jmp, 1) == 0) {
		(void)*q;		/* not ours at all */
		return 4;
	}
	if (segv_addr != q)
		return 5;
	if (sigsetjmp(segv_jmp, 1) == 0) {
		p[PS] = 1;		/* ours, but PROT_READ */
		return 6;
	}
	if (segv_addr != p + PS)
		return 7;
	/* Ours, but the application took the write permission away. */
	w = fake_map(f, PS, PROT_READ | PROT_WRITE, MAP_SHARED, O_RDWR);
	w[0] = 1;
	mprotect(w, PS, PROT_READ);
	if (sigsetjmp(segv_jmp, 1) == 0) {
		w[1] = 1;
		return 8;
	}
	if (segv_addr != w + 1)
		return 9;
	teardown(NULL);
	return 0;
}

/* Beyond EOF with the default SIGBUS action: killed by SIGBUS. */
static int child_sigbus(void)
{
	struct rlimit no_core = { 0, 0 };
	struct fake *f;
	uint8_t *p;

	setrlimit(RLIMIT_CORE, &no_core);
	if (setup(NULL))
		return 2;
	f = fake_new(PS);
	p = fake_map(f, 2 * PS, PROT_READ, MAP_SHARED, O_RDONLY);
	(void)*(volatile uint8_t *)(p + PS);
	teardown(NULL);
	return 0;
}

static int run_child(const char *mode)
{
	char path[64];
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		/* The sanitizers must leave SIGBUS to the default action. */
		const char *tsan = getenv("TSAN_OPTIONS");
		char opts[1024];

		snprintf(opts, sizeof(opts), "%s%shandle_sigbus=0",
			 tsan ? tsan : "", tsan && *tsan ? ":" : "");
		setenv("TSAN_OPTIONS", opts, 1);
		setenv("ASAN_OPTIONS", "handle_sigbus=0:detect_leaks=0", 1);
		execl("/proc/self/exe", "test_dax_fault", mode, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* A child that died kept its device: tu_path() of its pid. */
	snprintf(path, sizeof(path), "/dev/shm/sdxtest-%d-dax-fault.dev",
		 (int)pid);
	unlink(path);
	return status;
}

static void test_foreign_segv_reaches_previous_handler(void **state)
{
	int status = run_child("chain");

	(void)state;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_sigbus_default_action_kills(void **state)
{
	int status = run_child("sigbus");

	(void)state;
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGBUS);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_of_hole_maps_zero_page_readonly),
		cmocka_unit_test(test_write_fault_maps_device_block_directly),
		cmocka_unit_test(
			test_sync_write_commits_before_page_is_writable),
		cmocka_unit_test(
			test_sync_flag_makes_shared_mapping_synchronous),
		cmocka_unit_test(test_map_sync_without_validate_is_ignored),
		cmocka_unit_test(test_nonsync_write_is_dirty_until_msync),
		cmocka_unit_test(
			test_writeback_protects_dirty_pages_of_a_file),
		cmocka_unit_test(test_access_beyond_eof_raises_sigbus),
		cmocka_unit_test(test_fault_around_maps_neighbours_at_once),
		cmocka_unit_test(
			test_syncahead_allocates_cluster_for_one_commit),
		cmocka_unit_test(test_huge_mapping_maps_2mib_at_once),
		cmocka_unit_test(
			test_sync_write_maps_2mib_where_run_is_aligned),
		cmocka_unit_test(
			test_sync_write_after_a_hole_maps_its_own_run),
		cmocka_unit_test(
			test_remap_under_reading_thread_keeps_contents),
		cmocka_unit_test(test_private_mapping_copies_on_write),
		cmocka_unit_test(
		    test_truncate_drops_private_copies_punch_keeps_them),
		cmocka_unit_test(test_mmap_checks_flags_like_linux),
		cmocka_unit_test(test_threads_fault_same_and_different_pages),
		cmocka_unit_test(test_prefault_lets_system_calls_use_mapping),
		cmocka_unit_test(test_populate_maps_allocated_extents),
		cmocka_unit_test(
			test_sequential_faults_keep_few_kernel_mappings),
		cmocka_unit_test(test_kernel_mappings_stay_under_budget),
		cmocka_unit_test(test_partial_munmap_keeps_the_rest),
		cmocka_unit_test(test_map_fixed_replaces_part_of_a_mapping),
		cmocka_unit_test(test_foreign_segv_reaches_previous_handler),
		cmocka_unit_test(test_sigbus_default_action_kills),
	};

	if (argc > 1 && strcmp(argv[1], "chain") == 0)
		return child_chain();
	if (argc > 1 && strcmp(argv[1], "sigbus") == 0)
		return child_sigbus();
	return cmocka_run_group_tests(tests, setup, teardown);
}
