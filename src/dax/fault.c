/*
 * fault.c - the user-space page fault path of syncdax mappings.
 *
 * Entry: a SIGSEGV handler (SA_SIGINFO).  A page of a mapping that is not
 * mapped yet is PROT_NONE, a page mapped read-only is PROT_READ, so the
 * first load of a page and the first store to a read-only page both arrive
 * here; on x86-64 the page-fault error code (REG_ERR bit 1) tells a write,
 * elsewhere a fault on a page that is already readable must be a write.
 * The handler resolves the access and returns; the instruction restarts.
 *
 *   NONE --read, hole or unwritten--> ZERO        (read_fault)
 *   NONE --read, mapped--------------> RO, with up to fault_around
 *                                      neighbours, 2 MiB at once if aligned
 *   NONE|ZERO|RO --write, shared-----> RW         (write_fault)
 *        synchronous: iomap(WRITE) allocates (zeroed, persisted); if the
 *        host is datasync-dirty the journal commits (NEEDDSYNC) and only
 *        then is the page made writable, with the rest of its extent up to
 *        the fault-around window; sync-ahead first allocates the whole
 *        aligned cluster around a hole so one commit serves many faults.
 *        non-synchronous: the page alone, at once; RW records it dirty.
 *   NONE|ZERO|RO --write, private----> COW        (a copy, cow_fault; a
 *                                      truncate below it drops it)
 *   beyond the page holding i_size --> SIGBUS to the thread, as the kernel
 *   an address not ours, or an access the prot forbids --> the handler
 *                                      installed before ours
 *
 * Invariants:
 *   (1) Every fault runs with the host's invalidate_lock shared from
 *       iomap_begin to the install, so no remap slips in between.
 *   (2) A synchronous mapping's page is installed RW only after datasync
 *       returned 0 for the block mapping that iomap_begin reported.
 *   (3) errno is preserved across the handler.
 *
 * Counting: every counter goes to the process's totals (sdx_dax_stat) and,
 * for a mapping of a mount that published a statistics page
 * (lib/statpage.h), to that page too: sdx_dax_fault points the thread's
 * sdx_dax_fs_stat at it for the fault's duration, so what the fault does
 * in mapping.c counts as well.  A resolved fault's time (two vDSO clock
 * reads, entry to return) goes to the page's latency figures.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "dax/dax_int.h"
#include "lib/err.h"

#define PS ((uint64_t)SDX_PAGE_SIZE)
#define HUGE_PAGES SDX_IOMAP_HUGE_PAGES

struct sdx_dax_stats sdx_dax_stat;
_Thread_local struct sdx_dax_stats *sdx_dax_fs_stat;
struct sdx_dax_config sdx_dax_cfg = {
	.fault_around = 16,
	.syncahead = 2u << 20,
	.huge = true,
};

static struct sigaction prev_segv;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* ---- tunables and statistics ---- */

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int sdx_dax_set_config(const struct sdx_dax_config *cfg)
{
	if (!is_pow2(cfg->fault_around) || cfg->fault_around > HUGE_PAGES)
		return sdx_err(-EINVAL, "fault-around %u pages: not a power "
			       "of two in 1..%u", cfg->fault_around,
			       HUGE_PAGES);
	if (cfg->syncahead &&
	    (!is_pow2(cfg->syncahead) || cfg->syncahead < PS))
		return sdx_err(-EINVAL, "sync-ahead %" PRIu64 " bytes: not 0 "
			       "or a power of two of at least 4096",
			       cfg->syncahead);
	sdx_dax_cfg = *cfg;
	return 0;
}

void sdx_dax_get_config(struct sdx_dax_config *cfg)
{
	*cfg = sdx_dax_cfg;
}

static void config_from_env(void)
{
	struct sdx_dax_config cfg = sdx_dax_cfg;
	const char *v;

	if ((v = getenv("SDX_FAULT_AROUND")))
		cfg.fault_around = (unsigned)strtoul(v, NULL, 0);
	if ((v = getenv("SDX_SYNCAHEAD")))
		cfg.syncahead = strtoull(v, NULL, 0);
	if ((v = getenv("SDX_DAX_HUGE")))
		cfg.huge = strtoul(v, NULL, 0) != 0;
	if ((v = getenv("SDX_MAX_MAPPINGS")))
		cfg.max_mappings = strtoul(v, NULL, 0);
	if (sdx_dax_set_config(&cfg))
		sdx_err_clear();	/* a bad value keeps the defaults */
}

