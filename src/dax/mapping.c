/*
 * mapping.c - syncdax mappings: reservation, the registry that the fault
 * entry searches, the page-table installs, munmap, msync, fsync writeback,
 * prefault/MAP_POPULATE and the invalidation of ranges under remaps.
 *
 * A mapping is a PROT_NONE anonymous reservation of its whole length; pages
 * enter it only through sdx_dax_install() (mmap(MAP_FIXED) of device
 * extents, of the anonymous zero page, or back to the reservation).  See
 * dax_int.h for the page states.
 *
 * Invariants:
 *   (1) Every mapping with a page not GONE is in `maps` and in its host's
 *       list (struct dax_space in the host's dax slot); both change only
 *       under registry_lock held exclusive.
 *   (2) A page's state changes only under its mapping's state_lock, except
 *       that munmap also holds registry_lock exclusive when it marks pages
 *       GONE, so a lookup (registry_lock shared) never returns a GONE page.
 *   (3) Pages RO and RW are device pages and have an alias registered with
 *       src/pmem (sdx_dev_alias), so flushes through them are attributed
 *       to the device; no other page has one.
 *   (4) A mapping is freed only after all its pages are GONE, it left the
 *       registry, and its last use ended: a fault, msync or prefault holds
 *       a use (users, taken under registry_lock by sdx_dax_lookup), so no
 *       lock is taken while registry_lock is held but state_lock.
 *   (5) A page of a synchronous mapping becomes RW only after the journal
 *       committed the block mapping behind it (fault.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dax/dax_int.h"
#include "lib/err.h"
#include "syncdax.h"

#define PS ((uint64_t)SDX_PAGE_SIZE)
#define HUGE_BYTES ((uint64_t)SDX_IOMAP_HUGE_PAGES * PS)
#define MAX_FILE_PAGES (1ull << 32)	/* ext4, 4 KiB blocks */

/* Flags accepted with MAP_SHARED_VALIDATE (the kernel's LEGACY_MAP_MASK,
 * MAP_SYNC and MAP_FIXED_NOREPLACE). */
#define KNOWN_FLAGS (MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | \
		     MAP_DENYWRITE | MAP_EXECUTABLE | MAP_GROWSDOWN |         \
		     MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | \
		     MAP_STACK | MAP_HUGETLB | MAP_SYNC | MAP_FIXED_NOREPLACE)

/* The mappings of one host, in its dax slot. */
struct dax_space {
	struct dax_mapping *head;
};

static pthread_rwlock_t registry_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct dax_mapping **maps;
static size_t nr_maps, max_maps;

/*
 * The end of a mapping's life: munmap sets MAPPING_DYING in its users once
 * it left the registry, then waits on use_done for the last use to end.  A
 * use ends with a compare-and-swap while the bit is clear (the fault path),
 * under use_lock once it is set, so the waiter never misses the last one
 * and frees the mapping only after the putter is done with it.
 */
#define MAPPING_DYING (1u << 31)
static pthread_mutex_t use_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t use_done = PTHREAD_COND_INITIALIZER;

/*
 * ThreadSanitizer takes an mmap for a write of the whole range, so the
 * first access of a page by a thread other than the one that installed it
 * would be reported as a race.  An install changes page tables, not the
 * memory: with writes ignored TSan forgets the range's history instead.
 */
#if defined(__SANITIZE_THREAD__)
#define DAX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DAX_TSAN 1
#endif
#endif
#ifdef DAX_TSAN
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define PAGE_TABLES_BEGIN() AnnotateIgnoreWritesBegin(__FILE__, __LINE__)
#define PAGE_TABLES_END() AnnotateIgnoreWritesEnd(__FILE__, __LINE__)
#else
#define PAGE_TABLES_BEGIN() ((void)0)
#define PAGE_TABLES_END() ((void)0)
#endif

/*
 * The estimate behind sdx_dax_check_budget(): an install splits at most one
 * kernel mapping in three, so the count grows by at most 2 per install
 * since it was last read.
 */
static pthread_mutex_t budget_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t install_seq;		/* installs ever (atomic) */
static uint64_t seq_at_count;		/* install_seq when last counted */
static long ours_at_count, total_at_count;

