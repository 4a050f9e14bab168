/*
 * statpage.h - the statistics a mounted file system publishes to other
 * processes: one small shared page per mount, found by the device alone.
 *
 * The file system publishes the page at mount and removes it at unmount
 * (src/fs/super.c); the journal, the fault path and the file system
 * count into it.  The page is a file in /dev/shm named by the device file's st_dev and
 * st_ino (sdx_statpage_name), so `syncdax stats DEVICE` in another process
 * needs nothing but the device path.  Its counters are the live counters
 * themselves: each layer adds to them in place (relaxed atomic adds, or
 * plain stores under the lock of the layer that owns the field), so
 * publishing costs
 * no copy and no thread.  A reader copies the page with relaxed 8-byte
 * loads and never trusts it: size, magic and version are checked.
 *
 * Life of a page (the owner is the process that mounted the device):
 *
 *   (none) --publish: create "NAME.PID.tmp", flock LOCK_EX, size, fill
 *            the header, rename over NAME--> LIVE (lock held by the owner)
 *   LIVE --unpublish (unmount): unlink, close--> (none)
 *   LIVE --owner dies (SIGKILL)--> STALE: the kernel dropped the lock
 *   STALE --a reader's flock LOCK_EX|LOCK_NB succeeds: unlink--> (none)
 *   STALE --the next publish of the device: rename over it--> LIVE
 *
 * Invariants:
 *   (1) A page reachable under NAME is complete: it is filled and locked
 *       before the rename makes it visible.
 *   (2) A page is LIVE iff its lock is held; a reader reports only LIVE
 *       pages (the lock, not the pid, is the truth: pids are reused).
 *   (3) Publishing never replaces a LIVE page (a second read-only mount of
 *       the same device in this or another process keeps private
 *       counters), and its failure never fails the mount.
 *   (4) A page's counters are written only by its owner.
 *
 * The structs below are the page's format (SDX_STATPAGE_VERSION): a change
 * of any of them changes the version.  src/dax and src/journal use the same
 * structs for their in-process counters (dax.h, journal.h).  Version 2
 * added the file system's gauges.
 */
#ifndef SDX_STATPAGE_H
#define SDX_STATPAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Counters of the fault path (src/dax). */
struct sdx_dax_stats {
	uint64_t faults_read;		/* read of an unmapped page */
	uint64_t faults_read_hole;	/* ... that mapped the zero page */
	uint64_t faults_write;		/* write of an unmapped page */
	uint64_t faults_mkwrite;	/* write of a read-only mapped page */
	uint64_t faults_cow;		/* write to a MAP_PRIVATE mapping */
	uint64_t faults_sigbus;		/* beyond EOF, or the fs failed */
	uint64_t faults_foreign;	/* not ours: chained */
	uint64_t commits;		/* journal commits a fault waited for */
	uint64_t pages_mapped;		/* by faults and prefault */
	uint64_t installs;		/* mmap(MAP_FIXED) calls for that */
	uint64_t huge_installs;		/* of which 2 MiB at once */
	uint64_t syncahead_pages;	/* pages allocated ahead of faults */
	uint64_t msync_pages;		/* dirty pages flushed and protected */
	uint64_t invalidated_pages;	/* unmapped by remaps */
	uint64_t shrinks;		/* mappings dropped to stay under
					   vm.max_map_count */
	uint64_t kernel_mappings;	/* kernel VMAs inside syncdax
					   mappings now (/proc/self/maps) */
};

/* Counters of the journal (src/journal); the last two are gauges. */
struct sdx_journal_stats {
	uint64_t commits;		/* commit records written */
	uint64_t commit_blocks;		/* metadata blocks committed */
	uint64_t checkpoints;
	uint64_t replayed_transactions;
	uint64_t replayed_blocks;
	uint64_t revoked_blocks;	/* revoke records written, and logged
					   blocks a revoke kept from replay */
	uint64_t log_blocks;		/* blocks of the log (0: no journal) */
	uint64_t log_used;		/* of which holding transactions */
};

/* Gauges of the file system (src/fs): what it holds now. */
struct sdx_fs_gauges {
	uint64_t free_blocks;
	uint64_t free_inodes;
	uint64_t open_files;		/* open descriptors */
};

/* Latency of resolved faults: the handler's time, entry to return. */
struct sdx_fault_latency {
	uint64_t count;
	uint64_t total_ns;
	uint64_t max_ns;
};

#define SDX_STATPAGE_MAGIC	0x3154415453584453ull	/* "SDXSTAT1" */
#define SDX_STATPAGE_VERSION	2u
#define SDX_STATPAGE_DEVICE_MAX	256u

/* sdx_statpage.mode */
#define SDX_STATPAGE_RDONLY	0x1u	/* read-only mount */
#define SDX_STATPAGE_NO_JOURNAL	0x2u	/* image without a journal */

struct sdx_statpage {
	uint64_t magic;
	uint32_t version;
	uint32_t size;			/* sizeof(struct sdx_statpage) */
	int64_t pid;			/* the owner */
	int64_t mount_time;		/* seconds since the epoch */
	uint64_t device_dev;		/* st_dev and st_ino of the device */
	uint64_t device_ino;
	uint32_t mode;			/* SDX_STATPAGE_* */
	uint32_t reserved;
	char device[SDX_STATPAGE_DEVICE_MAX];	/* as mounted, NUL-ended */
	struct sdx_dax_stats dax;	/* this mount's mappings' faults */
	struct sdx_fault_latency latency;
	uint64_t mappings;		/* live mappings (sdx_mmap, not yet
					   unmapped) */
	struct sdx_journal_stats journal;
	struct sdx_fs_gauges fs;
};

/*
 * sdx_statpage_name - the page's path for the device file @dev/@ino
 * (/dev/shm/syncdax-stats-DEV-INO, or under $SDX_STATS_DIR).
 */
void sdx_statpage_name(uint64_t dev, uint64_t ino, char *buf, size_t n);

/*
 * sdx_statpage_publish - create and show the page of the device open on
 * @device_fd (named @device_path in the header)
 * Context: any.
 * Return: 0 and *@out, -EBUSY when a LIVE page of the device exists
 *         (invariant 3), or -errno from creating it.
 */
int sdx_statpage_publish(int device_fd, const char *device_path,
			 unsigned mode, struct sdx_statpage **out);
/* Remove and unmap a page of this process; NULL is ignored. */
void sdx_statpage_unpublish(struct sdx_statpage *page);

/*
 * sdx_statpage_read - copy the LIVE page of @device (a path) into *@out
 * A STALE page is removed and reported as -ENOENT.
 * Return: 0, -ENOENT (no process has the device mounted), -EUCLEAN (the
 *         page is not one: size, magic or version, named), or -errno of
 *         stat/open (a sentence recorded).
 */
int sdx_statpage_read(const char *device, struct sdx_statpage *out);

/* Add @n to a counter of a page (relaxed: the owner's only writer per
 * counter need not be ordered with anything). */
static inline void sdx_stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/* Set a gauge of a page (relaxed: its one writer holds its layer's lock). */
static inline void sdx_stat_set(uint64_t *gauge, uint64_t v)
{
	__atomic_store_n(gauge, v, __ATOMIC_RELAXED);
}

#endif /* SDX_STATPAGE_H */