void sdx_dax_get_stats(struct sdx_dax_stats *st)
{
	uint64_t *dst = (uint64_t *)st, *src = (uint64_t *)&sdx_dax_stat;

	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	st->kernel_mappings = (uint64_t)sdx_dax_kernel_mappings();
}

void sdx_dax_reset_stats(void)
{
	uint64_t *p = (uint64_t *)&sdx_dax_stat;

	for (size_t i = 0; i < sizeof(sdx_dax_stat) / sizeof(uint64_t); i++)
		__atomic_store_n(&p[i], 0, __ATOMIC_RELAXED);
}

/* ---- the fault path ---- */

/* iomap_begin, with its answer checked against the device. */
static int iomap(struct dax_mapping *m, uint64_t pgoff, uint64_t npages,
		 unsigned flags, struct sdx_iomap *o)
{
	uint64_t dev_pages = m->file.dev->size / PS;
	int err = m->file.ops->iomap_begin(m->file.host, pgoff, npages, flags,
					   o);

	if (err)
		return err;
	if (o->npages == 0 || o->pgoff != pgoff)
		return sdx_err(-EIO, "iomap of file page %" PRIu64 " answered "
			       "%" PRIu64 " pages at %" PRIu64, pgoff,
			       o->npages, o->pgoff);
	if (o->type != SDX_IOMAP_HOLE &&
	    (o->dev_off % PS || o->dev_off / PS > dev_pages ||
	     o->npages > dev_pages - o->dev_off / PS))
		return sdx_err(-EUCLEAN, "iomap of file page %" PRIu64 ": %"
			       PRIu64 " pages at device offset %" PRIu64
			       " lie outside the device", pgoff, o->npages,
			       o->dev_off);
	return 0;
}

static enum dax_fault_result sigbus(int err, uint64_t pgoff)
{
	DAX_COUNT(faults_sigbus, 1);
	if (err)
		sdx_err(err, "fault on file page %" PRIu64 ": %s", pgoff,
			strerror(-err));
	return DAX_FAULT_SIGBUS;
}

/* The aligned fault-around window of @pages around @pgoff, clipped to the
 * mapping and to end of file. */
static void fault_window(const struct dax_mapping *m, uint64_t pgoff,
			 uint64_t eof, unsigned pages, uint64_t *ws,
			 uint64_t *we)
{
	uint64_t s = pgoff & ~(uint64_t)(pages - 1), e = s + pages;

	if (s < m->pgoff)
		s = m->pgoff;
	if (e > m->pgoff + m->npages)
		e = m->pgoff + m->npages;
	if (e > eof)
		e = eof;
	*ws = s;
	*we = e;
}

/* Do the mapping, end of file and the address let the aligned 2 MiB
 * around @pgoff be mapped at once (if the device run allows)? */
static bool huge_fits(const struct dax_mapping *m, uint64_t pgoff,
		      uint64_t eof)
{
	uint64_t s = pgoff & ~(uint64_t)(HUGE_PAGES - 1);

	return sdx_dax_cfg.huge && s >= m->pgoff &&
	       s + HUGE_PAGES <= m->pgoff + m->npages &&
	       s + HUGE_PAGES <= eof &&
	       (uintptr_t)(m->base + (s - m->pgoff) * PS) %
	       (HUGE_PAGES * PS) == 0;
}

/*
 * Is the 2 MiB around @pgoff one device run, 2 MiB aligned on the device,
 * in a place huge_fits()?  Then *@o describes it from its first page.
 */
static bool huge_run(struct dax_mapping *m, uint64_t pgoff, uint64_t eof,
		     struct sdx_iomap *o)
{
	return huge_fits(m, pgoff, eof) &&
	       iomap(m, pgoff & ~(uint64_t)(HUGE_PAGES - 1), HUGE_PAGES, 0,
		     o) == 0 &&
	       o->type == SDX_IOMAP_MAPPED && o->npages >= HUGE_PAGES &&
	       o->dev_off % (HUGE_PAGES * PS) == 0;
}

/* Could the run @o found at @pgoff be the tail of a 2 MiB device run? */
static bool reaches_huge_end(uint64_t pgoff, const struct sdx_iomap *o)
{
	uint64_t s = pgoff & ~(uint64_t)(HUGE_PAGES - 1);

	return o->type == SDX_IOMAP_MAPPED &&
	       o->pgoff + o->npages >= s + HUGE_PAGES &&
	       (o->dev_off - (pgoff - s) * PS) % (HUGE_PAGES * PS) == 0;
}