static void set_states(struct dax_mapping *m, uint64_t pg, uint64_t n,
		       enum dax_page_state st)
{
	for (uint64_t i = pg; i < pg + n; i++)
		__atomic_store_n(&m->state[i], (uint8_t)st, __ATOMIC_RELAXED);
}

static bool is_device_state(uint8_t st)
{
	return st == PS_RO || st == PS_RW;
}

struct dax_mapping *sdx_dax_lookup(const void *addr, uint64_t *pg)
{
	uintptr_t a = (uintptr_t)addr;
	struct dax_mapping *found = NULL;

	pthread_rwlock_rdlock(&registry_lock);
	for (size_t i = 0; i < nr_maps && !found; i++) {
		struct dax_mapping *m = maps[i];
		uintptr_t b = (uintptr_t)m->base;

		if (a >= b && (a - b) / PS < m->npages &&
		    page_state(m, (a - b) / PS) != PS_GONE) {
			found = m;
			*pg = (a - b) / PS;
		}
	}
	if (found)
		__atomic_add_fetch(&found->users, 1, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&registry_lock);
	return found;
}

void sdx_dax_put(struct dax_mapping *m)
{
	uint32_t v = __atomic_load_n(&m->users, __ATOMIC_RELAXED);

	while (!(v & MAPPING_DYING))
		if (__atomic_compare_exchange_n(&m->users, &v, v - 1, true,
						__ATOMIC_RELEASE,
						__ATOMIC_RELAXED))
			return;
	pthread_mutex_lock(&use_lock);
	__atomic_sub_fetch(&m->users, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&use_done);
	pthread_mutex_unlock(&use_lock);
}

/* Wait for the uses of @m in flight; it has left the registry. */
static void wait_unused(struct dax_mapping *m)
{
	pthread_mutex_lock(&use_lock);
	__atomic_or_fetch(&m->users, MAPPING_DYING, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&m->users, __ATOMIC_ACQUIRE) != MAPPING_DYING)
		pthread_cond_wait(&use_done, &use_lock);
	pthread_mutex_unlock(&use_lock);
}

bool sdx_dax_is_sync(const struct dax_mapping *m)
{
	const struct sdx_dax_ops *ops = m->file.ops;

	return m->is_map_sync ||
	       (m->is_shared && (m->prot & PROT_WRITE) && ops->is_sync &&
		ops->is_sync(m->file.host));
}

/* Forget the device aliases of [va, va+len) (pmem trims overlapped ones). */
static void alias_clear(struct sdx_dev *dev, uint8_t *va, uint64_t len)
{
	while (len) {
		uint64_t n = len < dev->size ? len : dev->size;

		sdx_dev_alias(dev, va, n, 0);
		sdx_dev_alias(dev, va, 0, 0);
		va += n;
		len -= n;
	}
}

static int map_pages(struct dax_mapping *m, uint8_t *va, uint64_t len,
		     enum dax_page_state st, uint64_t dev_off)
{
	int exec = m->prot & PROT_EXEC;
	int anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED;
	void *p;

	PAGE_TABLES_BEGIN();
	switch (st) {
	case PS_RO:
		p = mmap(va, len, PROT_READ | exec, MAP_SHARED | MAP_FIXED |
			 MAP_POPULATE, m->file.dev->fd, (off_t)dev_off);
		break;
	case PS_RW:
		p = mmap(va, len, PROT_READ | PROT_WRITE | exec,
			 MAP_SHARED | MAP_FIXED | MAP_POPULATE,
			 m->file.dev->fd, (off_t)dev_off);
		break;
	case PS_ZERO:
		p = mmap(va, len, PROT_READ | exec, anon, -1, 0);
		break;
	default:
		p = mmap(va, len, PROT_NONE, anon, -1, 0);
		break;
	}
	PAGE_TABLES_END();
	return p == MAP_FAILED ? -errno : 0;
}

long sdx_dax_install(struct dax_mapping *m, uint64_t pg, uint64_t n,
		     enum dax_page_state st, uint64_t dev_off, unsigned from)
{
	struct sdx_dev *dev = m->file.dev;
	uint64_t i = pg, end = pg + n;
	long done = 0;

