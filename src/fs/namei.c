/*
 * namei.c - path resolution: from the root, component by component, with
 * ".", ".." (the directory's own ".." entry; the root's is the root) and
 * symlinks, which are read and created here too.
 *
 * A path is resolved as Linux does for a process whose root and working
 * directory are the file system's root: a leading '/' is optional, runs of
 * '/' are one separator, a symlink in the middle of a path is always
 * followed, one in the last component only with SDX_LOOKUP_FOLLOW or when
 * the path ends in '/'.  At most SDX_SYMLOOP_MAX symlinks per lookup
 * (ELOOP), components of at most 255 bytes and paths (also after symlink
 * expansion) of less than SDX_PATH_MAX bytes (ENAMETOOLONG); a non-directory
 * in the middle is ENOTDIR.
 *
 * Symlinks: a fast symlink keeps its target (< 60 bytes) in i_block and has
 * no data block (the kernel's test; syncdax also clears EXTENTS_FL on the
 * ones it makes); a slow one keeps it in its first data block
 * (extent-mapped, or block-mapped on old images: i_block[0]), i_size bytes,
 * the rest of the block zero.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/ops.h"
#include "lib/err.h"
#include "pmem/pmem.h"

#define FAST_SYMLINK_MAX sizeof(((struct ext4_inode *)0)->i_block)

static bool is_dir(const struct sdx_inode *inode)
{
	return S_ISDIR(inode->raw.i_mode);
}

static bool is_symlink(const struct sdx_inode *inode)
{
	return S_ISLNK(inode->raw.i_mode);
}

/* No data block (an extended attribute block aside): the target is in
 * i_block.  The kernel's test (ext4_inode_is_fast_symlink). */
static bool is_fast_symlink(const struct sdx_inode *inode)
{
	const struct ext4_inode *raw = &inode->raw;
	uint64_t ea_blocks = raw->i_file_acl_lo || raw->l_i_file_acl_high ?
			     SDX_BLOCK_SIZE / 512 : 0;

	return sdx_inode_blocks512(inode) == ea_blocks;
}

int sdx_symlink_target(struct sdx_inode *inode, char *buf, size_t n,
		       size_t *len)
{
	struct sdx_fs *fs = inode->fs;
	uint64_t size = sdx_inode_size(inode);
	const struct ext4_inode *raw = &inode->raw;

	if (!is_symlink(inode))
		return -EINVAL;
	if (size == 0 || size >= SDX_BLOCK_SIZE || size >= n)
		return sdx_err(-EUCLEAN, "symlink inode %u: size %llu",
			       inode->ino, (unsigned long long)size);
	if (is_fast_symlink(inode)) {
		if (size >= FAST_SYMLINK_MAX)
			return sdx_err(-EUCLEAN, "fast symlink inode %u: size "
				       "%llu", inode->ino,
				       (unsigned long long)size);
		memcpy(buf, raw->i_block, size);
	} else if (raw->i_flags & EXT4_EXTENTS_FL) {
		ssize_t r = sdx_file_read_locked(inode, buf, size, 0);

		if (r < 0)
			return (int)r;
	} else {
		uint64_t block = raw->i_block[0];

		if (!sdx_fs_block_valid(fs, block, 1))
			return sdx_err(-EUCLEAN, "symlink inode %u: block %llu "
				       "out of range", inode->ino,
				       (unsigned long long)block);
		memcpy(buf, fs->dev->base + block * SDX_BLOCK_SIZE, size);
	}
	buf[size] = '\0';
	*len = size;
	return 0;
}

int sdx_symlink_store(struct sdx_handle *h, struct sdx_inode *inode,
		      const char *target, size_t len)
{
	struct ext4_inode *raw = &inode->raw;

	if (len == 0)
		return -ENOENT;
	if (len >= SDX_BLOCK_SIZE)
		return sdx_err(-ENAMETOOLONG, "symlink target of %zu bytes "
			       "(at most %u)", len, SDX_BLOCK_SIZE - 1);
	if (len < FAST_SYMLINK_MAX) {
		raw->i_flags &= ~EXT4_EXTENTS_FL;
		memset(raw->i_block, 0, sizeof(raw->i_block));
		memcpy(raw->i_block, target, len);
		sdx_inode_set_size(inode, len);
		return sdx_inode_mark_dirty(h, inode);
	}
	return sdx_file_write_locked(h, inode, target, len, 0);
}

/* The child @name of directory @dir, referenced. */
static int lookup_child(struct sdx_inode *dir, const char *name, size_t len,
			struct sdx_inode **child)
{
	uint32_t ino;
	int err;