/* Map [from, to) for reading (device runs RO, holes ZERO) over NONE pages;
 * @first is iomap's answer for @from already, or NULL.
 * Return: pages mapped, or -errno if the first run failed. */
static long map_for_read(struct dax_mapping *m, uint64_t from, uint64_t to,
			 const struct sdx_iomap *first, bool *hit_hole)
{
	struct sdx_iomap o;
	long done = 0;

	for (uint64_t cur = from; cur < to;) {
		uint64_t k;
		long n;
		int err = 0;

		if (cur == from && first)
			o = *first;
		else
			err = iomap(m, cur, to - cur, 0, &o);

		if (err)
			return done ? done : err;
		k = o.npages < to - cur ? o.npages : to - cur;
		pthread_mutex_lock(&m->state_lock);
		n = sdx_dax_install(m, cur - m->pgoff, k,
				    o.type == SDX_IOMAP_MAPPED ? PS_RO :
				    PS_ZERO, o.dev_off, PS_BIT(PS_NONE));
		pthread_mutex_unlock(&m->state_lock);
		if (n < 0)
			return done ? done : n;
		if (cur == from)
			*hit_hole = o.type != SDX_IOMAP_MAPPED;
		done += n;
		cur += k;
	}
	return done;
}

static enum dax_fault_result read_fault(struct dax_mapping *m,
					uint64_t pgoff, uint64_t eof)
{
	struct sdx_iomap o, huge, *first = NULL;
	bool hole = false, ignored;
	uint64_t ws, we;
	long n;
	int err;

	DAX_COUNT(faults_read, 1);
	/* Where 2 MiB could be mapped at once, one iomap up to its end
	 * tells, and serves the fault-around otherwise. */
	if (huge_fits(m, pgoff, eof)) {
		err = iomap(m, pgoff, (pgoff | (HUGE_PAGES - 1)) + 1 - pgoff, 0,
			    &o);
		if (err)
			return sigbus(err, pgoff);
		first = &o;
	}
	if (first && reaches_huge_end(pgoff, first) &&
	    huge_run(m, pgoff, eof, &huge)) {
		pthread_mutex_lock(&m->state_lock);
		n = sdx_dax_install(m, huge.pgoff - m->pgoff, HUGE_PAGES,
				    PS_RO, huge.dev_off, PS_BIT(PS_NONE));
		pthread_mutex_unlock(&m->state_lock);
		if (n == HUGE_PAGES)
			DAX_COUNT(huge_installs, 1);
	} else {
		fault_window(m, pgoff, eof, sdx_dax_cfg.fault_around, &ws,
			     &we);
		/* The faulting page first: neighbours are a bonus. */
		n = map_for_read(m, pgoff, we, first, &hole);
		if (n > 0 && ws < pgoff) {
			long before = map_for_read(m, ws, pgoff, NULL,
						   &ignored);

			n += before > 0 ? before : 0;
		}
	}
	if (n < 0)
		return sigbus((int)n, pgoff);
	if (hole)
		DAX_COUNT(faults_read_hole, 1);
	DAX_COUNT(pages_mapped, (uint64_t)n);
	return DAX_FAULT_DONE;
}

/* Sync-ahead: before a synchronous write into a hole, allocate the whole
 * aligned cluster around it (inside i_size) so one commit serves the
 * faults that follow.  Failures are left to the fault's own allocation. */
static void syncahead(struct dax_mapping *m, uint64_t pgoff, uint64_t eof)
{
	uint64_t cluster = sdx_dax_cfg.syncahead / PS;
	uint64_t cs = pgoff & ~(cluster - 1), ce = cs + cluster;
	uint64_t allocated = 0;
	struct sdx_iomap o;

	if (cluster < 2 || iomap(m, pgoff, 1, 0, &o) ||
	    o.type == SDX_IOMAP_MAPPED)
		return;
	if (ce > eof)
		ce = eof;
	for (uint64_t cur = cs; cur < ce;) {
		uint64_t k;

		if (iomap(m, cur, ce - cur,
			  SDX_IOMAP_WRITE | SDX_IOMAP_SYNCAHEAD, &o))
			break;
		k = o.npages < ce - cur ? o.npages : ce - cur;
		if (o.flags & SDX_IOMAP_F_NEW)
			allocated += k;
		cur += k;
	}
	if (allocated > 1)
		DAX_COUNT(syncahead_pages, allocated - 1);
}

/* NEEDDSYNC: commit the host's block mapping before a page becomes
 * writable in a synchronous mapping. */