	while (i < end) {
		bool had_device = false;
		uint64_t s, off;
		uint8_t *va;
		int err;

		while (i < end && !(from & PS_BIT(page_state(m, i))))
			i++;
		for (s = i; i < end && (from & PS_BIT(page_state(m, i))); i++)
			had_device |= is_device_state(page_state(m, i));
		if (s == i)
			break;
		va = m->base + s * PS;
		off = dev_off + (s - pg) * PS;
		err = map_pages(m, va, (i - s) * PS, st, off);
		if (err) {
			/* A failed MAP_FIXED may have unmapped the range. */
			map_pages(m, va, (i - s) * PS, PS_NONE, 0);
			set_states(m, s, i - s, PS_NONE);
			alias_clear(dev, va, (i - s) * PS);
			return sdx_err(err, "mapping pages %" PRIu64 "..%" PRIu64
				       " of a syncdax mapping failed (%s)",
				       m->pgoff + s, m->pgoff + i - 1,
				       strerror(-err));
		}
		if (is_device_state(st))
			sdx_dev_alias(dev, va, (i - s) * PS, off);
		else if (had_device)
			alias_clear(dev, va, (i - s) * PS);
		set_states(m, s, i - s, st);
		DAX_COUNT(installs, 1);
		__atomic_fetch_add(&install_seq, 1, __ATOMIC_RELAXED);
		done += (long)(i - s);
	}
	return done;
}

int sdx_dax_install_copy(struct dax_mapping *m, uint64_t pg, const void *src)
{
	uint8_t *va = m->base + pg * PS;
	uint8_t st = page_state(m, pg);
	void *copy;

	if (st == PS_COW || st == PS_GONE)
		return 0;	/* another thread was first, or munmap */
	copy = mmap(NULL, PS, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (copy == MAP_FAILED)
		return sdx_err(-errno, "no memory for a private copy of file "
			       "page %" PRIu64, m->pgoff + pg);
	if (src)
		memcpy(copy, src, PS);
	if ((m->prot & PROT_EXEC) &&
	    mprotect(copy, PS, PROT_READ | PROT_WRITE | PROT_EXEC))
		goto out_unmap;
	/* mremap replaces the page atomically: no reader sees it empty. */
	if (mremap(copy, PS, PS, MREMAP_MAYMOVE | MREMAP_FIXED, va) ==
	    MAP_FAILED)
		goto out_unmap;
	if (is_device_state(st))
		alias_clear(m->file.dev, va, PS);
	set_states(m, pg, 1, PS_COW);
	DAX_COUNT(installs, 1);
	__atomic_fetch_add(&install_seq, 1, __ATOMIC_RELAXED);
	return 1;
out_unmap:
	munmap(copy, PS);
	return sdx_err(-errno, "installing the private copy of file page %"
		       PRIu64 " failed", m->pgoff + pg);
}

/*
 * Flush the RW pages of [pg, pg+n) through the mapping; with @protect make
 * them RO first (the kernel's order: a store after the protect faults and
 * marks the page dirty again, so it is never lost).  state_lock held.
 */
static uint64_t writeback_locked(struct dax_mapping *m, uint64_t pg,
				 uint64_t n, bool protect)
{
	uint64_t i = pg, end = pg + n, flushed = 0;

	while (i < end) {
		uint64_t s;
		uint8_t *va;

		while (i < end && page_state(m, i) != PS_RW)
			i++;
		for (s = i; i < end && page_state(m, i) == PS_RW; i++)
			;
		if (s == i)
			break;
		va = m->base + s * PS;
		if (protect &&
		    mprotect(va, (i - s) * PS,
			     PROT_READ | (m->prot & PROT_EXEC)) == 0)
			set_states(m, s, i - s, PS_RO);
		sdx_dev_flush(m->file.dev, va, (i - s) * PS);
		flushed += i - s;
	}
	return flushed;
}

/* ---- the kernel mapping budget (vm.max_map_count) ---- */

static long max_map_count(void)
{
	static long cached;
	char buf[32];
	ssize_t n;
	int fd;

	if (cached)
		return cached;
	cached = 65530;		/* the kernel's default */
	fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			if (atol(buf) > 0)
				cached = atol(buf);
		}
		close(fd);
	}
	return cached;
}