	if (!is_dir(dir))
		return -ENOTDIR;
	if (len > EXT4_NAME_LEN)
		return sdx_err(-ENAMETOOLONG, "path component of %zu bytes",
			       len);
	err = sdx_dir_lookup(dir, name, len, &ino, NULL);
	if (err)
		return err;
	err = sdx_iget(dir->fs, ino, child);
	if (err == -ENOENT)
		return sdx_err(-EUCLEAN, "directory inode %u: entry '%.*s' "
			       "names unused inode %u", dir->ino, (int)len,
			       name, ino);
	return err;
}

/*
 * Replace the path still to walk (@rest, in @buf, starting with the '/'s
 * after the symlink's name, if any) by @target + rest.
 */
static int splice(char *buf, const char **rest, const char *target,
		  size_t tlen)
{
	size_t rlen = strlen(*rest);

	if (tlen + rlen >= SDX_PATH_MAX)
		return sdx_err(-ENAMETOOLONG, "path longer than %d bytes after "
			       "symlinks", SDX_PATH_MAX - 1);
	memmove(buf + tlen, *rest, rlen + 1);
	memcpy(buf, target, tlen);
	*rest = buf;
	return 0;
}

/*
 * Walk @path.  With @nd, stop before the last component and describe it
 * there; else resolve the whole path into *@out.
 */
static int resolve(struct sdx_fs *fs, const char *path, unsigned flags,
		   struct sdx_nameidata *nd, struct sdx_inode **out)
{
	size_t plen = strnlen(path, SDX_PATH_MAX);
	char *buf, *target;
	const char *p;
	struct sdx_inode *cur = NULL, *child;
	unsigned links = 0;
	int err;

	if (plen == 0)
		return -ENOENT;
	if (plen >= SDX_PATH_MAX)
		return sdx_err(-ENAMETOOLONG, "path longer than %d bytes",
			       SDX_PATH_MAX - 1);
	buf = malloc(2 * SDX_PATH_MAX);
	if (!buf)
		return -ENOMEM;
	target = buf + SDX_PATH_MAX;
	memcpy(buf, path, plen + 1);
	p = buf;
	err = sdx_iget(fs, EXT4_ROOT_INO, &cur);
	if (err)
		goto out_free;
	for (;;) {
		const char *name, *next;
		size_t len, tlen;
		bool is_last, has_slash;

		while (*p == '/')
			p++;
		if (*p == '\0') {
			if (nd) {
				nd->dir = cur;
				nd->name[0] = '\0';
				nd->len = 0;
				nd->is_dir_required = true;
			} else {
				*out = cur;
			}
			cur = NULL;
			break;
		}
		name = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - name);
		next = p;
		while (*next == '/')
			next++;
		is_last = *next == '\0';
		has_slash = next != p;
		if (len > EXT4_NAME_LEN) {
			err = sdx_err(-ENAMETOOLONG, "path component of %zu "
				      "bytes", len);
			break;
		}
		if (nd && is_last) {
			if (!is_dir(cur)) {
				err = -ENOTDIR;
				break;
			}
			nd->dir = cur;
			memcpy(nd->name, name, len);
			nd->name[len] = '\0';
			nd->len = len;
			nd->is_dir_required = has_slash;
			cur = NULL;
			break;
		}
		if (len == 1 && name[0] == '.') {
			if (!is_dir(cur)) {
				err = -ENOTDIR;
				break;
			}
			p = next;
			continue;
		}
		err = lookup_child(cur, name, len, &child);
		if (err)
			break;
		if (is_symlink(child) &&
		    (!is_last || has_slash || (flags & SDX_LOOKUP_FOLLOW))) {
			if (++links > SDX_SYMLOOP_MAX) {
				sdx_iput(child);
				err = sdx_err(-ELOOP, "more than %d symlinks",
					      SDX_SYMLOOP_MAX);
				break;
			}
			err = sdx_symlink_target(child, target, SDX_PATH_MAX,
						 &tlen);
			sdx_iput(child);
			if (!err)
				err = splice(buf, &p, target, tlen);
			if (err)
				break;
			if (target[0] == '/') {
				sdx_iput(cur);
				err = sdx_iget(fs, EXT4_ROOT_INO, &cur);
				if (err) {
					cur = NULL;
					break;
				}
			}
			continue;
		}
		sdx_iput(cur);
		cur = child;
		p = next;
		if (is_last && has_slash && !is_dir(cur)) {
			err = -ENOTDIR;
			break;
		}
	}
	if (cur)
		sdx_iput(cur);
out_free:
	free(buf);
	return err;
}

int sdx_namei(struct sdx_fs *fs, const char *path, unsigned flags,
	      struct sdx_inode **out)
{
	return resolve(fs, path, flags, NULL, out);
}

int sdx_namei_parent(struct sdx_fs *fs, const char *path,
		     struct sdx_nameidata *nd)
{
	return resolve(fs, path, 0, nd, NULL);
}