static int commit_for_sync(struct dax_mapping *m, const struct sdx_iomap *o)
{
	const struct sdx_dax_ops *ops = m->file.ops;
	int err;

	if (!(o->flags & SDX_IOMAP_F_DIRTY) &&
	    !ops->datasync_dirty(m->file.host))
		return 0;
	err = ops->datasync(m->file.host);
	if (!err)
		DAX_COUNT(commits, 1);
	return err;
}

static enum dax_fault_result write_fault(struct dax_mapping *m,
					 uint64_t pgoff, uint64_t eof)
{
	bool is_sync = sdx_dax_is_sync(m);
	uint64_t pg = pgoff - m->pgoff, ws, we, k;
	struct sdx_iomap o, huge;
	long n;
	int err;

	if (page_state(m, pg) == PS_NONE)
		DAX_COUNT(faults_write, 1);
	else
		DAX_COUNT(faults_mkwrite, 1);
	if (is_sync && sdx_dax_cfg.syncahead)
		syncahead(m, pgoff, eof);
	fault_window(m, pgoff, eof, is_sync ? sdx_dax_cfg.fault_around : 1,
		     &ws, &we);
	/* Ask up to the 2 MiB end where a huge mapping could follow. */
	err = iomap(m, pgoff, is_sync && huge_fits(m, pgoff, eof) ?
		    (pgoff | (HUGE_PAGES - 1)) + 1 - pgoff : we - pgoff,
		    SDX_IOMAP_WRITE, &o);
	if (err)
		return sigbus(err, pgoff);
	if (o.type != SDX_IOMAP_MAPPED)
		return sigbus(sdx_err(-EIO, "iomap left file page %" PRIu64
				      " unallocated for a write", pgoff),
			      pgoff);
	k = o.npages < we - pgoff ? o.npages : we - pgoff;
	/* The 2 MiB at once only where the run found reaches the end of the
	 * aligned 2 MiB with a congruent device offset: no second iomap for
	 * the faults that cannot use it. */
	if (is_sync && reaches_huge_end(pgoff, &o) &&
	    huge_run(m, pgoff, eof, &huge)) {
		o = huge;
		k = HUGE_PAGES;
	}
	if (is_sync) {
		err = commit_for_sync(m, &o);
		if (err)
			return sigbus(err, pgoff);
	}
	pthread_mutex_lock(&m->state_lock);
	n = sdx_dax_install(m, o.pgoff - m->pgoff, k, PS_RW, o.dev_off,
			    PS_BIT(PS_NONE) | PS_BIT(PS_ZERO) |
			    PS_BIT(PS_RO));
	pthread_mutex_unlock(&m->state_lock);
	if (n < 0)
		return sigbus((int)n, pgoff);
	if (k == HUGE_PAGES && n == HUGE_PAGES)
		DAX_COUNT(huge_installs, 1);
	DAX_COUNT(pages_mapped, (uint64_t)n);
	return DAX_FAULT_DONE;
}

/* MAP_PRIVATE written: a private copy of the page (never allocates). */
static enum dax_fault_result cow_fault(struct dax_mapping *m, uint64_t pgoff)
{
	struct sdx_iomap o;
	int err;

	DAX_COUNT(faults_cow, 1);
	err = iomap(m, pgoff, 1, 0, &o);
	if (err)
		return sigbus(err, pgoff);
	pthread_mutex_lock(&m->state_lock);
	err = sdx_dax_install_copy(m, pgoff - m->pgoff,
				   o.type == SDX_IOMAP_MAPPED ?
				   m->file.dev->base + o.dev_off : NULL);
	pthread_mutex_unlock(&m->state_lock);
	if (err < 0)
		return sigbus(err, pgoff);
	DAX_COUNT(pages_mapped, (uint64_t)err);
	return DAX_FAULT_DONE;
}

/* Does a page in state @st allow the access? */
static bool allows(uint8_t st, bool is_write)
{
	return is_write ? st == PS_RW || st == PS_COW : st != PS_NONE;
}