static bool in_some_mapping(uintptr_t a)
{
	for (size_t i = 0; i < nr_maps; i++) {
		uintptr_t b = (uintptr_t)maps[i]->base;

		if (a >= b && (a - b) / PS < maps[i]->npages)
			return true;
	}
	return false;
}

/*
 * Count the kernel's mappings (lines of /proc/self/maps): all of them in
 * *@total, and those inside syncdax mappings as the return value.  Only
 * read(2) and a stack buffer: it runs in the fault handler.
 */
static long count_kernel_mappings(long *total)
{
	char buf[4096];
	uintptr_t start = 0;
	bool at_line_start = true, in_addr = true;
	long ours = 0, all = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return *total = 0;
	pthread_rwlock_rdlock(&registry_lock);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];

			if (at_line_start) {
				start = 0;
				in_addr = true;
				at_line_start = false;
			}
			if (in_addr && c >= '0' && c <= '9')
				start = start * 16 + (uintptr_t)(c - '0');
			else if (in_addr && c >= 'a' && c <= 'f')
				start = start * 16 + (uintptr_t)(c - 'a' + 10);
			else
				in_addr = false;
			if (c == '\n') {
				all++;
				ours += in_some_mapping(start);
				at_line_start = true;
			}
		}
	}
	pthread_rwlock_unlock(&registry_lock);
	close(fd);
	*total = all;
	return ours;
}

long sdx_dax_kernel_mappings(void)
{
	long total;

	return count_kernel_mappings(&total);
}

static bool within(long ours, long total, long budget, long limit)
{
	return ours <= budget && total <= limit;
}

/* Drop every mapping's pages back to the reservation. */
static void shrink_all(void)
{
	pthread_rwlock_rdlock(&registry_lock);
	for (size_t i = 0; i < nr_maps; i++) {
		struct dax_mapping *m = maps[i];

		pthread_mutex_lock(&m->state_lock);
		if (writeback_locked(m, 0, m->npages, !sdx_dax_is_sync(m)))
			sdx_dev_drain(m->file.dev);
		sdx_dax_install(m, 0, m->npages, PS_NONE, 0,
				PS_BIT(PS_ZERO) | PS_BIT(PS_RO) |
				PS_BIT(PS_RW));
		pthread_mutex_unlock(&m->state_lock);
	}
	pthread_rwlock_unlock(&registry_lock);
	DAX_COUNT(shrinks, 1);
}

int sdx_dax_check_budget(void)
{
	long limit = max_map_count() - max_map_count() / 8;
	long budget = sdx_dax_cfg.max_mappings ?
		      (long)sdx_dax_cfg.max_mappings : limit;
	long growth = 2 * (long)(__atomic_load_n(&install_seq,
						 __ATOMIC_RELAXED) -
				 __atomic_load_n(&seq_at_count,
						 __ATOMIC_RELAXED));
	int err = 0;

	if (within(__atomic_load_n(&ours_at_count, __ATOMIC_RELAXED) + growth,
		   __atomic_load_n(&total_at_count, __ATOMIC_RELAXED) + growth,
		   budget, limit))
		return 0;
	pthread_mutex_lock(&budget_lock);
	for (int pass = 0; pass < 2; pass++) {
		__atomic_store_n(&seq_at_count, __atomic_load_n(&install_seq,
			__ATOMIC_RELAXED), __ATOMIC_RELAXED);
		long total, ours = count_kernel_mappings(&total);

		__atomic_store_n(&ours_at_count, ours, __ATOMIC_RELAXED);
		__atomic_store_n(&total_at_count, total, __ATOMIC_RELAXED);
		/* Room for the fault's own installs (at most 2 each). */
		if (within(ours + 4, total + 4, budget, limit))
			goto out_unlock;
		if (pass == 0)
			shrink_all();
	}
	err = sdx_err(-ENOMEM, "syncdax mappings use %ld kernel mappings "
		      "(budget %ld) and the process %ld (vm.max_map_count "
		      "%ld): cannot map more pages", ours_at_count, budget,
		      total_at_count, max_map_count());
out_unlock:
	pthread_mutex_unlock(&budget_lock);
	return err;
}

