/*
 * extent.c - the extent tree of an inode: lookup, insert (merging with
 * neighbours, splitting nodes, growing the root), removal of ranges
 * (splitting an extent, freeing blocks and emptied nodes, merging sparse
 * sibling leaves, pulling a small tree back into the inode), unwritten
 * extents, and shifts of logical blocks (COLLAPSE/INSERT_RANGE: only the
 * keys change, leaf by leaf, in the order that keeps them sorted; data
 * blocks stay where they are).  Inodes of ext2/3
 * (direct and indirect block maps) are mapped too, read-only.
 *
 * The root lives in i_block (a header and 4 entries); deeper nodes are
 * blocks with a header, up to 340 entries and an ext4_extent_tail whose
 * crc32c is seeded with the inode's checksum seed.  A path is the chain of
 * nodes from the root to the leaf that covers a logical block:
 *
 *   lv[0] root (i_block) -> lv[1] index block -> ... -> lv[depth] leaf
 *   lv[L].idx: the last entry whose key is <= the block (-1 in a leaf when
 *   the block lies before the first extent)
 *
 * Every node is checked when the path reaches it (magic, depth, entries <=
 * max, entries sorted and inside the file system, checksum); a bad one is
 * -EUCLEAN with a sentence naming the inode and the block.
 *
 * Invariants (e2fsck checks each):
 *   (1) An index entry's ei_block equals the first key of its child.
 *   (2) Extents in a leaf are sorted and do not overlap; no node but the
 *       root is empty.
 *   (3) i_blocks counts data blocks and tree blocks.
 *   (4) A change that can fail for want of a block (a split) makes room
 *       first (make_room), so a failure leaves the tree as it was.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "lib/crc32c.h"
#include "lib/err.h"

#define HDR_SIZE	sizeof(struct ext4_extent_header)
#define ENTRY_SIZE	sizeof(struct ext4_extent)
#define ROOT_MAX	((EXT4_N_BLOCKS * 4 - HDR_SIZE) / ENTRY_SIZE)
#define BLOCK_MAX	((SDX_BLOCK_SIZE - HDR_SIZE - \
			  sizeof(struct ext4_extent_tail)) / ENTRY_SIZE)
#define EXT_MAX_BLOCKS	SDX_MAX_FILE_BLOCKS

struct ext_level {
	uint64_t block;			/* 0: the root in i_block */
	struct ext4_extent_header *eh;
	int idx;
};

struct ext_path {
	struct sdx_inode *inode;
	int depth;
	struct ext_level lv[EXT4_EXT_MAX_DEPTH + 1];
};

/* ---- entries ---- */

static struct ext4_extent *ex(struct ext4_extent_header *eh)
{
	return (struct ext4_extent *)(eh + 1);
}

static struct ext4_extent_idx *ix(struct ext4_extent_header *eh)
{
	return (struct ext4_extent_idx *)(eh + 1);
}

static uint32_t ee_len(const struct ext4_extent *e)
{
	return e->ee_len > EXT_INIT_MAX_LEN ? e->ee_len - EXT_INIT_MAX_LEN :
					      e->ee_len;
}

static bool ee_unwritten(const struct ext4_extent *e)
{
	return e->ee_len > EXT_INIT_MAX_LEN;
}

static uint64_t ee_pblk(const struct ext4_extent *e)
{
	return e->ee_start_lo | (uint64_t)e->ee_start_hi << 32;
}

static uint64_t ee_end(const struct ext4_extent *e)
{
	return (uint64_t)e->ee_block + ee_len(e);
}

static void ee_set(struct ext4_extent *e, uint64_t lblk, uint64_t pblk,
		   uint32_t len, bool is_unwritten)
{
	e->ee_block = (uint32_t)lblk;
	e->ee_len = (uint16_t)(len + (is_unwritten ? EXT_INIT_MAX_LEN : 0));
	e->ee_start_lo = (uint32_t)pblk;
	e->ee_start_hi = (uint16_t)(pblk >> 32);
}

static uint64_t ei_leaf(const struct ext4_extent_idx *i)
{
	return i->ei_leaf_lo | (uint64_t)i->ei_leaf_hi << 32;
}

static uint32_t max_len(bool is_unwritten)
{
	return is_unwritten ? EXT_UNWRITTEN_MAX_LEN : EXT_INIT_MAX_LEN;
}

static uint32_t first_key(struct ext4_extent_header *eh)
{
	return eh->eh_depth ? ix(eh)[0].ei_block : ex(eh)[0].ee_block;
}

static struct ext4_extent_header *root_of(struct sdx_inode *inode)
{
	return (struct ext4_extent_header *)inode->raw.i_block;
}

/* ---- checking ---- */