static enum dax_fault_result resolve(struct dax_mapping *m, uint64_t pg,
				     bool is_write)
{
	const struct sdx_dax_ops *ops = m->file.ops;
	uint8_t st = page_state(m, pg);
	uint64_t pgoff = m->pgoff + pg, size, eof;
	enum dax_fault_result r;
	pthread_rwlock_t *lock;

	/* As on x86, a writable or executable page can be read. */
	if (st == PS_GONE ||
	    !(m->prot & (is_write ? PROT_WRITE : PROT_READ | PROT_WRITE |
					       PROT_EXEC)))
		return DAX_FAULT_FOREIGN;
	if (allows(st, is_write)) {
		/* An install or an invalidation changes the kernel's mapping
		 * first and the state after, under state_lock: wait for the
		 * one in flight before believing the state. */
		pthread_mutex_lock(&m->state_lock);
		st = page_state(m, pg);
		pthread_mutex_unlock(&m->state_lock);
		if (st == PS_GONE)
			return DAX_FAULT_FOREIGN;
		if (allows(st, is_write))
			return DAX_FAULT_RACED;
	}
	if (sdx_dax_check_budget())
		return sigbus(0, pgoff);
	lock = ops->invalidate_lock(m->file.host);
	pthread_rwlock_rdlock(lock);
	size = ops->size(m->file.host);
	eof = size / PS + (size % PS != 0);
	if (pgoff >= eof)
		r = sigbus(sdx_err(-EFAULT, "access to file page %" PRIu64
				   " beyond end of file (%" PRIu64 " bytes)",
				   pgoff, size), pgoff);
	else if (!is_write)
		r = read_fault(m, pgoff, eof);
	else if (!m->is_shared)
		r = cow_fault(m, pgoff);
	else
		r = write_fault(m, pgoff, eof);
	pthread_rwlock_unlock(lock);
	return r;
}

