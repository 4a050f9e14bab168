/*
 * dax_fs.c - sdx_mmap(): the mapping engine over the file system.
 *
 * Wires struct sdx_dax_ops to src/fs/iomap.h (the inode is the host), takes
 * the inode reference a mapping keeps until its munmap, and registers the
 * invalidate hook with the file system so remaps (punch, truncate,
 * collapse/insert, defrag) unmap their pages from every mapping first,
 * and the writeback hook so fsync flushes non-synchronous mappings.
 * A mapping's faults count into its mount's published statistics page
 * (lib/statpage.h), those of MAP_POPULATE included, and the page counts
 * the mount's live mappings.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "dax/dax_int.h"
#include "lib/err.h"
#include "syncdax.h"

static int fs_iomap_begin(void *host, uint64_t pgoff, uint64_t npages,
			  unsigned flags, struct sdx_iomap *out)
{
	return sdx_iomap_begin(host, pgoff, npages, flags, out);
}

static bool fs_datasync_dirty(void *host)
{
	return sdx_inode_datasync_dirty(host);
}

static int fs_datasync(void *host)
{
	return sdx_inode_datasync(host);
}

static uint64_t fs_size(void *host)
{
	return sdx_inode_size(host);
}

static pthread_rwlock_t *fs_invalidate_lock(void *host)
{
	return sdx_inode_invalidate_lock(host);
}

static void **fs_dax_slot(void *host)
{
	return sdx_inode_dax_slot(host);
}

static bool fs_is_sync(void *host)
{
	return sdx_inode_is_sync(host);
}

/*
 * Live mappings per mount.  A mapping holds its inode from sdx_mmap to
 * its munmap (ops->put), and an inode belongs to one mount, so a table of
 * mapped inodes (of mounts with a page) -> (page, mappings) tells fs_put
 * which page to count down.  Invariant: an inode is in the table iff it
 * has live mappings of a mount with a page; its n is how many.
 */
struct mapped_inode {
	void *host;
	struct sdx_statpage *page;
	uint64_t n;
	struct mapped_inode *next;
};

#define MAPPED_BUCKETS 256u
static struct mapped_inode *mapped[MAPPED_BUCKETS];
static pthread_mutex_t mapped_lock = PTHREAD_MUTEX_INITIALIZER;

static struct mapped_inode **mapped_slot(const void *host)
{
	struct mapped_inode **pp = &mapped[((uintptr_t)host >> 6) %
					   MAPPED_BUCKETS];

	while (*pp && (*pp)->host != host)
		pp = &(*pp)->next;
	return pp;
}

/* A mapping of @host is about to be made: count it.  0 or -ENOMEM. */
static int mapping_made(void *host, struct sdx_statpage *page)
{
	struct mapped_inode **pp, *mi;
	int err = 0;

	pthread_mutex_lock(&mapped_lock);
	pp = mapped_slot(host);
	mi = *pp;
	if (!mi) {
		mi = calloc(1, sizeof(*mi));
		if (!mi) {
			err = sdx_err(-ENOMEM, "mmap: no memory");
			goto out_unlock;
		}
		mi->host = host;
		mi->page = page;
		*pp = mi;
	}
	mi->n++;
	sdx_stat_add(&page->mappings, 1);
out_unlock:
	pthread_mutex_unlock(&mapped_lock);
	return err;
}

/* A mapping of @host is gone (or was not made after all). */
static void mapping_gone(void *host)
{
	struct mapped_inode **pp, *mi;

	pthread_mutex_lock(&mapped_lock);
	pp = mapped_slot(host);
	mi = *pp;
	if (mi) {
		__atomic_fetch_sub(&mi->page->mappings, 1, __ATOMIC_RELAXED);
		if (--mi->n == 0) {
			*pp = mi->next;
			free(mi);
		}
	}
	pthread_mutex_unlock(&mapped_lock);
}

static void fs_put(void *host)
{
	mapping_gone(host);
	sdx_inode_put(host);
}

static const struct sdx_dax_ops fs_ops = {
	.iomap_begin = fs_iomap_begin,
	.datasync_dirty = fs_datasync_dirty,
	.datasync = fs_datasync,
	.size = fs_size,
	.invalidate_lock = fs_invalidate_lock,
	.dax_slot = fs_dax_slot,
	.is_sync = fs_is_sync,
	.put = fs_put,
};

/* The file system's invalidate hook (invalidate_lock held exclusive). */
static void invalidate_inode(struct sdx_inode *inode, uint64_t pgoff,
			     uint64_t npages)
{
	sdx_dax_invalidate(sdx_inode_dax_slot(inode), pgoff, npages);
}

/* The file system's writeback hook (fsync, fdatasync; no lock held). */
static void writeback_inode(struct sdx_inode *inode)
{
	sdx_dax_writeback(sdx_inode_dax_slot(inode));
}

/*
 * sdx_mmap - map a file of a mounted syncdax file system (see syncdax.h)
 * Return: the address, or MAP_FAILED with errno as mmap(2): EBADF, ENODEV
 *         (not a regular file), EINVAL, EACCES, EOPNOTSUPP, ENOMEM,
 *         EOVERFLOW, EEXIST; sdx_strerror_detail() says why.
 */
void *sdx_mmap(struct sdx_fs *fs, void *addr, size_t len, int prot,
	       int flags, int fd, off_t off)
{
	struct sdx_dax_file file = { .ops = &fs_ops };
	struct sdx_statpage *page;
	struct stat st;
	void *out = MAP_FAILED;
	int err;

	sdx_err_clear();
	if (!fs || off < 0) {
		errno = fs ? EINVAL : EBADF;
		sdx_err(-errno, "mmap: %s", fs ? "negative offset" :
			"no file system");
		return MAP_FAILED;
	}
	if (sdx_fstat(fs, fd, &st) < 0)
		return MAP_FAILED;
	if (!S_ISREG(st.st_mode)) {
		errno = ENODEV;
		sdx_err(-ENODEV, "mmap: descriptor %d is not a regular file",
			fd);
		return MAP_FAILED;
	}
	file.host = sdx_inode_get_fd(fs, fd, &file.open_flags);
	if (!file.host)
		return MAP_FAILED;
	file.dev = sdx_fs_dev(fs);
	sdx_fs_set_invalidate(fs, invalidate_inode);
	sdx_fs_set_writeback(fs, writeback_inode);
	page = sdx_fs_statpage(fs);
	if (page) {
		err = mapping_made(file.host, page);
		if (err)
			goto out_put;
	}
	sdx_dax_fs_stat = page ? &page->dax : NULL;	/* MAP_POPULATE */
	err = sdx_dax_mmap(&file, addr, len, prot, flags, (uint64_t)off, &out);
	sdx_dax_fs_stat = NULL;
	if (err)
		goto out_gone;
	if (page)
		sdx_dax_set_statpage(out, page);
	return out;
out_gone:
	if (page)
		mapping_gone(file.host);
out_put:
	sdx_inode_put(file.host);
	errno = -err;
	return MAP_FAILED;
}