/* ---- registry ---- */

static struct dax_space **space_slot(struct dax_mapping *m)
{
	return (struct dax_space **)m->file.ops->dax_slot(m->file.host);
}

/* Add @m to the registry and its host's list.  registry_lock exclusive. */
static int registry_add(struct dax_mapping *m)
{
	struct dax_space **slot = space_slot(m);

	if (nr_maps == max_maps) {
		size_t n = max_maps ? 2 * max_maps : 16;
		struct dax_mapping **p = realloc(maps, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		maps = p;
		max_maps = n;
	}
	if (!*slot) {
		*slot = calloc(1, sizeof(**slot));
		if (!*slot)
			return -ENOMEM;
	}
	m->host_next = (*slot)->head;
	(*slot)->head = m;
	maps[nr_maps++] = m;
	return 0;
}

/* Take @m out of the registry and its host's list.  registry_lock excl. */
static void registry_remove(struct dax_mapping *m)
{
	struct dax_space **slot = space_slot(m);
	struct dax_mapping **pp;

	for (size_t i = 0; i < nr_maps; i++) {
		if (maps[i] == m) {
			maps[i] = maps[--nr_maps];
			break;
		}
	}
	for (pp = &(*slot)->head; *pp; pp = &(*pp)->host_next) {
		if (*pp == m) {
			*pp = m->host_next;
			break;
		}
	}
	if (!(*slot)->head) {
		free(*slot);
		*slot = NULL;
	}
}

static void mapping_free(struct dax_mapping *m)
{
	pthread_mutex_destroy(&m->state_lock);
	free(m->state);
	free(m);
}

/* ---- mmap ---- */

static int check_args(const struct sdx_dax_file *file, size_t len, int prot,
		      int flags, uint64_t off, void *addr)
{
	int type = flags & MAP_TYPE, acc = file->open_flags & O_ACCMODE;
	bool is_shared = type != MAP_PRIVATE;

	if (len == 0)
		return sdx_err(-EINVAL, "mmap: length 0");
	if (off % PS)
		return sdx_err(-EINVAL, "mmap: offset %" PRIu64 " is not a "
			       "multiple of the page size", off);
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC))
		return sdx_err(-EINVAL, "mmap: unknown prot bits 0x%x", prot);
	if (type != MAP_SHARED && type != MAP_PRIVATE &&
	    type != MAP_SHARED_VALIDATE)
		return sdx_err(-EINVAL, "mmap: flags 0x%x name none of "
			       "MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE",
			       flags);
	if (type == MAP_SHARED_VALIDATE && (flags & ~KNOWN_FLAGS))
		return sdx_err(-EOPNOTSUPP, "mmap: unknown flags 0x%x with "
			       "MAP_SHARED_VALIDATE", flags & ~KNOWN_FLAGS);
	if (flags & (MAP_ANONYMOUS | MAP_HUGETLB | MAP_GROWSDOWN))
		return sdx_err(-EINVAL, "mmap: MAP_ANONYMOUS, MAP_HUGETLB and "
			       "MAP_GROWSDOWN do not apply to syncdax files");
	if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) &&
	    (uintptr_t)addr % PS)
		return sdx_err(-EINVAL, "mmap: MAP_FIXED address %p is not "
			       "page aligned", addr);
	if (len > MAX_FILE_PAGES * PS || off / PS > MAX_FILE_PAGES ||
	    MAX_FILE_PAGES - off / PS < (len + PS - 1) / PS)
		return sdx_err(-EOVERFLOW, "mmap: offset %" PRIu64 " + length "
			       "%zu lies beyond the largest ext4 file", off,
			       len);
	if (acc == O_WRONLY)
		return sdx_err(-EACCES, "mmap: the descriptor is write-only");
	if (is_shared && (prot & PROT_WRITE) &&
	    (acc != O_RDWR || file->dev->is_rdonly))
		return sdx_err(-EACCES, "mmap: a shared writable mapping needs "
			       "a descriptor open for reading and writing");
	if (type == MAP_SHARED_VALIDATE && (flags & MAP_SYNC) &&
	    !file->dev->is_persistent)
		return sdx_err(-EOPNOTSUPP, "mmap: MAP_SYNC on device %s (%s), "
			       "whose stores cannot be made durable from user "
			       "space", file->dev->path ? file->dev->path : "?",
			       sdx_dev_kind_name(file->dev->kind));
	if (file->dev->size / PS >= MAX_FILE_PAGES)
		return sdx_err(-EOPNOTSUPP, "mmap: device larger than 16 TiB");
	return 0;
}