void sdx_dax_set_statpage(void *addr, struct sdx_statpage *page)
{
	uint64_t pg;
	struct dax_mapping *m = sdx_dax_lookup(addr, &pg);

	if (m) {
		__atomic_store_n(&m->page, page, __ATOMIC_RELAXED);
		sdx_dax_put(m);
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A resolved fault's time into its mount's latency figures. */
static void record_latency(struct sdx_fault_latency *lat, uint64_t ns)
{
	uint64_t max = __atomic_load_n(&lat->max_ns, __ATOMIC_RELAXED);

	sdx_stat_add(&lat->count, 1);
	sdx_stat_add(&lat->total_ns, ns);
	while (ns > max &&
	       !__atomic_compare_exchange_n(&lat->max_ns, &max, ns, true,
					    __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

/*
 * sdx_dax_fault - the fault path, counted: into the process's totals, and
 * for a mapping of a mount that published statistics, into its page too
 * (with the time a resolved fault took: two vDSO clock reads).
 */
enum dax_fault_result sdx_dax_fault(struct dax_mapping *m, uint64_t pg,
				    bool is_write)
{
	struct sdx_statpage *page = __atomic_load_n(&m->page,
						    __ATOMIC_RELAXED);
	struct sdx_dax_stats *outer = sdx_dax_fs_stat;
	enum dax_fault_result r;
	uint64_t t0;

	if (!page)
		return resolve(m, pg, is_write);
	sdx_dax_fs_stat = &page->dax;
	t0 = now_ns();
	r = resolve(m, pg, is_write);
	if (r == DAX_FAULT_DONE)
		record_latency(&page->latency, now_ns() - t0);
	sdx_dax_fs_stat = outer;
	return r;
}

/* ---- the signal entry ---- */

static bool access_is_write(const ucontext_t *uc, const struct dax_mapping *m,
			    uint64_t pg)
{
#if defined(__x86_64__)
	(void)m;
	(void)pg;
	return uc->uc_mcontext.gregs[REG_ERR] & 2;
#else
	(void)uc;
	return page_state(m, pg) != PS_NONE;
#endif
}

/* An instruction fetch from a mapping without PROT_EXEC is not ours. */
static bool is_forbidden_fetch(const ucontext_t *uc,
			       const struct dax_mapping *m)
{
#if defined(__x86_64__)
	return (uc->uc_mcontext.gregs[REG_ERR] & 0x10) &&
	       !(m->prot & PROT_EXEC);
#else
	(void)uc;
	(void)m;
	return false;
#endif
}

/*
 * A fault on a page whose (settled) state already allows the access raced
 * with another thread's install, done by the time the access repeats.  The
 * same address faulting so again and again means the kernel's protection
 * is not ours (the application changed it): not ours to resolve.
 */
static enum dax_fault_result check_race(enum dax_fault_result r,
					const void *addr)
{
	static _Thread_local const void *raced_addr;
	static _Thread_local unsigned raced_count;

	if (r != DAX_FAULT_RACED) {
		raced_addr = NULL;
		return r;
	}
	if (raced_addr != addr) {
		raced_addr = addr;
		raced_count = 0;
	}
	return ++raced_count > 32 ? DAX_FAULT_FOREIGN : r;
}

/* Not ours: what would have happened without syncdax. */
static void chain_segv(int sig, siginfo_t *si, void *ctx)
{
	DAX_COUNT(faults_foreign, 1);
	if (prev_segv.sa_flags & SA_SIGINFO) {
		prev_segv.sa_sigaction(sig, si, ctx);
	} else if (prev_segv.sa_handler != SIG_DFL &&
		   prev_segv.sa_handler != SIG_IGN) {
		prev_segv.sa_handler(sig);
	} else {
		/* The default action: the access repeats and the kernel
		 * ends the process (a sent signal is sent again). */
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGSEGV, &dfl, NULL);
		if (si->si_code <= 0)
			raise(SIGSEGV);
	}
}

/*
 * SIGBUS for an access beyond end of file, as the kernel raises it: queued
 * to this thread with BUS_ADRERR and the address, delivered by the kernel
 * as this handler returns (before the access repeats), so the application's
 * SIGBUS handler runs with the kernel's own rules.  Blocked or ignored, it
 * kills, like the kernel's forced signal.
 */
static void raise_sigbus(ucontext_t *uc, void *addr)
{
	struct sigaction cur;
	siginfo_t info;
	sigset_t bus;

	sigaction(SIGBUS, NULL, &cur);
	if (sigismember(&uc->uc_sigmask, SIGBUS) ||
	    (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_IGN)) {
		memset(&cur, 0, sizeof(cur));
		cur.sa_handler = SIG_DFL;
		sigaction(SIGBUS, &cur, NULL);
		sigdelset(&uc->uc_sigmask, SIGBUS);
	}
	sigemptyset(&bus);
	sigaddset(&bus, SIGBUS);
	pthread_sigmask(SIG_BLOCK, &bus, NULL);
	memset(&info, 0, sizeof(info));
	info.si_signo = SIGBUS;
	info.si_code = BUS_ADRERR;
	info.si_addr = addr;
	syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid),
		SIGBUS, &info);
}

static void segv_handler(int sig, siginfo_t *si, void *ctx)
{
	int saved_errno = errno;
	struct dax_mapping *m = NULL;
	enum dax_fault_result r = DAX_FAULT_FOREIGN;
	uint64_t pg;

	/* Our pages are always mapped, at least PROT_NONE: an address that
	 * is not mapped at all (SEGV_MAPERR) was never, or is no longer,
	 * ours; so is a signal somebody sent. */
	if (si->si_code == SEGV_ACCERR)
		m = sdx_dax_lookup(si->si_addr, &pg);
	if (m) {
		r = is_forbidden_fetch(ctx, m) ? DAX_FAULT_FOREIGN :
		    check_race(sdx_dax_fault(m, pg,
					     access_is_write(ctx, m, pg)),
			       si->si_addr);
		sdx_dax_put(m);
	}
	if (r == DAX_FAULT_SIGBUS)
		raise_sigbus(ctx, si->si_addr);
	else if (r == DAX_FAULT_FOREIGN)
		chain_segv(sig, si, ctx);
	errno = saved_errno;
}

static void init(void)
{
	config_from_env();
}

/*
 * Install the fault handler unless it is in place: at the first mapping,
 * and again at a later one if the application (or a test framework)
 * replaced it meanwhile; the handler found is the one faults that are not
 * ours go to.
 */
void sdx_dax_init(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct sigaction sa, cur;

	pthread_once(&init_once, init);
	sigaction(SIGSEGV, NULL, &cur);
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == segv_handler)
		return;
	pthread_mutex_lock(&lock);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	/* Asynchronous signals wait until the fault is resolved: a handler
	 * of theirs touching a mapping would fault while SIGSEGV is blocked
	 * (fatal) or while this thread holds a syncdax lock (deadlock). */
	sigfillset(&sa.sa_mask);
	sigdelset(&sa.sa_mask, SIGBUS);
	sigdelset(&sa.sa_mask, SIGILL);
	sigdelset(&sa.sa_mask, SIGFPE);
	sigdelset(&sa.sa_mask, SIGTRAP);
	sigaction(SIGSEGV, NULL, &cur);
	if (!(cur.sa_flags & SA_SIGINFO) || cur.sa_sigaction != segv_handler) {
		prev_segv = cur;
		sa.sa_flags |= cur.sa_flags & SA_ONSTACK;
		sigaction(SIGSEGV, &sa, NULL);
	}
	pthread_mutex_unlock(&lock);
}
