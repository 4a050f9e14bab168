/*
 * dax_fs.c - sdx_mmap(): the mapping engine over the file system.
 *
 * Wires struct sdx_dax_ops to src/fs/iomap.h (the inode is the host), takes
 * the inode reference a mapping keeps until its munmap, and registers the
 * invalidate hook with the file system so remaps (punch, truncate,
 * collapse/insert, defrag) unmap their pages from every mapping first,
 * and the writeback hook so fsync flushes non-synchronous mappings.
 * A mapping's faults count into its mount's published statistics page
 * (lib/statpage.h), those of MAP_POPULATE included.
 */
#include <errno.h>
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

static void fs_put(void *host)
{
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
	page = sdx_statpage_find(file.dev->fd);
	sdx_dax_fs_stat = page ? &page->dax : NULL;	/* MAP_POPULATE */
	err = sdx_dax_mmap(&file, addr, len, prot, flags, (uint64_t)off, &out);
	sdx_dax_fs_stat = NULL;
	if (!err && page)
		sdx_dax_set_statpage(out, page);
	if (err) {
		sdx_inode_put(file.host);
		errno = -err;
		return MAP_FAILED;
	}
	return out;
}