/* Reserve @len bytes PROT_NONE; 2 MiB congruent with @off when it can. */
static int reserve(void *addr, uint64_t len, int flags, uint64_t off,
		   uint8_t **base)
{
	int anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	uint64_t lead;
	uint8_t *p;

	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		p = mmap(addr, len, PROT_NONE,
			 anon | (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)),
			 -1, 0);
	} else if (len >= HUGE_BYTES && sdx_dax_cfg.huge) {
		p = mmap(addr, len + HUGE_BYTES, PROT_NONE, anon, -1, 0);
		if (p != MAP_FAILED) {
			lead = (off - (uintptr_t)p) % HUGE_BYTES;
			if (lead)
				munmap(p, lead);
			munmap(p + lead + len, HUGE_BYTES - lead);
			p += lead;
		}
	} else {
		p = mmap(addr, len, PROT_NONE, anon, -1, 0);
	}
	if (p == MAP_FAILED)
		return sdx_err(-errno, "mmap: reserving %" PRIu64 " bytes of "
			       "address space failed (%s)", len,
			       strerror(errno));
	*base = p;
	return 0;
}

static bool fault_resolved(enum dax_fault_result r)
{
	return r == DAX_FAULT_DONE || r == DAX_FAULT_RACED;
}

/* MAP_POPULATE: map what is allocated; never allocate. */
static void populate(struct dax_mapping *m)
{
	bool writable = m->is_shared && (m->prot & PROT_WRITE);

	for (uint64_t pg = 0; pg < m->npages; pg++)
		if (page_state(m, pg) == PS_NONE &&
		    !fault_resolved(sdx_dax_fault(m, pg, false)))
			break;	/* end of file */
	for (uint64_t pg = 0; writable && pg < m->npages; pg++)
		if (page_state(m, pg) == PS_RO &&
		    !fault_resolved(sdx_dax_fault(m, pg, true)))
			break;
}

static void unmap_range(uint8_t *addr, uint64_t len);

int sdx_dax_mmap(const struct sdx_dax_file *file, void *addr, size_t len,
		 int prot, int flags, uint64_t off, void **out)
{
	struct dax_mapping *m;
	int err;

	sdx_dax_init();
	err = check_args(file, len, prot, flags, off, addr);
	if (err)
		return err;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->npages = (len + PS - 1) / PS;
	m->pgoff = off / PS;
	m->prot = prot;
	m->is_shared = (flags & MAP_TYPE) != MAP_PRIVATE;
	m->is_map_sync = (flags & MAP_TYPE) == MAP_SHARED_VALIDATE &&
			 (flags & MAP_SYNC);
	m->file = *file;
	m->live = m->npages;
	m->state = calloc(m->npages, 1);
	if (!m->state) {
		err = -ENOMEM;
		goto out_free;
	}
	m->users = 1;		/* populate's, until it returns */
	pthread_mutex_init(&m->state_lock, NULL);
	if (flags & MAP_FIXED)
		unmap_range(addr, m->npages * PS);
	err = reserve(addr, m->npages * PS, flags, off, &m->base);
	if (err)
		goto out_free;
	pthread_rwlock_wrlock(&registry_lock);
	err = registry_add(m);
	pthread_rwlock_unlock(&registry_lock);
	if (err)
		goto out_unmap;
	if (flags & MAP_POPULATE)
		populate(m);
	*out = m->base;
	sdx_dax_put(m);
	return 0;
out_unmap:
	munmap(m->base, m->npages * PS);
out_free:
	if (m->state)
		mapping_free(m);
	else
		free(m);
	return err;
}

/* ---- munmap ---- */

