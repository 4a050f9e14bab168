/*
 * iomap.h - the one interface between src/dax and src/fs.
 *
 * src/dax never parses on-media structures and src/fs never touches page
 * tables; a mapping asks the file system where a file page lives through
 * sdx_iomap_begin() and whether fdatasync would have work to do through
 * sdx_inode_datasync_dirty().  When src/fs remaps file pages (punch,
 * truncate, collapse/insert, defrag) it calls the invalidate hook that
 * src/dax registered (sdx_fs_set_invalidate), with the inode's
 * invalidate_lock held exclusive, so the pages leave every mapping first.
 * fsync and fdatasync call the writeback hook (sdx_fs_set_writeback), with
 * no lock held, so the dirty pages of non-synchronous mappings are flushed
 * and write-protected before the commit.
 *
 * Locking: faults take inode->invalidate_lock shared around iomap_begin and
 * the installation of the page; remaps take it exclusive.
 */
#ifndef SDX_IOMAP_H
#define SDX_IOMAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "journal/journal.h"

struct sdx_fs;
struct sdx_inode;
struct sdx_dev;

enum sdx_iomap_type { SDX_IOMAP_HOLE, SDX_IOMAP_MAPPED, SDX_IOMAP_UNWRITTEN };

/* sdx_iomap_begin flags */
#define SDX_IOMAP_WRITE     0x1u  /* allocate holes, convert unwritten */
#define SDX_IOMAP_SYNCAHEAD 0x2u  /* may allocate up to npages at once */

/* Pages of a 2 MiB (PMD) mapping: file blocks allocated in such aligned
 * runs on the device can be mapped with one huge page. */
#define SDX_IOMAP_HUGE_PAGES 512u

/* out->flags */
#define SDX_IOMAP_F_NEW   0x1u	/* just allocated and zeroed (persisted) */
#define SDX_IOMAP_F_DIRTY 0x2u	/* fdatasync has metadata to commit */

struct sdx_iomap {
	enum sdx_iomap_type type;
	unsigned flags;
	uint64_t pgoff;		/* first file page described (== asked) */
	uint64_t npages;	/* pages of the same type, contiguous on the
				   device when MAPPED/UNWRITTEN, >= 1 */
	uint64_t dev_off;	/* byte offset on the device of pgoff's block */
	sdx_tid_t datasync_tid;	/* commit up to this for the range */
};

/*
 * sdx_iomap_begin - map file pages starting at @pgoff
 * @npages: how many the caller would like (a hint; out->npages may be fewer
 *          or, for holes and extents, more)
 * Context: caller holds inode->invalidate_lock shared; takes fs locks.
 * Return: 0, -ENOSPC, -EFBIG, -EIO, or -EUCLEAN for a corrupt extent tree.
 */
int sdx_iomap_begin(struct sdx_inode *inode, uint64_t pgoff,
		    uint64_t npages, unsigned flags, struct sdx_iomap *out);

/* True while the inode's datasync tid is newer than the last commit. */
bool sdx_inode_datasync_dirty(struct sdx_inode *inode);
/* fdatasync: commit up to the inode's datasync tid (nothing if clean). */
int sdx_inode_datasync(struct sdx_inode *inode);
/* Size in bytes (i_size), for SIGBUS beyond end of file. */
uint64_t sdx_inode_size(struct sdx_inode *inode);
/* The inode's invalidate_lock (faults shared, remaps exclusive). */
pthread_rwlock_t *sdx_inode_invalidate_lock(struct sdx_inode *inode);
/* Per-inode slot owned by src/dax (its list of mappings). */
void **sdx_inode_dax_slot(struct sdx_inode *inode);
/* Is FS_SYNC_FL set (every shared writable mapping is synchronous)? */
bool sdx_inode_is_sync(struct sdx_inode *inode);
/* Take/drop a reference so a mapping keeps its inode alive. */
struct sdx_inode *sdx_inode_get_fd(struct sdx_fs *fs, int fd, int *open_flags);
void sdx_inode_put(struct sdx_inode *inode);
struct sdx_dev *sdx_fs_dev(struct sdx_fs *fs);
/* The statistics page this mount published (NULL: none; another mount
 * of the device may own the device's page). */
struct sdx_statpage *sdx_fs_statpage(struct sdx_fs *fs);

typedef void (*sdx_invalidate_fn)(struct sdx_inode *inode, uint64_t pgoff,
				  uint64_t npages);
void sdx_fs_set_invalidate(struct sdx_fs *fs, sdx_invalidate_fn fn);

/* Flush the dirty pages of @inode's non-synchronous mappings and protect
 * them again.  Context: no lock held (it touches user pages). */
typedef void (*sdx_writeback_fn)(struct sdx_inode *inode);
void sdx_fs_set_writeback(struct sdx_fs *fs, sdx_writeback_fn fn);

#endif /* SDX_IOMAP_H */