static int bad_node(const struct sdx_inode *inode, uint64_t block,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad_node(const struct sdx_inode *inode, uint64_t block,
		    const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (block == 0)
		return sdx_err(-EUCLEAN, "inode %u: extent root: %s",
			       inode->ino, what);
	return sdx_err(-EUCLEAN, "inode %u: extent block %llu: %s", inode->ino,
		       (unsigned long long)block, what);
}

static size_t tail_offset(const struct ext4_extent_header *eh)
{
	return HDR_SIZE + ENTRY_SIZE * eh->eh_max;
}

static uint32_t node_csum(const struct sdx_inode *inode,
			  const struct ext4_extent_header *eh)
{
	return sdx_crc32c(inode->csum_seed, eh, tail_offset(eh));
}

/*
 * The set of tree blocks whose checksum and entries were verified.  A
 * verified block changes afterwards only through this file, which keeps
 * its entries sorted and in range and its checksum right, and a freed one
 * comes back as a tree block only through get_create_access; so one full
 * check per block and mount is enough.  The header is checked on every
 * read (it bounds every index into the node), and an extent handed out is
 * checked again (sdx_extent_map), so a block that a corrupt image also
 * uses as file data can mislead but never make us read or map outside.
 */
static size_t good_slot(const struct sdx_fs *fs, uint64_t block)
{
	size_t i = (size_t)((block * 0x9E3779B97F4A7C15ull) >> 32) &
		   (fs->csum_good_cap - 1);

	while (fs->csum_good[i] && fs->csum_good[i] != block + 1)
		i = (i + 1) & (fs->csum_good_cap - 1);
	return i;
}

static bool node_known_good(const struct sdx_fs *fs, uint64_t block)
{
	return fs->csum_good_cap && fs->csum_good[good_slot(fs, block)];
}

/* Remember @block as verified (forgotten silently without memory). */
static void node_mark_good(struct sdx_fs *fs, uint64_t block)
{
	if (2 * (fs->csum_good_n + 1) > fs->csum_good_cap) {
		uint32_t old_cap = fs->csum_good_cap;
		uint64_t *old = fs->csum_good;
		uint32_t cap = old_cap ? 2 * old_cap : 256;
		uint64_t *table = calloc(cap, sizeof(*table));

		if (!table)
			return;
		fs->csum_good = table;
		fs->csum_good_cap = cap;
		for (uint32_t i = 0; i < old_cap; i++)
			if (old[i])
				table[good_slot(fs, old[i] - 1)] = old[i];
		free(old);
	}
	fs->csum_good[good_slot(fs, block)] = block + 1;
	fs->csum_good_n++;
}

static int check_entries(const struct sdx_inode *inode, uint64_t block,
			 struct ext4_extent_header *eh)
{
	const struct sdx_fs *fs = inode->fs;
	uint64_t prev_end = 0;

	for (unsigned i = 0; i < eh->eh_entries; i++) {
		if (eh->eh_depth) {
			const struct ext4_extent_idx *x = &ix(eh)[i];

			if (!sdx_fs_block_valid(fs, ei_leaf(x), 1))
				return bad_node(inode, block, "index %u points "
						"to block %llu outside the file "
						"system", i, (unsigned long long)
						ei_leaf(x));
			if (i > 0 && x->ei_block <= prev_end)
				return bad_node(inode, block, "index %u out of "
						"order (%u)", i, x->ei_block);
			prev_end = x->ei_block;
			continue;
		}
		const struct ext4_extent *e = &ex(eh)[i];

		if (ee_len(e) == 0 || ee_end(e) > EXT_MAX_BLOCKS ||
		    !sdx_fs_block_valid(fs, ee_pblk(e), ee_len(e)))
			return bad_node(inode, block, "extent %u (%u+%u -> "
					"%llu) invalid", i, e->ee_block,
					ee_len(e), (unsigned long long)
					ee_pblk(e));
		if (i > 0 && e->ee_block < prev_end)
			return bad_node(inode, block, "extent %u at %u overlaps "
					"its predecessor", i, e->ee_block);
		prev_end = ee_end(e);
	}
	return 0;
}

/* Check a node; @depth is what the parent implies (-1 for the root). */
static int check_node(const struct sdx_inode *inode, uint64_t block,
		      struct ext4_extent_header *eh, int depth)
{
	unsigned max = block ? BLOCK_MAX : ROOT_MAX;
	int err;

	if (eh->eh_magic != EXT4_EXT_MAGIC)
		return bad_node(inode, block, "header magic 0x%04x, expected "
				"0xf30a", eh->eh_magic);
	if (eh->eh_depth > EXT4_EXT_MAX_DEPTH ||
	    (depth >= 0 && eh->eh_depth != depth))
		return bad_node(inode, block, "depth %u, expected %d",
				eh->eh_depth, depth < 0 ? EXT4_EXT_MAX_DEPTH :
				depth);
	if (eh->eh_max == 0 || eh->eh_max > max ||
	    eh->eh_entries > eh->eh_max)
		return bad_node(inode, block, "%u entries of %u (at most %u)",
				eh->eh_entries, eh->eh_max, max);
	if (eh->eh_depth > 0 && eh->eh_entries == 0)
		return bad_node(inode, block, "empty index node");
	if (block && node_known_good(inode->fs, block))
		return 0;
	if (block && inode->fs->has_csum) {
		struct ext4_extent_tail tail;

		memcpy(&tail, (uint8_t *)eh + tail_offset(eh), sizeof(tail));
		if (tail.et_checksum != node_csum(inode, eh))
			return bad_node(inode, block, "checksum 0x%08x, "
					"expected 0x%08x", tail.et_checksum,
					node_csum(inode, eh));
	}
	err = check_entries(inode, block, eh);
	if (!err && block)
		node_mark_good(inode->fs, block);
	return err;
}

int sdx_extent_check_root(struct sdx_inode *inode)
{
	return check_node(inode, 0, root_of(inode), -1);
}

/* ---- paths ---- */

/* Last entry with key <= @lblk, or -1. */
static int search(struct ext4_extent_header *eh, uint64_t lblk)
{
	int lo = 0, hi = eh->eh_entries - 1, found = -1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		uint32_t key = eh->eh_depth ? ix(eh)[mid].ei_block :
					      ex(eh)[mid].ee_block;

		if (key <= lblk) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

static int find_path(struct sdx_inode *inode, uint64_t lblk,
		     struct ext_path *path)
{
	struct ext4_extent_header *eh = root_of(inode);
	int err;

	if (!(inode->raw.i_flags & EXT4_EXTENTS_FL))
		return sdx_err(-EOPNOTSUPP, "inode %u is block-mapped (ext2/3); "
			       "syncdax maps extent files only", inode->ino);
	err = check_node(inode, 0, eh, -1);
	if (err)
		return err;
	path->inode = inode;
	path->depth = eh->eh_depth;
	path->lv[0].block = 0;
	path->lv[0].eh = eh;
	for (int l = 0;; l++) {
		struct ext_level *lv = &path->lv[l];
		uint64_t child;

		lv->idx = search(lv->eh, lblk);
		if (l == path->depth)
			return 0;
		if (lv->idx < 0)
			lv->idx = 0;
		child = ei_leaf(&ix(lv->eh)[lv->idx]);
		eh = (void *)sdx_bread(inode->fs, child, &err);
		if (!eh)
			return err;
		err = check_node(inode, child, eh, path->depth - l - 1);
		if (err)
			return err;
		path->lv[l + 1].block = child;
		path->lv[l + 1].eh = eh;
	}
}

/* First key after the leaf of @path (EXT_MAX_BLOCKS if none). */
static uint64_t next_leaf_key(const struct ext_path *path)
{
	for (int l = path->depth - 1; l >= 0; l--) {
		const struct ext_level *lv = &path->lv[l];

		if (lv->idx + 1 < lv->eh->eh_entries)
			return ix(lv->eh)[lv->idx + 1].ei_block;
	}
	return EXT_MAX_BLOCKS;
}

/* ---- changing nodes ---- */

/* Write access to node @l of @path (the root is the inode's raw copy). */
static int node_write(struct sdx_handle *h, struct ext_path *path, int l)
{
	void *b;
	int err;

	if (l == 0)
		return 0;
	err = sdx_journal_get_write_access(h, path->lv[l].block, &b);
	if (err)
		return err;
	path->lv[l].eh = b;
	return 0;
}

static void set_tail(const struct sdx_inode *inode,
		     struct ext4_extent_header *eh)
{
	struct ext4_extent_tail tail;

	if (!inode->fs->has_csum)
		return;
	tail.et_checksum = node_csum(inode, eh);
	memcpy((uint8_t *)eh + tail_offset(eh), &tail, sizeof(tail));
}

static int node_dirty(struct sdx_handle *h, struct ext_path *path, int l)
{
	if (l == 0)
		return sdx_inode_mark_dirty(h, path->inode);
	set_tail(path->inode, path->lv[l].eh);
	sdx_journal_dirty_metadata(h, path->lv[l].block);
	return 0;
}

/* Node @l's first key changed: carry it into the index entries above. */
static int fix_keys(struct sdx_handle *h, struct ext_path *path, int l)
{
	for (; l > 0 && path->lv[l].eh->eh_entries > 0; l--) {
		uint32_t key = first_key(path->lv[l].eh);
		struct ext_level *up = &path->lv[l - 1];
		int err;

		if (ix(up->eh)[up->idx].ei_block == key)
			return 0;
		err = node_write(h, path, l - 1);
		if (err)
			return err;
		ix(up->eh)[up->idx].ei_block = key;
		err = node_dirty(h, path, l - 1);
		if (err)
			return err;
		if (up->idx != 0)
			return 0;
	}
	return 0;
}

static int alloc_tree_block(struct sdx_handle *h, struct sdx_inode *inode,
			    uint64_t *block, void **data)
{
	uint64_t got;
	int err = sdx_block_alloc(h, inode, 0, 1, block, &got);

	if (err)
		return err;
	err = sdx_journal_get_create_access(h, *block, data);
	if (err) {
		sdx_block_free(h, inode->fs, *block, 1);
		return err;
	}
	sdx_inode_add_blocks(inode, 1);
	return 0;
}

static int free_tree_block(struct sdx_handle *h, struct sdx_inode *inode,
			   uint64_t block)
{
	int err = sdx_journal_revoke(h, block);

	if (!err)
		err = sdx_block_free(h, inode->fs, block, 1);
	if (!err)
		sdx_inode_add_blocks(inode, -1);
	return err;
}

/* The root is full: move its entries to a new block one level down. */
static int grow_root(struct sdx_handle *h, struct sdx_inode *inode)
{
	struct ext4_extent_header *root = root_of(inode), *eh;
	struct ext4_extent_idx *x;
	uint64_t block;
	void *b;
	int err;

	if (root->eh_depth >= EXT4_EXT_MAX_DEPTH)
		return sdx_err(-EFBIG, "inode %u: extent tree at its maximum "
			       "depth %d", inode->ino, EXT4_EXT_MAX_DEPTH);
	err = alloc_tree_block(h, inode, &block, &b);
	if (err)
		return err;
	eh = b;
	memcpy(eh, root, HDR_SIZE + ENTRY_SIZE * root->eh_entries);
	eh->eh_max = BLOCK_MAX;
	set_tail(inode, eh);
	sdx_journal_dirty_metadata(h, block);
	x = &ix(root)[0];
	x->ei_block = first_key(eh);
	x->ei_leaf_lo = (uint32_t)block;
	x->ei_leaf_hi = (uint16_t)(block >> 32);
	x->ei_unused = 0;
	root->eh_entries = 1;
	root->eh_depth++;
	return sdx_inode_mark_dirty(h, inode);
}

/*
 * Split full node @l (not the root); its parent has room.  In halves, or,
 * when the path runs through the node's last entry (appending), only that
 * entry moves, so files that grow at the end get full nodes (as ext4 does).
 */
static int split_node(struct sdx_handle *h, struct ext_path *path, int l)
{
	struct ext4_extent_header *eh, *neh;
	struct ext_level *up = &path->lv[l - 1];
	struct ext4_extent_idx *x;
	uint64_t block;
	unsigned keep, move;
	void *b;
	int err;

	err = alloc_tree_block(h, path->inode, &block, &b);
	if (!err)
		err = node_write(h, path, l);
	if (err)
		return err;
	eh = path->lv[l].eh;
	keep = path->lv[l].idx == eh->eh_entries - 1 ? eh->eh_entries - 1u :
						       eh->eh_entries / 2u;
	move = eh->eh_entries - keep;
	neh = b;
	*neh = (struct ext4_extent_header){ .eh_magic = EXT4_EXT_MAGIC,
		.eh_entries = (uint16_t)move, .eh_max = BLOCK_MAX,
		.eh_depth = eh->eh_depth };
	memcpy(ex(neh), ex(eh) + keep, ENTRY_SIZE * move);
	eh->eh_entries = (uint16_t)keep;
	set_tail(path->inode, neh);
	sdx_journal_dirty_metadata(h, block);
	err = node_dirty(h, path, l);
	if (!err)
		err = node_write(h, path, l - 1);
	if (err)
		return err;
	x = ix(up->eh);
	memmove(&x[up->idx + 2], &x[up->idx + 1],
		ENTRY_SIZE * (up->eh->eh_entries - up->idx - 1));
	x[up->idx + 1] = (struct ext4_extent_idx){
		.ei_block = first_key(neh), .ei_leaf_lo = (uint32_t)block,
		.ei_leaf_hi = (uint16_t)(block >> 32) };
	up->eh->eh_entries++;
	return node_dirty(h, path, l - 1);
}

/*
 * Make room for @need more entries in the leaf that covers @lblk, splitting
 * full nodes bottom-up and growing the root.  Leaves the tree valid also
 * when it fails.
 */
static int make_room(struct sdx_handle *h, struct sdx_inode *inode,
		     uint64_t lblk, unsigned need)
{
	struct ext_path path;

	for (int round = 0; round < 4 * (EXT4_EXT_MAX_DEPTH + 2); round++) {
		int l, err = find_path(inode, lblk, &path);

		if (err)
			return err;
		l = path.depth;
		if (path.lv[l].eh->eh_entries + need <= path.lv[l].eh->eh_max)
			return 0;
		/* the lowest full node whose parent has room, or the root */
		while (l > 0 && path.lv[l - 1].eh->eh_entries >=
				path.lv[l - 1].eh->eh_max)
			l--;
		err = l == 0 ? grow_root(h, inode) : split_node(h, &path, l);
		if (err)
			return err;
	}
	return sdx_err(-EUCLEAN, "inode %u: extent tree does not converge "
		       "when split", inode->ino);
}

/* Remove entry @i of node @l; free the node if it empties. */
static int remove_entry(struct sdx_handle *h, struct ext_path *path, int l,
			int i)
{
	struct ext4_extent_header *eh;
	int err = node_write(h, path, l);

	if (err)
		return err;
	eh = path->lv[l].eh;
	memmove(ex(eh) + i, ex(eh) + i + 1,
		ENTRY_SIZE * (eh->eh_entries - i - 1));
	eh->eh_entries--;
	if (eh->eh_entries == 0 && l > 0) {
		err = free_tree_block(h, path->inode, path->lv[l].block);
		if (err)
			return err;
		return remove_entry(h, path, l - 1, path->lv[l - 1].idx);
	}
	if (eh->eh_entries == 0)
		eh->eh_depth = 0;	/* the root of an empty tree */
	err = node_dirty(h, path, l);
	if (!err && i == 0)
		err = fix_keys(h, path, l);
	return err;
}

static bool mergeable(const struct ext4_extent *a, const struct ext4_extent *b)
{
	return ee_end(a) == b->ee_block &&
	       ee_pblk(a) + ee_len(a) == ee_pblk(b) &&
	       ee_unwritten(a) == ee_unwritten(b) &&
	       ee_len(a) + ee_len(b) <= max_len(ee_unwritten(a));
}

/* Merge leaf entry @i with its neighbours in the same leaf (write access
 * held).  Never empties the leaf or changes its first key. */
static void merge_at(struct ext4_extent_header *eh, int i)
{
	struct ext4_extent *e = ex(eh);

	for (int k = i; k >= i - 1 && k >= 0; k--) {
		if (k + 1 >= eh->eh_entries || !mergeable(&e[k], &e[k + 1]))
			continue;
		ee_set(&e[k], e[k].ee_block, ee_pblk(&e[k]),
		       ee_len(&e[k]) + ee_len(&e[k + 1]), ee_unwritten(&e[k]));
		memmove(&e[k + 1], &e[k + 2],
			ENTRY_SIZE * (eh->eh_entries - k - 2));
		eh->eh_entries--;
	}
}

/* Insert @n new leaf entries after entry @i of the leaf (room made). */
static void insert_entries(struct ext4_extent_header *eh, int i,
			   const struct ext4_extent *n, unsigned count)
{
	struct ext4_extent *e = ex(eh);

	memmove(&e[i + 1 + count], &e[i + 1],
		ENTRY_SIZE * (eh->eh_entries - i - 1));
	memcpy(&e[i + 1], n, ENTRY_SIZE * count);
	eh->eh_entries = (uint16_t)(eh->eh_entries + count);
}

/* ---- block maps of ext2/3 inodes (read-only) ---- */

#define ADDR_PER_BLOCK	(SDX_BLOCK_SIZE / 4)
#define NDIR_BLOCKS	12

/*
 * The run at @lblk in array @arr of @n block numbers (a direct area or an
 * indirect block): mapped blocks that follow contiguously, or zeroes.
 */
static void blockmap_run(const uint32_t *arr, unsigned n, unsigned idx,
			 uint64_t *pblk, uint64_t *len, unsigned *flags)
{
	unsigned k = idx + 1;

	*pblk = arr[idx];
	*flags = arr[idx] ? 0 : SDX_EXTENT_HOLE;
	while (k < n && (arr[idx] ? arr[k] == arr[idx] + (k - idx) :
			 arr[k] == 0))
		k++;
	*len = k - idx;
}

/* sdx_extent_map for an inode mapped by direct and indirect blocks. */
static int blockmap_map(struct sdx_inode *inode, uint64_t lblk,
			uint64_t *pblk, uint64_t *len, unsigned *flags)
{
	const uint64_t span[4] = { 1, ADDR_PER_BLOCK,
				   (uint64_t)ADDR_PER_BLOCK * ADDR_PER_BLOCK,
				   (uint64_t)ADDR_PER_BLOCK * ADDR_PER_BLOCK *
				   ADDR_PER_BLOCK };
	uint64_t off = lblk - NDIR_BLOCKS, block;
	int level, err;

	if (S_ISLNK(inode->raw.i_mode) && sdx_inode_blocks512(inode) == 0)
		return sdx_err(-EINVAL, "inode %u is a fast symlink",
			       inode->ino);
	if (lblk < NDIR_BLOCKS) {
		blockmap_run(inode->raw.i_block, NDIR_BLOCKS, (unsigned)lblk,
			     pblk, len, flags);
		goto out_check;
	}
	for (level = 1; level <= 3 && off >= span[level]; level++)
		off -= span[level];
	if (level > 3) {
		*pblk = 0;
		*len = 1;
		*flags = SDX_EXTENT_HOLE;
		return 0;
	}
	block = inode->raw.i_block[NDIR_BLOCKS - 1 + level];
	for (; level > 0; level--) {
		const uint32_t *arr;
		unsigned idx = (unsigned)(off / span[level - 1]);

		if (block == 0) {	/* a hole as large as this subtree */
			*pblk = 0;
			*len = span[level] - off;
			*flags = SDX_EXTENT_HOLE;
			return 0;
		}
		if (!sdx_fs_block_valid(inode->fs, block, 1))
			return sdx_err(-EUCLEAN, "inode %u: indirect block %llu "
				       "outside the file system", inode->ino,
				       (unsigned long long)block);
		arr = sdx_bread(inode->fs, block, &err);
		if (!arr)
			return err;
		off %= span[level - 1];
		if (level == 1) {
			blockmap_run(arr, ADDR_PER_BLOCK, idx, pblk, len,
				     flags);
			break;
		}
		block = arr[idx];
	}
out_check:
	if (!(*flags & SDX_EXTENT_HOLE) &&
	    !sdx_fs_block_valid(inode->fs, *pblk, *len))
		return sdx_err(-EUCLEAN, "inode %u: logical block %llu maps to "
			       "block %llu outside the file system",
			       inode->ino, (unsigned long long)lblk,
			       (unsigned long long)*pblk);
	return 0;
}

/* ---- the internal API ---- */

static int shrink_tree(struct sdx_handle *h, struct sdx_inode *inode);

/*
 * The end of every change of the tree: pull a tree whose entries fit in
 * the inode back into it (merges of insert, conversion and shift shrink a
 * leaf too; e2fsck would call the tree "could be shorter"), then write the
 * inode (i_blocks, root) also after a failure.  The first error wins.
 */
static int change_done(struct sdx_handle *h, struct sdx_inode *inode, int err)
{
	int err2;

	if (!err)
		err = shrink_tree(h, inode);
	err2 = sdx_inode_mark_dirty(h, inode);
	return err ? err : err2;
}

int sdx_extent_map(struct sdx_inode *inode, uint64_t lblk, uint64_t *pblk,
		   uint64_t *len, unsigned *flags)
{
	struct ext_path path;
	struct ext4_extent_header *eh;
	struct ext4_extent *e;
	uint64_t next;
	int i, err;

	if (lblk >= EXT_MAX_BLOCKS) {
		*pblk = 0;
		*len = 1;
		*flags = SDX_EXTENT_HOLE;
		return 0;
	}
	if (!(inode->raw.i_flags & EXT4_EXTENTS_FL))
		return blockmap_map(inode, lblk, pblk, len, flags);
	err = find_path(inode, lblk, &path);
	if (err)
		return err;
	eh = path.lv[path.depth].eh;
	i = path.lv[path.depth].idx;
	e = ex(eh);
	if (i >= 0 && ee_end(&e[i]) > lblk) {
		if (!sdx_fs_block_valid(inode->fs, ee_pblk(&e[i]), ee_len(&e[i])))
			return bad_node(inode, path.lv[path.depth].block,
					"extent %d maps outside the file "
					"system", i);
		*pblk = ee_pblk(&e[i]) + (lblk - e[i].ee_block);
		*len = ee_end(&e[i]) - lblk;
		*flags = ee_unwritten(&e[i]) ? SDX_EXTENT_UNWRITTEN : 0;
		return 0;
	}
	next = i + 1 < eh->eh_entries ? e[i + 1].ee_block :
					next_leaf_key(&path);
	if (next <= lblk)
		return bad_node(inode, path.lv[path.depth].block, "keys out of "
				"order after entry %d", i);
	*pblk = 0;
	*len = next - lblk;
	*flags = SDX_EXTENT_HOLE;
	return 0;
}

int sdx_extent_end(struct sdx_inode *inode, uint64_t *end_lblk,
		   uint64_t *last_pblk)
{
	struct ext_path path;
	struct ext_level *leaf;
	int err = find_path(inode, EXT_MAX_BLOCKS - 1, &path);

	if (err)
		return err;
	leaf = &path.lv[path.depth];
	*end_lblk = 0;
	*last_pblk = 0;
	if (leaf->idx >= 0) {
		struct ext4_extent *e = &ex(leaf->eh)[leaf->idx];

		*end_lblk = ee_end(e);
		*last_pblk = ee_pblk(e) + ee_len(e) - 1;
	}
	return 0;
}

/* Insert one extent of at most max_len blocks into a hole. */
static int insert_one(struct sdx_handle *h, struct sdx_inode *inode,
		      uint64_t lblk, uint64_t pblk, uint32_t len,
		      bool is_unwritten)
{
	struct ext4_extent n, *e;
	struct ext_path path;
	struct ext4_extent_header *eh;
	int i, l, err;

	ee_set(&n, lblk, pblk, len, is_unwritten);
	err = find_path(inode, lblk, &path);
	if (err)
		return err;
	l = path.depth;
	eh = path.lv[l].eh;
	i = path.lv[l].idx;
	if ((i < 0 || !mergeable(&ex(eh)[i], &n)) &&
	    (i + 1 >= eh->eh_entries || !mergeable(&n, &ex(eh)[i + 1]))) {
		err = make_room(h, inode, lblk, 1);
		if (!err)
			err = find_path(inode, lblk, &path);
		if (err)
			return err;
		eh = path.lv[l = path.depth].eh;
		i = path.lv[l].idx;
	}
	err = node_write(h, &path, l);
	if (err)
		return err;
	eh = path.lv[l].eh;
	e = ex(eh);
	if (i >= 0 && mergeable(&e[i], &n)) {
		ee_set(&e[i], e[i].ee_block, ee_pblk(&e[i]),
		       ee_len(&e[i]) + len, is_unwritten);
		merge_at(eh, i);
		return node_dirty(h, &path, l);
	}
	if (i + 1 < eh->eh_entries && mergeable(&n, &e[i + 1])) {
		ee_set(&e[i + 1], lblk, pblk, len + ee_len(&e[i + 1]),
		       is_unwritten);
	} else {
		insert_entries(eh, i, &n, 1);
	}
	err = node_dirty(h, &path, l);
	if (!err && i + 1 == 0)
		err = fix_keys(h, &path, l);
	return err;
}

int sdx_extent_insert(struct sdx_handle *h, struct sdx_inode *inode,
		      uint64_t lblk, uint64_t pblk, uint64_t len,
		      bool is_unwritten)
{
	int err = 0;

	if (len == 0 || lblk >= EXT_MAX_BLOCKS ||
	    len > EXT_MAX_BLOCKS - lblk ||
	    !sdx_fs_block_valid(inode->fs, pblk, len))
		return sdx_err(-EINVAL, "inode %u: cannot map %llu+%llu to "
			       "block %llu", inode->ino,
			       (unsigned long long)lblk,
			       (unsigned long long)len,
			       (unsigned long long)pblk);
	while (len > 0 && !err) {
		uint32_t n = len < max_len(is_unwritten) ?
			     (uint32_t)len : max_len(is_unwritten);
		uint64_t hole_pblk, hole_len;
		unsigned flags;

		err = sdx_extent_map(inode, lblk, &hole_pblk, &hole_len,
				     &flags);
		if (err)
			break;
		if (!(flags & SDX_EXTENT_HOLE) || hole_len < n) {
			err = sdx_err(-EEXIST, "inode %u: logical blocks "
				      "%llu+%u are already mapped", inode->ino,
				      (unsigned long long)lblk, n);
			break;
		}
		err = insert_one(h, inode, lblk, pblk, n, is_unwritten);
		if (err)
			break;
		sdx_inode_add_blocks(inode, n);
		lblk += n;
		pblk += n;
		len -= n;
	}
	return change_done(h, inode, err);
}

/*
 * Find the first extent that ends after @cur, at or before @end; leave the
 * path to it in @path and its index in *@i.  Return: 1 found, 0 none.
 */
static int next_extent(struct sdx_inode *inode, uint64_t *cur, uint64_t end,
		       struct ext_path *path, int *i)
{
	while (*cur < end) {
		struct ext4_extent_header *eh;
		int err = find_path(inode, *cur, path);
		uint64_t next;

		if (err)
			return err;
		eh = path->lv[path->depth].eh;
		*i = path->lv[path->depth].idx;
		if (*i >= 0 && ee_end(&ex(eh)[*i]) > *cur)
			return 1;
		if (*i + 1 < eh->eh_entries) {
			*i += 1;
			return ex(eh)[*i].ee_block < end;
		}
		next = next_leaf_key(path);
		if (next <= *cur)
			return bad_node(inode, path->lv[path->depth].block,
					"index keys do not advance");
		*cur = next;
	}
	return 0;
}

/* Pull a small tree back into the inode (depth reduction). */
static int shrink_tree(struct sdx_handle *h, struct sdx_inode *inode)
{
	struct ext4_extent_header *root = root_of(inode);

	while (root->eh_depth > 0 && root->eh_entries == 1) {
		uint64_t child = ei_leaf(&ix(root)[0]);
		struct ext4_extent_header *eh;
		int err;

		eh = (void *)sdx_bread(inode->fs, child, &err);
		if (!eh)
			return err;
		err = check_node(inode, child, eh, root->eh_depth - 1);
		if (err)
			return err;
		if (eh->eh_entries > root->eh_max)
			return 0;
		memcpy(ex(root), ex(eh), ENTRY_SIZE * eh->eh_entries);
		root->eh_entries = eh->eh_entries;
		root->eh_depth = eh->eh_depth;
		err = free_tree_block(h, inode, child);
		if (err)
			return err;
	}
	return 0;
}

/*
 * After a removal from the leaf that covers @lblk: if it and a sibling
 * under the same parent fit in one block three quarters full, move the
 * right one's entries into the left one and free the right one.
 */
static int merge_leaves(struct sdx_handle *h, struct sdx_inode *inode,
			uint64_t lblk)
{
	struct ext4_extent_header *leh, *seh, *dst, *src;
	struct ext_path path;
	struct ext_level *up;
	int d, err = find_path(inode, lblk, &path);

	if (err || path.depth == 0)
		return err;
	d = path.depth;
	up = &path.lv[d - 1];
	for (int side = 1; side >= -1; side -= 2) {
		int sib = up->idx + side;
		uint64_t sblock;
		void *b;

		if (sib < 0 || sib >= up->eh->eh_entries)
			continue;
		sblock = ei_leaf(&ix(up->eh)[sib]);
		seh = (void *)sdx_bread(inode->fs, sblock, &err);
		if (!seh)
			return err;
		err = check_node(inode, sblock, seh, 0);
		if (err)
			return err;
		leh = path.lv[d].eh;
		if (leh->eh_entries + seh->eh_entries >
		    (side > 0 ? leh->eh_max : seh->eh_max) * 3u / 4u)
			continue;
		if (side > 0) {
			err = node_write(h, &path, d);
			dst = path.lv[d].eh;
			src = seh;
		} else {
			err = sdx_journal_get_write_access(h, sblock, &b);
			dst = b;
			src = leh;
		}
		if (err)
			return err;
		memcpy(ex(dst) + dst->eh_entries, ex(src),
		       ENTRY_SIZE * src->eh_entries);
		dst->eh_entries = (uint16_t)(dst->eh_entries + src->eh_entries);
		set_tail(inode, dst);
		sdx_journal_dirty_metadata(h, side > 0 ? path.lv[d].block :
						      sblock);
		err = free_tree_block(h, inode, side > 0 ? sblock :
						      path.lv[d].block);
		if (!err)
			err = remove_entry(h, &path, d - 1,
					   side > 0 ? sib : up->idx);
		return err;
	}
	return 0;
}

/*
 * Split the extent that covers @lblk in two, so that one starts at @lblk
 * (nothing to do when none covers it or one starts there).
 */
static int split_at(struct sdx_handle *h, struct sdx_inode *inode,
		    uint64_t lblk)
{
	struct ext4_extent *e, right;
	struct ext_path path;
	uint64_t es, ee, pb;
	bool is_unwritten;
	int i, l, err = find_path(inode, lblk, &path);

	if (err)
		return err;
	i = path.lv[path.depth].idx;
	if (i < 0)
		return 0;
	e = &ex(path.lv[path.depth].eh)[i];
	es = e->ee_block;
	ee = ee_end(e);
	if (lblk <= es || lblk >= ee)
		return 0;
	pb = ee_pblk(e);
	is_unwritten = ee_unwritten(e);
	err = make_room(h, inode, es, 1);
	if (!err)
		err = find_path(inode, es, &path);
	if (!err)
		err = node_write(h, &path, l = path.depth);
	if (err)
		return err;
	i = path.lv[l].idx;
	ee_set(&ex(path.lv[l].eh)[i], es, pb, (uint32_t)(lblk - es),
	       is_unwritten);
	ee_set(&right, lblk, pb + (lblk - es), (uint32_t)(ee - lblk),
	       is_unwritten);
	insert_entries(path.lv[l].eh, i, &right, 1);
	return node_dirty(h, &path, l);
}

/* Unmap [s, t) of leaf entry @i, which covers it; free the blocks. */
static int cut_extent(struct sdx_handle *h, struct sdx_inode *inode,
		      struct ext_path *path, int i, uint64_t s, uint64_t t)
{
	struct ext4_extent *e = &ex(path->lv[path->depth].eh)[i];
	uint64_t es = e->ee_block, ee = ee_end(e), pb = ee_pblk(e);
	bool is_unwritten = ee_unwritten(e);
	int l, err;

	if (s > es && t < ee) {	/* the middle: cut [s, t) of [es, t) */
		err = split_at(h, inode, t);
		if (!err)
			err = find_path(inode, s, path);
		if (err)
			return err;
		i = path->lv[path->depth].idx;
		ee = t;
	}
	l = path->depth;
	if (s > es || t < ee) {
		err = node_write(h, path, l);
		if (err)
			return err;
		e = &ex(path->lv[l].eh)[i];
		if (s > es)
			ee_set(e, es, pb, (uint32_t)(s - es), is_unwritten);
		else
			ee_set(e, t, pb + (t - es), (uint32_t)(ee - t),
			       is_unwritten);
		err = node_dirty(h, path, l);
		if (!err && s == es && i == 0)
			err = fix_keys(h, path, l);
	} else {
		err = remove_entry(h, path, l, i);
	}
	if (!err)
		err = sdx_block_free(h, inode->fs, pb + (s - es), t - s);
	if (!err)
		sdx_inode_add_blocks(inode, -(int64_t)(t - s));
	if (!err)
		err = merge_leaves(h, inode, s);
	return err;
}

/* What to do with the part [s, t) of leaf entry @i inside a range. */
typedef int (*extent_fn)(struct sdx_handle *h, struct sdx_inode *inode,
			 struct ext_path *path, int i, uint64_t s, uint64_t t);

/* Call @fn on the part of every extent inside [@lblk, @lblk+@len). */
static int for_each_extent(struct sdx_handle *h, struct sdx_inode *inode,
			   uint64_t lblk, uint64_t len, extent_fn fn)
{
	uint64_t cur = lblk, end;
	struct ext_path path;
	int i = 0, r;

	if (lblk >= EXT_MAX_BLOCKS || len == 0)
		return 0;
	end = len > EXT_MAX_BLOCKS - lblk ? EXT_MAX_BLOCKS : lblk + len;
	while ((r = next_extent(inode, &cur, end, &path, &i)) == 1) {
		struct ext4_extent *e = &ex(path.lv[path.depth].eh)[i];
		uint64_t s = e->ee_block > cur ? e->ee_block : cur;
		uint64_t t = ee_end(e) < end ? ee_end(e) : end;

		r = fn(h, inode, &path, i, s, t);
		if (r)
			break;
		cur = t;
	}
	return r;
}

int sdx_extent_remove(struct sdx_handle *h, struct sdx_inode *inode,
		      uint64_t lblk, uint64_t len)
{
	return change_done(h, inode, for_each_extent(h, inode, lblk, len,
						     cut_extent));
}

/* Convert [s, t) of leaf entry @i (which covers it) if unwritten. */
static int convert_extent(struct sdx_handle *h, struct sdx_inode *inode,
			  struct ext_path *path, int i, uint64_t s, uint64_t t)
{
	struct ext4_extent *e = &ex(path->lv[path->depth].eh)[i];
	uint64_t es = e->ee_block, ee = ee_end(e), pb = ee_pblk(e);
	unsigned pieces = (s > es) + (t < ee), n = 0;
	struct ext4_extent add[2], mid;
	int l, err;

	if (!ee_unwritten(e))
		return 0;	/* written already */
	if (pieces) {
		err = make_room(h, inode, es, pieces);
		if (!err)
			err = find_path(inode, es, path);
		if (err)
			return err;
		i = path->lv[path->depth].idx;
	}
	l = path->depth;
	err = node_write(h, path, l);
	if (err)
		return err;
	ee_set(&mid, s, pb + (s - es), (uint32_t)(t - s), false);
	if (s > es) {
		ee_set(&ex(path->lv[l].eh)[i], es, pb, (uint32_t)(s - es), true);
		add[n++] = mid;
	} else {
		ex(path->lv[l].eh)[i] = mid;
	}
	if (t < ee)
		ee_set(&add[n++], t, pb + (t - es), (uint32_t)(ee - t), true);
	if (n)
		insert_entries(path->lv[l].eh, i, add, n);
	merge_at(path->lv[l].eh, i + (s > es));
	return node_dirty(h, path, l);
}

int sdx_extent_mark_written(struct sdx_handle *h, struct sdx_inode *inode,
			    uint64_t lblk, uint64_t len)
{
	return change_done(h, inode, for_each_extent(h, inode, lblk, len,
						     convert_extent));
}

/* ---- shifting logical blocks (COLLAPSE_RANGE, INSERT_RANGE) ---- */

int sdx_extent_count_nodes(struct sdx_inode *inode, uint64_t lblk,
			   uint64_t *nodes)
{
	uint64_t seen[EXT4_EXT_MAX_DEPTH + 1] = { 0 }, cur = lblk, next;
	struct ext_path path;

	*nodes = 0;
	for (;;) {
		int err = find_path(inode, cur, &path);

		if (err)
			return err;
		for (int l = 1; l <= path.depth; l++) {
			if (path.lv[l].block == seen[l])
				continue;
			seen[l] = path.lv[l].block;
			(*nodes)++;
		}
		next = next_leaf_key(&path);
		if (next >= EXT_MAX_BLOCKS)
			return 0;
		if (next <= cur)
			return bad_node(inode, path.lv[path.depth].block,
					"index keys do not advance");
		cur = next;
	}
}

/*
 * Move the entries of the leaf on @path whose keys lie in [@lo, @hi) by
 * @shift blocks, down when @is_left (then the first one moved merges with
 * the entry before it where they became contiguous, as ext4 does), and
 * carry a changed first key into the index above.
 */
static int shift_leaf(struct sdx_handle *h, struct ext_path *path,
		      uint64_t lo, uint64_t hi, uint64_t shift, bool is_left)
{
	int l = path->depth, f = 0, t, err;
	struct ext4_extent_header *eh = path->lv[l].eh;
	struct ext4_extent *e;

	while (f < eh->eh_entries && ex(eh)[f].ee_block < lo)
		f++;
	for (t = f; t < eh->eh_entries && ex(eh)[t].ee_block < hi; t++)
		;
	if (f == t)
		return 0;
	err = node_write(h, path, l);
	if (err)
		return err;
	eh = path->lv[l].eh;
	e = ex(eh);
	for (int i = f; i < t; i++)
		e[i].ee_block = (uint32_t)(is_left ? e[i].ee_block - shift :
						     e[i].ee_block + shift);
	if (is_left && f > 0)
		merge_at(eh, f - 1);
	err = node_dirty(h, path, l);
	if (!err && f == 0)
		err = fix_keys(h, path, l);
	return err;
}

/* Are the @shift blocks from @lblk a hole to shift into? */
static int expect_hole(struct sdx_inode *inode, uint64_t lblk, uint64_t shift)
{
	uint64_t pblk, len;
	unsigned flags;
	int err = sdx_extent_map(inode, lblk, &pblk, &len, &flags);

	if (!err && (!(flags & SDX_EXTENT_HOLE) || len < shift))
		err = sdx_err(-EINVAL, "inode %u: blocks %llu+%llu are not a "
			      "hole to shift into", inode->ino,
			      (unsigned long long)lblk,
			      (unsigned long long)shift);
	return err;
}

/* Check (and for a right shift make) the edges sdx_extent_shift needs;
 * *@is_empty when no extent lies in [@start, @end). */
static int shift_edges(struct sdx_handle *h, struct sdx_inode *inode,
		       uint64_t start, uint64_t end, uint64_t shift,
		       bool is_left, bool *is_empty)
{
	uint64_t pblk, len, last_end;
	struct ext_path path;
	struct ext4_extent *e;
	unsigned flags;
	int i, err;

	*is_empty = false;
	if (end < EXT_MAX_BLOCKS) {
		err = sdx_extent_map(inode, end - 1, &pblk, &len, &flags);
		if (err)
			return err;
		if (!(flags & SDX_EXTENT_HOLE) && len > 1)
			return sdx_err(-EINVAL, "inode %u: an extent straddles "
				       "block %llu, the end of a shift",
				       inode->ino, (unsigned long long)end);
	}
	if (is_left)
		return expect_hole(inode, start - shift, shift);
	err = split_at(h, inode, start);
	if (!err)
		err = find_path(inode, end - 1, &path);
	if (err)
		return err;
	i = path.lv[path.depth].idx;
	e = i >= 0 ? &ex(path.lv[path.depth].eh)[i] : NULL;
	if (!e || e->ee_block < start) {
		*is_empty = true;
		return 0;
	}
	last_end = ee_end(e);
	if (last_end + shift > EXT_MAX_BLOCKS)
		return sdx_err(-EFBIG, "inode %u: shifting block %llu by %llu "
			       "passes the largest file", inode->ino,
			       (unsigned long long)last_end,
			       (unsigned long long)shift);
	return expect_hole(inode, last_end, shift);
}

/* Is there a leaf before the one @path reaches? */
static bool has_leaf_before(const struct ext_path *path)
{
	for (int l = 0; l < path->depth; l++)
		if (path->lv[l].idx > 0)
			return true;
	return false;
}

/*
 * Shift leaf after leaf, left from @start up, right from @end down (so the
 * keys stay sorted after every leaf); the extents not moved yet lie in
 * [lo, hi).  *@stop as sdx_extent_shift says.
 */
static int shift_leaves(struct sdx_handle *h, struct sdx_inode *inode,
			uint64_t start, uint64_t end, uint64_t shift,
			bool is_left, unsigned max_leaves, uint64_t *stop)
{
	uint64_t lo = start, hi = end, key;
	struct ext_path path;

	for (unsigned leaves = 1;; leaves++) {
		struct ext4_extent_header *eh;
		int err = find_path(inode, is_left ? lo : hi - 1, &path);

		if (err)
			return err;
		eh = path.lv[path.depth].eh;
		if (is_left) {		/* where the next leaf starts */
			key = next_leaf_key(&path);
			if (key <= lo)
				return bad_node(inode, path.lv[path.depth].block,
						"index keys do not advance");
		} else {		/* where this leaf starts */
			if (eh->eh_entries == 0 && path.depth > 0)
				return bad_node(inode, path.lv[path.depth].block,
						"empty leaf");
			key = eh->eh_entries && has_leaf_before(&path) ?
			      ex(eh)[0].ee_block : 0;
			if (key >= hi)
				return bad_node(inode, path.lv[path.depth].block,
						"index keys do not match the "
						"leaves");
		}
		err = shift_leaf(h, &path, lo, hi, shift, is_left);
		if (err)
			return err;
		if (is_left)
			lo = key < end ? key : end;
		else
			hi = key > start ? key : start;
		*stop = is_left ? lo : hi;
		if (lo == hi || leaves == max_leaves)
			return 0;
	}
}

int sdx_extent_shift(struct sdx_handle *h, struct sdx_inode *inode,
		     uint64_t start, uint64_t end, uint64_t shift,
		     bool is_left, unsigned max_leaves, uint64_t *stop)
{
	bool is_empty;
	int err;

	*stop = is_left ? start : end;
	if (shift == 0 || start >= end || end > EXT_MAX_BLOCKS ||
	    (is_left && shift > start))
		return sdx_err(-EINVAL, "inode %u: cannot shift blocks "
			       "%llu..%llu by %s%llu", inode->ino,
			       (unsigned long long)start,
			       (unsigned long long)end, is_left ? "-" : "+",
			       (unsigned long long)shift);
	err = shift_edges(h, inode, start, end, shift, is_left, &is_empty);
	if (!err && is_empty)
		*stop = start;		/* a right shift of nothing */
	else if (!err)
		err = shift_leaves(h, inode, start, end, shift, is_left,
				   max_leaves, stop);
	/* the merge at the lower edge may leave a leaf to join */
	if (!err && is_left)
		err = merge_leaves(h, inode, start - shift);
	return change_done(h, inode, err);
}

int sdx_inode_truncate_blocks(struct sdx_handle *h, struct sdx_inode *inode,
			      uint64_t size)
{
	uint64_t first = (size + SDX_BLOCK_SIZE - 1) / SDX_BLOCK_SIZE;

	if (!(inode->raw.i_flags & EXT4_EXTENTS_FL)) {
		if (S_ISLNK(inode->raw.i_mode) ||
		    sdx_inode_blocks512(inode) == 0)
			return 0;
		return sdx_err(-EOPNOTSUPP, "inode %u is block-mapped (ext2/3); "
			       "syncdax cannot truncate it", inode->ino);
	}
	if (first >= EXT_MAX_BLOCKS)
		return 0;
	return sdx_extent_remove(h, inode, first, EXT_MAX_BLOCKS - first);
}