/* Unmap pages [s, e) of @m that are still its own (a GONE page's address
 * may belong to a mapping made over it since).  state_lock held. */
static void gone_locked(struct dax_mapping *m, uint64_t s, uint64_t e)
{
	for (uint64_t i = s, r; i < e;) {
		while (i < e && page_state(m, i) == PS_GONE)
			i++;
		for (r = i; i < e && page_state(m, i) != PS_GONE; i++)
			;
		if (r == i)
			break;
		munmap(m->base + r * PS, (i - r) * PS);
		alias_clear(m->file.dev, m->base + r * PS, (i - r) * PS);
		set_states(m, r, i - r, PS_GONE);
		m->live -= i - r;
	}
}

static void unmap_range(uint8_t *addr, uint64_t len)
{
	struct dax_mapping *dead = NULL;	/* linked by host_next */

	pthread_rwlock_wrlock(&registry_lock);
	for (size_t i = 0; i < nr_maps; i++) {
		struct dax_mapping *m = maps[i];
		uint8_t *end = m->base + m->npages * PS;
		uint64_t s, e;

		if (addr >= end || addr + len <= m->base)
			continue;
		s = addr > m->base ? (uint64_t)(addr - m->base) / PS : 0;
		e = addr + len < end ?
			(uint64_t)(addr + len - m->base + PS - 1) / PS :
			m->npages;
		pthread_mutex_lock(&m->state_lock);
		/* Data of non-synchronous mappings stays owed to fsync. */
		if (writeback_locked(m, s, e - s, false))
			sdx_dev_drain(m->file.dev);
		gone_locked(m, s, e);
		pthread_mutex_unlock(&m->state_lock);
		if (m->live)
			continue;
		registry_remove(m);
		i--;	/* the last entry moved here */
		m->host_next = dead;
		dead = m;
	}
	pthread_rwlock_unlock(&registry_lock);
	while (dead) {
		struct dax_mapping *m = dead;

		dead = m->host_next;
		wait_unused(m);		/* faults in flight */
		if (m->file.ops->put)
			m->file.ops->put(m->file.host);
		mapping_free(m);
	}
}

int sdx_munmap(void *addr, size_t len)
{
	sdx_err_clear();
	if ((uintptr_t)addr % PS || len == 0)
		return (int)sdx_errno_ret(sdx_err(-EINVAL, "munmap: address "
						  "%p or length %zu invalid",
						  addr, len));
	unmap_range(addr, len);
	return 0;
}

/* ---- msync, fsync writeback, invalidate, prefault ---- */

int sdx_msync(void *addr, size_t len, int flags)
{
	uint8_t *va = addr, *end;
	int err = 0;

	sdx_err_clear();
	if ((uintptr_t)addr % PS ||
	    (flags & ~(MS_ASYNC | MS_SYNC | MS_INVALIDATE)) ||
	    ((flags & MS_ASYNC) && (flags & MS_SYNC)))
		return (int)sdx_errno_ret(sdx_err(-EINVAL, "msync: address %p "
						  "or flags 0x%x invalid",
						  addr, flags));
	end = va + (len + PS - 1) / PS * PS;
	while (va < end) {
		struct dax_mapping *m;
		uint64_t pg, n;
		int r;

		m = sdx_dax_lookup(va, &pg);
		if (!m) {
			err = sdx_err(-ENOMEM, "msync: %p is not in a syncdax "
				      "mapping", (void *)va);
			va += PS;
			continue;
		}
		n = m->npages - pg;
		if (n > (uint64_t)(end - va) / PS)
			n = (uint64_t)(end - va) / PS;
		if (m->is_shared) {
			uint64_t flushed;

			pthread_mutex_lock(&m->state_lock);
			flushed = writeback_locked(m, pg, n,
						   !sdx_dax_is_sync(m));
			pthread_mutex_unlock(&m->state_lock);
			if (flushed) {
				DAX_COUNT_MAP(m, msync_pages, flushed);
				sdx_dev_drain(m->file.dev);
			}
			r = m->file.ops->datasync(m->file.host);
			if (r)
				err = r;
		}
		sdx_dax_put(m);
		va += n * PS;
	}
	return (int)sdx_errno_ret(err);
}

