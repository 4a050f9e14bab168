/*
 * dax.h - the mapping engine of syncdax: VA reservation, the user-space
 * fault entry, the fault path and the remap (invalidate) protocol.
 *
 * The engine does not know src/fs.  A mapping is made over an "address
 * space" (like the kernel's vm_operations + iomap_ops): a host object (the
 * inode) and a table of functions that say where a file page lives, whether
 * fdatasync has work, how to do it, how big the file is and which lock keeps
 * remaps out.  dax_fs.c wires the table to src/fs/iomap.h for sdx_mmap();
 * tests wire it to a test double over a raw emulated device.
 *
 * Locking, in order (DESIGN.md):
 *   host invalidate_lock (shared by faults, exclusive by remaps)
 *     -> fs locks (inside iomap_begin/datasync)
 *     -> registry lock (address -> mapping, host -> mappings)
 *       -> mapping state_lock (page states, installs; short)
 *         -> src/pmem's registry lock (device aliases; a leaf)
 *   A mapping's lifetime is no lock: a fault, msync or prefault takes a use
 *   of it under the registry lock (a counter) and munmap waits for the
 *   uses to end after it left the registry, holding nothing.  (As a lock
 *   taken inside the registry lock it closed a cycle: lookup took it inside
 *   the registry lock, a fault holding it took invalidate_lock, and a remap
 *   holding invalidate_lock took the registry lock to find the mappings.)
 *
 * A fault runs in the SIGSEGV handler of the thread that touched the page.
 * The code it interrupted must not hold a syncdax lock (DESIGN.md: copy
 * user buffers that may be mappings without locks held, or prefault them).
 */
#ifndef SDX_DAX_H
#define SDX_DAX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/iomap.h"
#include "lib/statpage.h"

struct sdx_dev;

/* What a mapping asks of the object it maps (an inode, or a test double). */
struct sdx_dax_ops {
	/* sdx_iomap_begin() semantics; called with invalidate_lock shared. */
	int (*iomap_begin)(void *host, uint64_t pgoff, uint64_t npages,
			   unsigned flags, struct sdx_iomap *out);
	/* True while fdatasync would have metadata to commit. */
	bool (*datasync_dirty)(void *host);
	/* Commit up to the host's datasync tid; 0 or -errno. */
	int (*datasync)(void *host);
	/* i_size in bytes; called with invalidate_lock held (and inside
	 * src/dax's registry lock by sdx_dax_invalidate): takes no lock. */
	uint64_t (*size)(void *host);
	/* Faults take it shared, remaps exclusive. */
	pthread_rwlock_t *(*invalidate_lock)(void *host);
	/* Per-host slot owned by src/dax (its list of mappings). */
	void **(*dax_slot)(void *host);
	/* FS_SYNC_FL: every shared writable mapping is synchronous. */
	bool (*is_sync)(void *host);
	/* Drop the reference the mapping held (at its munmap); may be NULL. */
	void (*put)(void *host);
};

/* The object of a mapping, as sdx_dax_mmap() takes it. */
struct sdx_dax_file {
	const struct sdx_dax_ops *ops;
	void *host;
	struct sdx_dev *dev;	/* where MAPPED dev_off point */
	int open_flags;		/* O_RDONLY/O_WRONLY/O_RDWR of the descriptor */
};

/*
 * sdx_dax_mmap - reserve and register a mapping of @file
 * Arguments and checks as mmap(2) (flags: MAP_SHARED, MAP_PRIVATE,
 * MAP_SHARED_VALIDATE, MAP_SYNC, MAP_FIXED, MAP_FIXED_NOREPLACE,
 * MAP_POPULATE, MAP_NORESERVE).  On success the mapping holds the host
 * reference the caller took (ops->put at munmap); on failure it does not.
 * Return: 0 and *@out, or -errno with a sentence: -EINVAL (length, offset,
 *         prot, flags), -EACCES (descriptor mode), -EOPNOTSUPP (unknown flag
 *         with MAP_SHARED_VALIDATE, MAP_SYNC on a device that cannot persist
 *         from user space), -ENOMEM, -EEXIST (MAP_FIXED_NOREPLACE).
 */
int sdx_dax_mmap(const struct sdx_dax_file *file, void *addr, size_t len,
		 int prot, int flags, uint64_t off, void **out);

/*
 * sdx_dax_invalidate - unmap file pages [@pgoff, @pgoff+@npages) of @host
 * from every mapping (they fault again and see the new block map).  Private
 * copies (MAP_PRIVATE written) stay, as Linux keeps them over a punched
 * hole, except those of pages wholly beyond i_size as it is at the call:
 * after a truncate below them, access there raises SIGBUS, as in Linux.
 * Dirty pages of non-synchronous mappings are flushed first.
 * Context: the caller holds the host's invalidate_lock exclusive and has
 * set the new i_size (a truncate).
 */
void sdx_dax_invalidate(void **slot, uint64_t pgoff, uint64_t npages);

/*
 * sdx_dax_writeback - what fsync/fdatasync owe the mappings of a host:
 * flush the dirty pages of its non-synchronous mappings and write-protect
 * them (the next store faults and marks the page dirty again).  The caller
 * commits afterwards.  Context: no invalidate_lock held.
 */
void sdx_dax_writeback(void **slot);

/* Tunables (also from the environment: SDX_FAULT_AROUND pages,
 * SDX_SYNCAHEAD bytes, SDX_DAX_HUGE=0/1, SDX_MAX_MAPPINGS, read at the
 * first mapping). */
struct sdx_dax_config {
	unsigned fault_around;		/* pages per fault, power of two,
					   1..512 (1: off); default 16 */
	uint64_t syncahead;		/* bytes, power of two multiple of
					   4 KiB or 0 (off); default 2 MiB */
	bool huge;			/* map 2 MiB at once where aligned */
	unsigned long max_mappings;	/* kernel mappings (VMAs) syncdax
					   mappings may use before they are
					   dropped to refault; 0: 7/8 of
					   vm.max_map_count */
};
void sdx_dax_get_config(struct sdx_dax_config *cfg);
/* Return: 0, or -EINVAL for a value out of range. */
int sdx_dax_set_config(const struct sdx_dax_config *cfg);

/* struct sdx_dax_stats is in lib/statpage.h (a mount publishes it).  These
 * are the process's totals; each mount's page counts its own mappings'
 * faults and what they did (installs, shrinks), not msync or remaps. */
void sdx_dax_get_stats(struct sdx_dax_stats *st);
void sdx_dax_reset_stats(void);

#endif /* SDX_DAX_H */