void sdx_dax_writeback(void **slot)
{
	struct dax_space *sp;

	pthread_rwlock_rdlock(&registry_lock);
	sp = *slot;
	for (struct dax_mapping *m = sp ? sp->head : NULL; m;
	     m = m->host_next) {
		uint64_t n;

		if (!m->is_shared)
			continue;
		pthread_mutex_lock(&m->state_lock);
		n = writeback_locked(m, 0, m->npages, !sdx_dax_is_sync(m));
		pthread_mutex_unlock(&m->state_lock);
		if (n) {
			DAX_COUNT_MAP(m, msync_pages, n);
			sdx_dev_drain(m->file.dev);
		}
	}
	pthread_rwlock_unlock(&registry_lock);
}

/* The page of @m from which on the file has ended (i_size as it is now,
 * under the host's invalidate_lock); m->npages if none. */
static uint64_t first_page_beyond_eof(const struct dax_mapping *m)
{
	uint64_t size = m->file.ops->size(m->file.host);
	uint64_t eof = size / PS + (size % PS != 0);

	if (eof <= m->pgoff)
		return 0;
	return eof - m->pgoff < m->npages ? eof - m->pgoff : m->npages;
}

void sdx_dax_invalidate(void **slot, uint64_t pgoff, uint64_t npages)
{
	uint64_t end = npages > UINT64_MAX - pgoff ? UINT64_MAX :
		       pgoff + npages;
	struct dax_space *sp;

	pthread_rwlock_rdlock(&registry_lock);
	sp = *slot;
	for (struct dax_mapping *m = sp ? sp->head : NULL; m;
	     m = m->host_next) {
		uint64_t s = pgoff > m->pgoff ? pgoff - m->pgoff : 0;
		uint64_t e = end - m->pgoff < m->npages ? end - m->pgoff :
			     m->npages, beyond;
		long n, cows = 0;

		if (end <= m->pgoff || s >= m->npages)
			continue;
		pthread_mutex_lock(&m->state_lock);
		if (writeback_locked(m, s, e - s, false))
			sdx_dev_drain(m->file.dev);
		n = sdx_dax_install(m, s, e - s, PS_NONE, 0,
				    PS_BIT(PS_ZERO) | PS_BIT(PS_RO) |
				    PS_BIT(PS_RW));
		beyond = first_page_beyond_eof(m);
		if (n >= 0 && beyond < e)
			cows = sdx_dax_install(m, beyond > s ? beyond : s,
					       e - (beyond > s ? beyond : s),
					       PS_NONE, 0, PS_BIT(PS_COW));
		pthread_mutex_unlock(&m->state_lock);
		if (n > 0)
			DAX_COUNT_MAP(m, invalidated_pages, (uint64_t)n);
		if (cows > 0)
			DAX_COUNT_MAP(m, invalidated_pages, (uint64_t)cows);
	}
	pthread_rwlock_unlock(&registry_lock);
}

int sdx_prefault(void *addr, size_t len, int write)
{
	uint8_t *va = (uint8_t *)((uintptr_t)addr & ~(uintptr_t)(PS - 1));
	uint8_t *end = (uint8_t *)addr + len;
	int err = 0;

	sdx_err_clear();
	for (; va < end && !err; va += PS) {
		struct dax_mapping *m;
		enum dax_fault_result r = DAX_FAULT_DONE;
		uint64_t pg;
		uint8_t st;

		m = sdx_dax_lookup(va, &pg);
		if (!m) {
			err = sdx_err(-EFAULT, "prefault: %p is not in a "
				      "syncdax mapping", (void *)va);
			break;
		}
		st = page_state(m, pg);
		if (write ? (st != PS_RW && st != PS_COW) : st == PS_NONE)
			r = sdx_dax_fault(m, pg, write);
		sdx_dax_put(m);
		if (r == DAX_FAULT_FOREIGN)
			err = sdx_err(-EACCES, "prefault: the mapping at %p "
				      "does not allow %s", (void *)va,
				      write ? "writing" : "reading");
		else if (r == DAX_FAULT_SIGBUS)
			err = -EFAULT;	/* the fault recorded why */
	}
	return (int)sdx_errno_ret(err);
}
