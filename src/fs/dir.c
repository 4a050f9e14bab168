/*
 * dir.c - ext4 directories: linear blocks of ext4_dir_entry_2 records with
 * the metadata_csum tail, and htree (dir_index) directories.
 *
 * A directory is i_size / 4096 blocks, each a chain of records
 * (inode, rec_len, name_len, file_type, name) that covers the block up to
 * the 12-byte checksum tail (metadata_csum) or to its end.  An htree
 * directory (EXT4_INDEX_FL) hides its index in blocks that read as empty
 * records: block 0 (dx_root) holds "." and a ".." whose rec_len spans the
 * rest of the block, interior blocks (dx_node) one unused record that spans
 * the whole block; the leaves are linear blocks.
 *
 * Reading: a lookup in an htree directory hashes the name (dirhash.c),
 * follows the index from the root through at most two levels of nodes to
 * the leaf that holds the hash (and on to the next leaves while they
 * continue it); in a linear directory, and for "." and "..", it walks the
 * blocks in order, as readdir does.  Every block's checksum (leaf tail or
 * dx_tail), every index count and target, and every record (rec_len,
 * name_len, inode number, bounds) is checked before it is used.
 *
 * Writing an htree directory maintains the index as ext4 does: a record is
 * removed or retargeted in place (".." in the root with the root's dx_tail
 * checksum); a new name goes into the leaf its hash maps to, and a full
 * leaf is split by hash (the upper half, size-wise, to a new leaf, indexed
 * after it with bit 0 set when it continues the same hash), full index
 * nodes are split and a level is added below a full root.  A one-block
 * linear directory that needs a second block becomes an htree (with
 * dir_index).  Only when the index cannot grow (two levels full without
 * largedir) or uses a hash this code does not know, EXT4_INDEX_FL is
 * cleared and the index blocks rewritten as empty linear blocks, as ext4
 * itself falls back to a linear directory.  States of a directory:
 *
 *   LINEAR (1 block) --add needing a block, dir_index--> INDEXED
 *   LINEAR --add/remove/retarget--> LINEAR
 *   INDEXED --lookup/iterate/remove/retarget/add (splits)--> INDEXED
 *   INDEXED --add, index full or unknown hash (unindex first)--> LINEAR
 *
 * Invariants:
 *   (1) Under metadata_csum every leaf block ends in a tail whose checksum
 *       covers the block before it; set after every change.
 *   (2) Records tile a block exactly: rec_len >= EXT4_DIR_REC_LEN(name_len),
 *       a multiple of 4, never past the tail.
 *   (3) A block is changed only through the caller's handle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/ops.h"
#include "lib/crc32c.h"
#include "lib/err.h"

#define TAIL_SIZE	sizeof(struct ext4_dir_entry_tail)
#define DX_ROOT_COUNT	offsetof(struct dx_root, entries)
#define DX_NODE_COUNT	offsetof(struct dx_node, entries)
#define NO_PREV		SIZE_MAX
#define WALK_STOP	1

enum block_kind { BLOCK_LEAF, BLOCK_DX_ROOT, BLOCK_DX_NODE };

/* Where the walk stands: one record of one block. */
struct dir_pos {
	uint64_t lblk;
	uint64_t pblk;
	enum block_kind kind;
	size_t off;		/* of the record */
	size_t prev;		/* of the record before it, or NO_PREV */
};

typedef int (*entry_fn)(void *arg, const struct dir_pos *pos,
			const struct ext4_dir_entry_2 *de);

static size_t csum_size(const struct sdx_fs *fs)
{
	return fs->has_csum ? TAIL_SIZE : 0;
}

static bool is_indexed(const struct sdx_inode *dir)
{
	return dir->raw.i_flags & EXT4_INDEX_FL;
}

uint8_t sdx_dir_ftype(const struct sdx_fs *fs, mode_t mode)
{
	if (!(fs->feature_incompat & EXT4_FEATURE_INCOMPAT_FILETYPE))
		return EXT4_FT_UNKNOWN;
	switch (mode & S_IFMT) {
	case S_IFREG:	return EXT4_FT_REG_FILE;
	case S_IFDIR:	return EXT4_FT_DIR;
	case S_IFCHR:	return EXT4_FT_CHRDEV;
	case S_IFBLK:	return EXT4_FT_BLKDEV;
	case S_IFIFO:	return EXT4_FT_FIFO;
	case S_IFSOCK:	return EXT4_FT_SOCK;
	case S_IFLNK:	return EXT4_FT_SYMLINK;
	default:	return EXT4_FT_UNKNOWN;
	}
}

static int dir_blocks(struct sdx_inode *dir, uint64_t *n)
{
	uint64_t size = sdx_inode_size(dir);

	if (size % SDX_BLOCK_SIZE)
		return sdx_err(-EUCLEAN, "directory inode %u: size %llu is not "
			       "a whole number of blocks", dir->ino,
			       (unsigned long long)size);
	/* distinct blocks: a walk never runs longer than the device */
	if (size / SDX_BLOCK_SIZE > dir->fs->blocks_count)
		return sdx_err(-EUCLEAN, "directory inode %u: size %llu is "
			       "larger than the file system", dir->ino,
			       (unsigned long long)size);
	*n = size / SDX_BLOCK_SIZE;
	return 0;
}

static int dir_pblk(struct sdx_inode *dir, uint64_t lblk, uint64_t *pblk)
{
	uint64_t len;
	unsigned flags;
	int err = sdx_extent_map(dir, lblk, pblk, &len, &flags);

	if (err)
		return err;
	if (flags & (SDX_EXTENT_HOLE | SDX_EXTENT_UNWRITTEN))
		return sdx_err(-EUCLEAN, "directory inode %u: block %llu is "
			       "not mapped", dir->ino,
			       (unsigned long long)lblk);
	return 0;
}

static void set_leaf_csum(struct sdx_inode *dir, uint8_t *b)
{
	struct ext4_dir_entry_tail *t;

	if (!dir->fs->has_csum)
		return;
	t = (struct ext4_dir_entry_tail *)(b + SDX_BLOCK_SIZE - TAIL_SIZE);
	t->det_checksum = sdx_crc32c(dir->csum_seed, b,
				     SDX_BLOCK_SIZE - TAIL_SIZE);
}

/* An empty leaf (one unused record) with its tail. */
static void init_leaf(struct sdx_inode *dir, uint8_t *b)
{
	struct ext4_dir_entry_2 *de = (struct ext4_dir_entry_2 *)b;
	size_t tail = csum_size(dir->fs);

	memset(b, 0, SDX_BLOCK_SIZE);
	de->rec_len = (uint16_t)(SDX_BLOCK_SIZE - tail);
	if (tail) {
		struct ext4_dir_entry_tail *t = (void *)(b + SDX_BLOCK_SIZE -
							 tail);

		t->det_rec_len = TAIL_SIZE;
		t->det_reserved_ft = EXT4_FT_DIR_CSUM;
	}
	set_leaf_csum(dir, b);
}

static enum block_kind block_kind(const struct sdx_inode *dir, uint64_t lblk,
				  const uint8_t *b)
{
	const struct fake_dirent *fd = (const struct fake_dirent *)b;

	if (!is_indexed(dir))
		return BLOCK_LEAF;
	if (lblk == 0)
		return BLOCK_DX_ROOT;
	if (fd->inode == 0 && fd->rec_len == SDX_BLOCK_SIZE &&
	    fd->name_len == 0)
		return BLOCK_DX_NODE;
	return BLOCK_LEAF;
}

/*
 * Leaf blocks whose checksum was verified, so that a walk of a large
 * directory does not recompute every block's crc32c on every lookup (the
 * kernel keeps a "verified" bit per buffer).  Direct-mapped by block
 * number; an entry is trusted only while the block's stored checksum is
 * still the one verified, so a change made through a handle (which sets a
 * new checksum) is verified again.  Entries of a file system are dropped
 * at mount and unmount (sdx_dir_forget).
 */
#define VERIFIED_SLOTS 4096

static struct verified {
	const struct sdx_fs *fs;
	uint64_t pblk;
	uint32_t csum;
} verified[VERIFIED_SLOTS];
static pthread_mutex_t verified_lock = PTHREAD_MUTEX_INITIALIZER;

static struct verified *verified_slot(uint64_t pblk)
{
	return &verified[(pblk * 0x9E3779B97F4A7C15ull >> 52) %
			 VERIFIED_SLOTS];
}

static bool is_verified(const struct sdx_fs *fs, uint64_t pblk, uint32_t csum)
{
	struct verified *v = verified_slot(pblk);
	bool hit;

	pthread_mutex_lock(&verified_lock);
	hit = v->fs == fs && v->pblk == pblk && v->csum == csum;
	pthread_mutex_unlock(&verified_lock);
	return hit;
}

static void set_verified(const struct sdx_fs *fs, uint64_t pblk, uint32_t csum)
{
	struct verified *v = verified_slot(pblk);

	pthread_mutex_lock(&verified_lock);
	*v = (struct verified){ .fs = fs, .pblk = pblk, .csum = csum };
	pthread_mutex_unlock(&verified_lock);
}

void sdx_dir_forget(const struct sdx_fs *fs)
{
	pthread_mutex_lock(&verified_lock);
	for (size_t i = 0; i < VERIFIED_SLOTS; i++)
		if (verified[i].fs == fs)
			verified[i].fs = NULL;
	pthread_mutex_unlock(&verified_lock);
}

/* Check a leaf's tail and checksum; *end is where its records stop. */
static int check_leaf(struct sdx_inode *dir, uint64_t lblk, uint64_t pblk,
		      const uint8_t *b, size_t *end)
{
	const struct ext4_dir_entry_tail *t;
	uint32_t want;

	*end = SDX_BLOCK_SIZE;
	if (!dir->fs->has_csum)
		return 0;
	t = (const void *)(b + SDX_BLOCK_SIZE - TAIL_SIZE);
	if (t->det_reserved_zero1 || t->det_rec_len != TAIL_SIZE ||
	    t->det_reserved_zero2 || t->det_reserved_ft != EXT4_FT_DIR_CSUM)
		return sdx_err(-EUCLEAN, "directory inode %u block %llu: no "
			       "checksum tail", dir->ino,
			       (unsigned long long)lblk);
	*end = SDX_BLOCK_SIZE - TAIL_SIZE;
	if (is_verified(dir->fs, pblk, t->det_checksum))
		return 0;
	want = sdx_crc32c(dir->csum_seed, b, SDX_BLOCK_SIZE - TAIL_SIZE);
	if (t->det_checksum != want)
		return sdx_err(-EUCLEAN, "directory inode %u block %llu: "
			       "checksum 0x%08x, expected 0x%08x", dir->ino,
			       (unsigned long long)lblk, t->det_checksum,
			       want);
	set_verified(dir->fs, pblk, want);
	return 0;
}

/* The checksum of an index block: its entries in use, then the tail with
 * dt_checksum taken as zero. */
static uint32_t dx_csum(const struct sdx_inode *dir, const uint8_t *b,
			size_t count_off, unsigned count,
			const struct dx_tail *t)
{
	const uint32_t zero = 0;
	uint32_t c = sdx_crc32c(dir->csum_seed, b, count_off +
				count * sizeof(struct dx_entry));

	c = sdx_crc32c(c, &t->dt_reserved, sizeof(t->dt_reserved));
	return sdx_crc32c(c, &zero, sizeof(zero));
}

/* Check an htree index block (root or node): shape, count, checksum. */
static int check_dx(struct sdx_inode *dir, uint64_t lblk, const uint8_t *b,
		    enum block_kind kind)
{
	const struct dx_root *root = (const struct dx_root *)b;
	size_t count_off = DX_NODE_COUNT;
	const struct dx_countlimit *cl;
	const struct dx_tail *t;
	size_t tail_off;
	uint32_t want;

	if (kind == BLOCK_DX_ROOT) {
		unsigned max_levels = dir->fs->feature_incompat &
				      EXT4_FEATURE_INCOMPAT_LARGEDIR ? 3 : 2;

		if (root->dot.rec_len != 12 || root->dot.name_len != 1 ||
		    root->dotdot.name_len != 2 ||
		    root->dotdot.rec_len != SDX_BLOCK_SIZE - 12 ||
		    root->info.info_length != sizeof(root->info) ||
		    root->info.indirect_levels >= max_levels)
			return sdx_err(-EUCLEAN, "directory inode %u: bad htree "
				       "root (levels %u, info length %u)",
				       dir->ino, root->info.indirect_levels,
				       root->info.info_length);
		count_off = DX_ROOT_COUNT;
	}
	cl = (const struct dx_countlimit *)(b + count_off);
	tail_off = count_off + (size_t)cl->limit * sizeof(struct dx_entry);
	if (cl->count > cl->limit || cl->count == 0 ||
	    tail_off + (dir->fs->has_csum ? sizeof(*t) : 0) > SDX_BLOCK_SIZE)
		return sdx_err(-EUCLEAN, "directory inode %u block %llu: htree "
			       "count %u, limit %u", dir->ino,
			       (unsigned long long)lblk, cl->count, cl->limit);
	if (!dir->fs->has_csum)
		return 0;
	t = (const struct dx_tail *)(b + tail_off);
	want = dx_csum(dir, b, count_off, cl->count, t);
	if (t->dt_checksum != want)
		return sdx_err(-EUCLEAN, "directory inode %u block %llu: htree "
			       "checksum 0x%08x, expected 0x%08x", dir->ino,
			       (unsigned long long)lblk, t->dt_checksum, want);
	return 0;
}

/*
 * Check a block as what it looks like.  Without metadata_csum an empty
 * leaf of an htree looks like an interior index block; nothing there is
 * read as an index, so such a block is not held to an index's shape.
 */
static int check_block(struct sdx_inode *dir, uint64_t lblk, uint64_t pblk,
		       const uint8_t *b, enum block_kind kind, size_t *end)
{
	*end = SDX_BLOCK_SIZE;
	if (kind == BLOCK_LEAF)
		return check_leaf(dir, lblk, pblk, b, end);
	if (kind == BLOCK_DX_NODE && !dir->fs->has_csum)
		return 0;
	return check_dx(dir, lblk, b, kind);
}

/* Check the record at @off of a block whose records end at @end. */
static int check_entry(struct sdx_inode *dir, uint64_t lblk,
		       const struct ext4_dir_entry_2 *de, size_t off,
		       size_t end)
{
	const char *what = NULL;

	if (end - off < EXT4_DIR_REC_LEN(1))
		what = "record header past the end";
	else if (de->rec_len < EXT4_DIR_REC_LEN(1) || de->rec_len % 4)
		what = "bad rec_len";
	else if (de->rec_len < EXT4_DIR_REC_LEN(de->name_len))
		what = "rec_len too small for name_len";
	else if (de->rec_len > end - off)
		what = "rec_len past the end of the block";
	else if (de->inode > dir->fs->inodes_count)
		what = "inode number out of range";
	else if (de->inode && de->name_len == 0)
		what = "empty name";
	if (!what)
		return 0;
	return sdx_err(-EUCLEAN, "directory inode %u block %llu offset %zu: %s "
		       "(rec_len %u, name_len %u, inode %u)", dir->ino,
		       (unsigned long long)lblk, off, what,
		       end - off >= 8 ? de->rec_len : 0,
		       end - off >= 8 ? de->name_len : 0,
		       end - off >= 8 ? de->inode : 0);
}

/*
 * Call @fn for every record of blocks [@first, @last) of @dir (each block
 * checked first; @last is clamped to the directory's size).
 * Return: 0 at the end, WALK_STOP when @fn stopped it, or -errno.
 */
static int walk_range(struct sdx_inode *dir, uint64_t first, uint64_t last,
		      entry_fn fn, void *arg)
{
	struct sdx_fs *fs = dir->fs;
	struct dir_pos pos;
	uint64_t nblocks = 0;
	int err = dir_blocks(dir, &nblocks);

	if (err)
		return err;
	if (last > nblocks)
		last = nblocks;
	for (pos.lblk = first; pos.lblk < last; pos.lblk++) {
		const uint8_t *b;
		size_t end = SDX_BLOCK_SIZE;

		err = dir_pblk(dir, pos.lblk, &pos.pblk);
		if (err)
			return err;
		b = sdx_bread(fs, pos.pblk, &err);
		if (!b)
			return err;
		pos.kind = block_kind(dir, pos.lblk, b);
		err = check_block(dir, pos.lblk, pos.pblk, b, pos.kind, &end);
		if (err)
			return err;
		pos.prev = NO_PREV;
		for (pos.off = 0; pos.off < end;) {
			const struct ext4_dir_entry_2 *de = (const void *)(b +
								       pos.off);

			err = check_entry(dir, pos.lblk, de, pos.off, end);
			if (err)
				return err;
			err = fn(arg, &pos, de);
			if (err)
				return err;
			pos.prev = pos.off;
			pos.off += de->rec_len;
		}
	}
	return 0;
}

/* walk_range over the whole directory. */
static int walk(struct sdx_inode *dir, entry_fn fn, void *arg)
{
	return walk_range(dir, 0, UINT64_MAX, fn, arg);
}

/* ---- finding a name ---- */

struct find_ctx {
	const char *name;
	size_t len;
	struct dir_pos pos;
	uint32_t ino;
	uint8_t ftype;
};

static int find_fn(void *arg, const struct dir_pos *pos,
		   const struct ext4_dir_entry_2 *de)
{
	struct find_ctx *c = arg;

	if (de->inode == 0 || de->name_len != c->len ||
	    memcmp(de->name, c->name, c->len) != 0)
		return 0;
	c->pos = *pos;
	c->ino = de->inode;
	c->ftype = de->file_type;
	return WALK_STOP;
}

static int find(struct sdx_inode *dir, const char *name, size_t len,
		struct find_ctx *c)
{
	int err;

	c->name = name;
	c->len = len;
	err = walk(dir, find_fn, c);
	if (err < 0)
		return err;
	return err == WALK_STOP ? 0 : -ENOENT;
}

/* ---- htree lookup ---- */

#define DX_MAX_LEVELS 3		/* root + 2 node levels (largedir) */

/* One index block on the path from the root to a leaf. */
struct dx_frame {
	const struct dx_entry *entries;	/* entries[0].hash is count/limit */
	unsigned count;
	unsigned limit;
	unsigned at;			/* the entry followed */
	uint64_t lblk;			/* the index block */
};

/* Read and check the index block @lblk of kind @kind into @f. */
static int dx_load(struct sdx_inode *dir, uint64_t lblk, uint64_t nblocks,
		   enum block_kind kind, struct dx_frame *f)
{
	const uint8_t *b;
	uint64_t pblk;
	int err = dir_pblk(dir, lblk, &pblk);

	if (err)
		return err;
	b = sdx_bread(dir->fs, pblk, &err);
	if (!b)
		return err;
	if (block_kind(dir, lblk, b) != kind)
		return sdx_err(-EUCLEAN, "directory inode %u: htree names "
			       "block %llu as an index block", dir->ino,
			       (unsigned long long)lblk);
	err = check_dx(dir, lblk, b, kind);
	if (err)
		return err;
	f->entries = (const struct dx_entry *)(b + (kind == BLOCK_DX_ROOT ?
			DX_ROOT_COUNT : DX_NODE_COUNT));
	f->count = ((const struct dx_countlimit *)f->entries)->count;
	f->limit = ((const struct dx_countlimit *)f->entries)->limit;
	f->lblk = lblk;
	for (unsigned i = 0; i < f->count; i++)
		if (f->entries[i].block == 0 || f->entries[i].block >= nblocks)
			return sdx_err(-EUCLEAN, "directory inode %u block %llu:"
				       " htree entry %u points to block %u",
				       dir->ino, (unsigned long long)lblk, i,
				       f->entries[i].block);
	return 0;
}

/* The entry of @f whose range holds @hash (entries[0] starts at 0). */
static unsigned dx_search(const struct dx_frame *f, uint32_t hash)
{
	unsigned lo = 1, hi = f->count;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (f->entries[mid].hash > hash)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo - 1;
}

/* Follow entry frames[level].at down to a leaf; its block in *@leaf. */
static int dx_descend(struct sdx_inode *dir, uint64_t nblocks,
		      struct dx_frame *frames, unsigned level,
		      unsigned levels, uint32_t hash, bool is_first,
		      uint64_t *leaf)
{
	for (; level < levels; level++) {
		struct dx_frame *next = &frames[level + 1];
		int err = dx_load(dir, frames[level].entries[frames[level].at]
				  .block, nblocks, BLOCK_DX_NODE, next);

		if (err)
			return err;
		next->at = is_first ? 0 : dx_search(next, hash);
	}
	*leaf = frames[levels].entries[frames[levels].at].block;
	return 0;
}

/* The path from the root of an htree to the leaf a hash maps to. */
struct dx_path {
	struct dx_frame frames[DX_MAX_LEVELS];
	unsigned levels;
	unsigned version;		/* DX_HASH_*, unsigned applied */
	uint32_t hash;
	uint64_t nblocks;
	uint64_t leaf;			/* logical block */
};

/*
 * Hash @name and follow the index to its leaf.  Return: 0, -EUCLEAN, or
 * -EOPNOTSUPP for a hash this code does not know.
 */
static int dx_probe(struct sdx_inode *dir, const char *name, size_t len,
		    struct dx_path *p)
{
	const struct dx_root *root;
	uint64_t pblk;
	unsigned version;
	int err = dir_blocks(dir, &p->nblocks);

	if (!err)
		err = dx_load(dir, 0, p->nblocks, BLOCK_DX_ROOT, &p->frames[0]);
	if (!err)
		err = dir_pblk(dir, 0, &pblk);
	if (err)
		return err;
	root = sdx_bread(dir->fs, pblk, &err);
	if (!root)
		return err;
	version = root->info.hash_version;
	if (version <= DX_HASH_TEA && dir->fs->is_unsigned_hash)
		version += DX_HASH_LEGACY_UNSIGNED;
	p->version = version;
	p->levels = root->info.indirect_levels;	/* checked by check_dx */
	err = sdx_dirhash(dir->fs, version, name, len, &p->hash);
	if (err)
		return err;
	p->frames[0].at = dx_search(&p->frames[0], p->hash);
	return dx_descend(dir, p->nblocks, p->frames, 0, p->levels, p->hash,
			  false, &p->leaf);
}

/* Step to the next leaf if it continues the hash.  Return: 1 moved,
 * 0 no such leaf, or -errno. */
static int dx_next_leaf(struct sdx_inode *dir, struct dx_path *p)
{
	struct dx_frame *f = p->frames;
	unsigned level;
	int err;

	for (level = p->levels; f[level].at + 1 >= f[level].count; level--)
		if (level == 0)
			return 0;
	f[level].at++;
	if ((f[level].entries[f[level].at].hash & ~1u) != p->hash)
		return 0;
	err = dx_descend(dir, p->nblocks, f, level, p->levels, p->hash, true,
			 &p->leaf);
	return err ? err : 1;
}

/*
 * Look @name up through the index of an htree directory: its leaf, and
 * the next leaves while they continue the same hash.  Return: 0, -ENOENT,
 * -EUCLEAN, or -EOPNOTSUPP (then the caller walks every block).
 */
static int dx_find(struct sdx_inode *dir, const char *name, size_t len,
		   struct find_ctx *c)
{
	struct dx_path p;
	int err = dx_probe(dir, name, len, &p);

	c->name = name;
	c->len = len;
	while (!err) {
		err = walk_range(dir, p.leaf, p.leaf + 1, find_fn, c);
		if (err)
			return err < 0 ? err : 0;
		err = dx_next_leaf(dir, &p);
		if (err == 0)
			return -ENOENT;
		if (err == 1)
			err = 0;
	}
	return err;
}

bool sdx_is_dot_or_dotdot(const char *name, size_t len)
{
	return (len == 1 && name[0] == '.') ||
	       (len == 2 && name[0] == '.' && name[1] == '.');
}

/* Is @name found through @dir's index?  ("." and ".." live in block 0,
 * outside it; without dir_index the flag is not honoured, as in ext4.) */
static bool uses_index(const struct sdx_inode *dir, const char *name,
		       size_t len)
{
	return is_indexed(dir) && !sdx_is_dot_or_dotdot(name, len) &&
	       (dir->fs->feature_compat & EXT4_FEATURE_COMPAT_DIR_INDEX);
}

/* Find @name through the index where there is one, else block by block. */
static int lookup(struct sdx_inode *dir, const char *name, size_t len,
		  struct find_ctx *c)
{
	int err = uses_index(dir, name, len) ? dx_find(dir, name, len, c) :
		  -EOPNOTSUPP;

	return err == -EOPNOTSUPP ? find(dir, name, len, c) : err;
}

int sdx_dir_lookup(struct sdx_inode *dir, const char *name, size_t len,
		   uint32_t *ino, uint8_t *ftype)
{
	struct find_ctx c;
	int err = lookup(dir, name, len, &c);

	if (err)
		return err;
	*ino = c.ino;
	if (ftype)
		*ftype = c.ftype;
	return 0;
}

/* ---- changing blocks ---- */

/* Write access to the block of @pos for a change of its records. */
static int block_write(struct sdx_handle *h, const struct dir_pos *pos,
		       uint8_t **b)
{
	return sdx_journal_get_write_access(h, pos->pblk, (void **)b);
}

static void block_done(struct sdx_handle *h, struct sdx_inode *dir,
		       uint64_t pblk, uint8_t *b)
{
	set_leaf_csum(dir, b);
	sdx_journal_dirty_metadata(h, pblk);
}

/* An index block (entries at @count_off) after a change: its dx_tail
 * checksum (count and limit were checked when it was read or made). */
static void index_done(struct sdx_handle *h, struct sdx_inode *dir,
		       uint64_t pblk, uint8_t *b, size_t count_off)
{
	const struct dx_countlimit *cl = (const void *)(b + count_off);

	if (dir->fs->has_csum) {
		struct dx_tail *t = (struct dx_tail *)(b + count_off +
			cl->limit * sizeof(struct dx_entry));

		t->dt_checksum = dx_csum(dir, b, count_off, cl->count, t);
	}
	sdx_journal_dirty_metadata(h, pblk);
}

/*
 * Turn an htree directory into a linear one: the root keeps "." and ".."
 * (whose record now ends at the tail), every interior index block becomes
 * an empty leaf, and EXT4_INDEX_FL goes.
 */
static int unindex(struct sdx_handle *h, struct sdx_inode *dir)
{
	uint64_t nblocks = 0, lblk, pblk;
	size_t tail = csum_size(dir->fs), end;
	int err = dir_blocks(dir, &nblocks);

	for (lblk = 0; !err && lblk < nblocks; lblk++) {
		const uint8_t *rb;
		enum block_kind kind;
		uint8_t *b;

		err = dir_pblk(dir, lblk, &pblk);
		if (err)
			break;
		rb = sdx_bread(dir->fs, pblk, &err);
		if (!rb)
			break;
		kind = block_kind(dir, lblk, rb);
		if (kind == BLOCK_LEAF)
			continue;
		err = check_block(dir, lblk, pblk, rb, kind, &end);
		if (!err)
			err = sdx_journal_get_write_access(h, pblk, (void **)&b);
		if (err)
			break;
		if (kind == BLOCK_DX_ROOT) {
			uint8_t head[24];
			struct ext4_dir_entry_2 *dotdot;

			memcpy(head, b, sizeof(head));
			init_leaf(dir, b);
			memcpy(b, head, sizeof(head));
			dotdot = (struct ext4_dir_entry_2 *)(b + 12);
			dotdot->rec_len = (uint16_t)(SDX_BLOCK_SIZE - 12 -
						     tail);
		} else {
			init_leaf(dir, b);
		}
		block_done(h, dir, pblk, b);
	}
	if (err)
		return err;
	dir->raw.i_flags &= ~EXT4_INDEX_FL;
	return sdx_inode_mark_dirty(h, dir);
}

/* Write the record for @name at @off, splitting a live record there. */
static void put_entry(uint8_t *b, size_t off, const char *name, size_t len,
		      uint32_t ino, uint8_t ftype)
{
	struct ext4_dir_entry_2 *de = (struct ext4_dir_entry_2 *)(b + off);

	if (de->inode) {
		uint16_t used = (uint16_t)EXT4_DIR_REC_LEN(de->name_len);
		struct ext4_dir_entry_2 *next = (void *)(b + off + used);

		next->rec_len = de->rec_len - used;
		de->rec_len = used;
		de = next;
	}
	de->inode = ino;
	de->name_len = (uint8_t)len;
	de->file_type = ftype;
	memcpy(de->name, name, len);
	memset(de->name + len, 0, EXT4_DIR_REC_LEN(len) -
	       EXT4_DIR_ENTRY_HEADER - len);
}

struct space_ctx {
	size_t need;
	struct dir_pos pos;
};

static int space_fn(void *arg, const struct dir_pos *pos,
		    const struct ext4_dir_entry_2 *de)
{
	struct space_ctx *c = arg;
	size_t free_len = de->inode ? de->rec_len -
			  EXT4_DIR_REC_LEN(de->name_len) : de->rec_len;

	if (pos->kind != BLOCK_LEAF || free_len < c->need)
		return 0;
	c->pos = *pos;
	return WALK_STOP;
}

/* Append an empty leaf block to @dir; its numbers in *@lblk, *@pblk. */
static int grow(struct sdx_handle *h, struct sdx_inode *dir, uint64_t *lblk,
		uint64_t *pblk)
{
	uint64_t nblocks = 0, end, last = 0, got;
	uint8_t *b;
	int err = dir_blocks(dir, &nblocks);

	if (err)
		return err;
	if (nblocks >= SDX_MAX_FILE_BLOCKS - 1)
		return sdx_err(-EFBIG, "directory inode %u is full", dir->ino);
	err = sdx_extent_end(dir, &end, &last);
	if (err)
		return err;
	err = sdx_block_alloc(h, dir, last ? last + 1 : 0, 1, pblk, &got);
	if (err)
		return err;
	err = sdx_extent_insert(h, dir, nblocks, *pblk, 1, false);
	if (err) {
		sdx_block_free(h, dir->fs, *pblk, 1);
		return err;
	}
	err = sdx_journal_get_create_access(h, *pblk, (void **)&b);
	if (err)
		return err;
	init_leaf(dir, b);
	sdx_journal_dirty_metadata(h, *pblk);
	*lblk = nblocks;
	sdx_inode_set_size(dir, (nblocks + 1) * SDX_BLOCK_SIZE);
	sdx_inode_changed(h, dir, true);
	return sdx_inode_mark_dirty(h, dir);
}

/* Write the record for @name at @pos (where space_fn found room). */
static int add_at(struct sdx_handle *h, struct sdx_inode *dir,
		  const struct dir_pos *pos, const char *name, size_t len,
		  uint32_t ino, uint8_t ftype)
{
	uint8_t *b;
	int err = block_write(h, pos, &b);

	if (err)
		return err;
	put_entry(b, pos->off, name, len, ino, ftype);
	block_done(h, dir, pos->pblk, b);
	return 0;
}

/* ---- htree insert ---- */

#define DX_FULL 2	/* the index cannot take another leaf */

static unsigned dx_limit(const struct sdx_inode *dir, size_t count_off)
{
	return (unsigned)((SDX_BLOCK_SIZE - count_off -
			   (dir->fs->has_csum ? sizeof(struct dx_tail) : 0)) /
			  sizeof(struct dx_entry));
}

/* Write access to the index block of frame @f: its entries. */
static int frame_write(struct sdx_handle *h, struct sdx_inode *dir,
		       struct dx_frame *f, uint64_t *pblk, uint8_t **b,
		       struct dx_entry **entries)
{
	size_t count_off = f->lblk == 0 ? DX_ROOT_COUNT : DX_NODE_COUNT;
	int err = dir_pblk(dir, f->lblk, pblk);

	if (!err)
		err = sdx_journal_get_write_access(h, *pblk, (void **)b);
	if (err)
		return err;
	*entries = (struct dx_entry *)(*b + count_off);
	f->entries = *entries;
	return 0;
}

/* A new, empty interior index block appended to @dir. */
static int new_node(struct sdx_handle *h, struct sdx_inode *dir,
		    uint64_t *lblk, uint64_t *pblk, uint8_t **b)
{
	struct fake_dirent *fd;
	struct dx_countlimit *cl;
	int err = grow(h, dir, lblk, pblk);

	if (!err)
		err = sdx_journal_get_write_access(h, *pblk, (void **)b);
	if (err)
		return err;
	memset(*b, 0, SDX_BLOCK_SIZE);
	fd = (struct fake_dirent *)*b;
	fd->rec_len = SDX_BLOCK_SIZE;
	cl = (struct dx_countlimit *)(*b + DX_NODE_COUNT);
	cl->limit = (uint16_t)dx_limit(dir, DX_NODE_COUNT);
	return 0;
}

/* Insert (@hash, @block) after the followed entry of frame @level. */
static int dx_insert(struct sdx_handle *h, struct sdx_inode *dir,
		     struct dx_path *p, unsigned level, uint32_t hash,
		     uint64_t block)
{
	struct dx_frame *f = &p->frames[level];
	struct dx_entry *e;
	uint64_t pblk;
	uint8_t *b;
	int err = frame_write(h, dir, f, &pblk, &b, &e);

	if (err)
		return err;
	memmove(&e[f->at + 2], &e[f->at + 1],
		(f->count - f->at - 1) * sizeof(*e));
	e[f->at + 1].hash = hash;
	e[f->at + 1].block = (uint32_t)block;
	f->count++;
	((struct dx_countlimit *)e)->count = (uint16_t)f->count;
	index_done(h, dir, pblk, b, level ? DX_NODE_COUNT : DX_ROOT_COUNT);
	return 0;
}

/* The root is full: move its entries into a new node below it. */
static int dx_add_level(struct sdx_handle *h, struct sdx_inode *dir,
			struct dx_path *p)
{
	struct dx_root *root;
	struct dx_entry *re, *ne;
	struct dx_countlimit *ncl;
	uint64_t rpblk, nlblk, npblk;
	uint8_t *rb, *nb;
	int err = new_node(h, dir, &nlblk, &npblk, &nb);

	if (!err)
		err = frame_write(h, dir, &p->frames[0], &rpblk, &rb, &re);
	if (err)
		return err;
	ne = (struct dx_entry *)(nb + DX_NODE_COUNT);
	ncl = (struct dx_countlimit *)ne;
	memcpy(ne, re, p->frames[0].count * sizeof(*ne));
	ncl->limit = (uint16_t)dx_limit(dir, DX_NODE_COUNT);
	ncl->count = (uint16_t)p->frames[0].count;
	index_done(h, dir, npblk, nb, DX_NODE_COUNT);
	root = (struct dx_root *)rb;
	root->info.indirect_levels++;
	((struct dx_countlimit *)re)->count = 1;
	re[0].block = (uint32_t)nlblk;
	index_done(h, dir, rpblk, rb, DX_ROOT_COUNT);
	memmove(&p->frames[1], &p->frames[0], (p->levels + 1) *
		sizeof(p->frames[0]));
	p->frames[1].entries = ne;
	p->frames[1].limit = ncl->limit;
	p->frames[1].lblk = nlblk;
	p->frames[0].count = 1;
	p->frames[0].at = 0;
	p->levels++;
	return 0;
}

/* Frame @level (a node) is full: move its upper half into a new node,
 * indexed from the parent (which has room). */
static int dx_split_node(struct sdx_handle *h, struct sdx_inode *dir,
			 struct dx_path *p, unsigned level)
{
	struct dx_frame *f = &p->frames[level];
	unsigned half = f->count / 2, moved = f->count - half;
	struct dx_entry *e, *ne;
	uint64_t pblk, nlblk, npblk;
	uint32_t hash2;
	uint8_t *b, *nb;
	int err = new_node(h, dir, &nlblk, &npblk, &nb);

	if (!err)
		err = frame_write(h, dir, f, &pblk, &b, &e);
	if (err)
		return err;
	ne = (struct dx_entry *)(nb + DX_NODE_COUNT);
	hash2 = e[half].hash;
	memcpy(ne, &e[half], moved * sizeof(*ne));
	((struct dx_countlimit *)ne)->limit =
		(uint16_t)dx_limit(dir, DX_NODE_COUNT);
	((struct dx_countlimit *)ne)->count = (uint16_t)moved;
	((struct dx_countlimit *)e)->count = (uint16_t)half;
	index_done(h, dir, npblk, nb, DX_NODE_COUNT);
	index_done(h, dir, pblk, b, DX_NODE_COUNT);
	err = dx_insert(h, dir, p, level - 1, hash2, nlblk);
	if (err)
		return err;
	if (f->at >= half) {
		f->entries = ne;
		f->at -= half;
		f->count = moved;
		f->lblk = nlblk;
		p->frames[level - 1].at++;
	} else {
		f->count = half;
	}
	return 0;
}

/*
 * Make room for one more entry in the leaves' parent frame: split full
 * nodes from the lowest ancestor with room down, adding a level below the
 * root when the root is full too.  Return: 0, DX_FULL, -errno.
 */
static int dx_make_room(struct sdx_handle *h, struct sdx_inode *dir,
			struct dx_path *p)
{
	unsigned max_levels = dir->fs->feature_incompat &
			      EXT4_FEATURE_INCOMPAT_LARGEDIR ? 3 : 2;
	unsigned top = p->levels;
	int err;

	while (top > 0 && p->frames[top].count >= p->frames[top].limit)
		top--;
	if (p->frames[top].count >= p->frames[top].limit) {
		if (p->levels + 1 >= max_levels)
			return DX_FULL;
		err = dx_add_level(h, dir, p);
		if (err)
			return err;
		top = 1;
	}
	for (unsigned level = top + 1; level <= p->levels; level++) {
		err = dx_split_node(h, dir, p, level);
		if (err)
			return err;
	}
	return 0;
}

/* A record of a leaf being split, by hash. */
struct split_rec {
	uint32_t hash;
	uint16_t off;
	uint16_t size;
};

static int cmp_split_rec(const void *a, const void *b)
{
	const struct split_rec *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Copy records @r[0..n) of @src into the empty leaf @dst; the offset of
 * the last (whose rec_len runs to the end) in *@last. */
static void pack_leaf(struct sdx_inode *dir, uint8_t *dst, const uint8_t *src,
		      const struct split_rec *r, unsigned n, size_t *last)
{
	size_t end = SDX_BLOCK_SIZE - csum_size(dir->fs), off = 0;

	init_leaf(dir, dst);
	*last = 0;
	for (unsigned i = 0; i < n; i++) {
		struct ext4_dir_entry_2 *de = (void *)(dst + off);

		memcpy(de, src + r[i].off, r[i].size);
		de->rec_len = r[i].size;
		*last = off;
		off += r[i].size;
	}
	if (n)
		((struct ext4_dir_entry_2 *)(dst + *last))->rec_len =
			(uint16_t)(end - *last);
}

/*
 * The leaf of @p is full: move the upper half of its records (by hash)
 * into a new leaf indexed after it, then add @name to the half its hash
 * belongs to.
 */
static int dx_split_leaf(struct sdx_handle *h, struct sdx_inode *dir,
			 struct dx_path *p, const char *name, size_t len,
			 uint32_t ino, uint8_t ftype)
{
	static const size_t max_recs = SDX_BLOCK_SIZE / EXT4_DIR_REC_LEN(1);
	size_t end = SDX_BLOCK_SIZE - csum_size(dir->fs), size = 0, last[2];
	struct split_rec *r = malloc(max_recs * sizeof(*r));
	uint8_t *old = malloc(SDX_BLOCK_SIZE), *b, *nb, *target;
	uint64_t pblk, nlblk, npblk;
	unsigned n = 0, split, move = 0;
	uint32_t hash2;
	int err = r && old ? dx_make_room(h, dir, p) : -ENOMEM;

	if (!err)
		err = dir_pblk(dir, p->leaf, &pblk);
	if (!err)
		err = sdx_journal_get_write_access(h, pblk, (void **)&b);
	if (err)
		goto out_free;
	memcpy(old, b, SDX_BLOCK_SIZE);
	for (size_t off = 0; off < end && n < max_recs;) {
		const struct ext4_dir_entry_2 *de = (const void *)(old + off);

		if (de->inode) {
			r[n].off = (uint16_t)off;
			r[n].size = (uint16_t)EXT4_DIR_REC_LEN(de->name_len);
			err = sdx_dirhash(dir->fs, p->version, de->name,
					  de->name_len, &r[n].hash);
			if (err)
				goto out_free;
			n++;
		}
		off += de->rec_len;	/* checked by the walk that found it */
	}
	qsort(r, n, sizeof(*r), cmp_split_rec);
	/* the upper half, size-wise, moves (the kernel's do_split) */
	for (unsigned i = n; i-- > 1;) {
		if (size + r[i].size / 2 > end / 2)
			break;
		size += r[i].size;
		move++;
	}
	split = n - (move ? move : 1);
	hash2 = r[split].hash;
	err = grow(h, dir, &nlblk, &npblk);
	if (!err)
		err = sdx_journal_get_write_access(h, npblk, (void **)&nb);
	if (err)
		goto out_free;
	pack_leaf(dir, b, old, r, split, &last[0]);
	pack_leaf(dir, nb, old, r + split, n - split, &last[1]);
	target = p->hash >= hash2 ? nb : b;
	put_entry(target, last[target == nb], name, len, ino, ftype);
	block_done(h, dir, pblk, b);
	block_done(h, dir, npblk, nb);
	/* bit 0: the new leaf continues the hash the old one ends with */
	err = dx_insert(h, dir, p, p->levels,
			hash2 | (hash2 == r[split - 1].hash), nlblk);
out_free:
	free(r);
	free(old);
	return err;
}

/* Add @name to an htree directory.  Return: 0, DX_FULL, -EOPNOTSUPP (an
 * unknown hash), -errno. */
static int dx_add(struct sdx_handle *h, struct sdx_inode *dir,
		  const char *name, size_t len, uint32_t ino, uint8_t ftype)
{
	struct space_ctx c = { .need = EXT4_DIR_REC_LEN(len) };
	struct dx_path p;
	int err = dx_probe(dir, name, len, &p);

	if (!err)
		err = walk_range(dir, p.leaf, p.leaf + 1, space_fn, &c);
	if (err < 0)
		return err;
	if (err != WALK_STOP)
		return dx_split_leaf(h, dir, &p, name, len, ino, ftype);
	return add_at(h, dir, &c.pos, name, len, ino, ftype);
}

/* May @dir become an htree (dir_index, a hash this code knows)? */
static bool can_index(const struct sdx_inode *dir)
{
	return (dir->fs->feature_compat & EXT4_FEATURE_COMPAT_DIR_INDEX) &&
	       dir->fs->def_hash_version <= DX_HASH_TEA;
}

/*
 * A one-block linear directory that needs a second block becomes an
 * htree (as ext4's make_indexed_dir): its records move to a new leaf,
 * block 0 becomes the root with "." and ".." and one index entry.
 */
static int make_indexed(struct sdx_handle *h, struct sdx_inode *dir)
{
	struct split_rec *r = malloc(SDX_BLOCK_SIZE / EXT4_DIR_REC_LEN(1) *
				     sizeof(*r));
	size_t end = SDX_BLOCK_SIZE - csum_size(dir->fs), last;
	uint8_t *old = malloc(SDX_BLOCK_SIZE), *b, *nb;
	uint64_t pblk, nlblk, npblk;
	struct dx_root *root;
	struct dx_countlimit *cl;
	unsigned n = 0;
	int err = r && old ? dir_pblk(dir, 0, &pblk) : -ENOMEM;

	if (!err)
		err = sdx_journal_get_write_access(h, pblk, (void **)&b);
	if (err)
		goto out_free;
	memcpy(old, b, SDX_BLOCK_SIZE);
	root = (struct dx_root *)b;
	if (root->dot.rec_len != 12 || root->dotdot.name_len != 2) {
		err = sdx_err(-EUCLEAN, "directory inode %u: block 0 does not "
			      "start with . and ..", dir->ino);
		goto out_free;
	}
	for (size_t off = 12 + root->dotdot.rec_len; off < end;) {
		const struct ext4_dir_entry_2 *de = (const void *)(old + off);

		if (de->inode) {
			r[n].off = (uint16_t)off;
			r[n].size = (uint16_t)EXT4_DIR_REC_LEN(de->name_len);
			n++;
		}
		off += de->rec_len;	/* checked by the walk before */
	}
	err = grow(h, dir, &nlblk, &npblk);
	if (!err)
		err = sdx_journal_get_write_access(h, npblk, (void **)&nb);
	if (err)
		goto out_free;
	pack_leaf(dir, nb, old, r, n, &last);
	block_done(h, dir, npblk, nb);
	memset(b + 24, 0, SDX_BLOCK_SIZE - 24);
	root->dotdot.rec_len = SDX_BLOCK_SIZE - 12;
	root->info.hash_version = dir->fs->def_hash_version;
	root->info.info_length = sizeof(root->info);
	cl = (struct dx_countlimit *)root->entries;
	cl->limit = (uint16_t)dx_limit(dir, DX_ROOT_COUNT);
	cl->count = 1;
	root->entries[0].block = (uint32_t)nlblk;
	index_done(h, dir, pblk, b, DX_ROOT_COUNT);
	dir->raw.i_flags |= EXT4_INDEX_FL;
	err = sdx_inode_mark_dirty(h, dir);
out_free:
	free(r);
	free(old);
	return err;
}

int sdx_dir_add(struct sdx_handle *h, struct sdx_inode *dir, const char *name,
		size_t len, uint32_t ino, uint8_t ftype)
{
	struct space_ctx c = { .need = EXT4_DIR_REC_LEN(len) };
	uint64_t nblocks = 0, lblk;
	int err;

	if (len == 0 || len > EXT4_NAME_LEN)
		return sdx_err(-ENAMETOOLONG, "name of %zu bytes", len);
	if (uses_index(dir, name, len)) {
		err = dx_add(h, dir, name, len, ino, ftype);
		if (err != DX_FULL && err != -EOPNOTSUPP)
			return err;
		err = unindex(h, dir);	/* ext4's fallback: linear */
		if (err)
			return err;
	}
	err = dir_blocks(dir, &nblocks);
	/* the last block first: where a growing directory has room */
	if (!err && nblocks > 0)
		err = walk_range(dir, nblocks - 1, nblocks, space_fn, &c);
	if (!err)
		err = walk_range(dir, 0, nblocks - 1, space_fn, &c);
	if (err < 0)
		return err;
	if (err != WALK_STOP && nblocks == 1 && !is_indexed(dir) &&
	    can_index(dir)) {
		err = make_indexed(h, dir);
		return err ? err : dx_add(h, dir, name, len, ino, ftype);
	}
	if (err != WALK_STOP) {
		err = grow(h, dir, &lblk, &c.pos.pblk);
		if (err)
			return err;
		c.pos.off = 0;
	}
	return add_at(h, dir, &c.pos, name, len, ino, ftype);
}

/* Find @name for a change: the block's writable copy and the record.
 * Removing or retargeting a record leaves an htree index valid. */
static int find_for_change(struct sdx_handle *h, struct sdx_inode *dir,
			   const char *name, size_t len, struct find_ctx *c,
			   uint8_t **b)
{
	int err = lookup(dir, name, len, c);

	if (!err)
		err = block_write(h, &c->pos, b);
	return err;
}

int sdx_dir_remove(struct sdx_handle *h, struct sdx_inode *dir,
		   const char *name, size_t len)
{
	struct find_ctx c;
	struct ext4_dir_entry_2 *de;
	uint8_t *b;
	int err = find_for_change(h, dir, name, len, &c, &b);

	if (err)
		return err;
	de = (struct ext4_dir_entry_2 *)(b + c.pos.off);
	if (c.pos.prev != NO_PREV) {
		struct ext4_dir_entry_2 *prev = (void *)(b + c.pos.prev);

		prev->rec_len += de->rec_len;
		memset(de, 0, EXT4_DIR_ENTRY_HEADER);
	} else {
		de->inode = 0;
		de->name_len = 0;
		de->file_type = 0;
	}
	block_done(h, dir, c.pos.pblk, b);
	return 0;
}

int sdx_dir_retarget(struct sdx_handle *h, struct sdx_inode *dir,
		     const char *name, size_t len, uint32_t ino,
		     uint8_t ftype)
{
	struct find_ctx c;
	struct ext4_dir_entry_2 *de;
	uint8_t *b;
	int err = find_for_change(h, dir, name, len, &c, &b);

	if (err)
		return err;
	de = (struct ext4_dir_entry_2 *)(b + c.pos.off);
	de->inode = ino;
	de->file_type = ftype;
	if (c.pos.kind == BLOCK_DX_ROOT)	/* ".." of an htree */
		index_done(h, dir, c.pos.pblk, b, DX_ROOT_COUNT);
	else
		block_done(h, dir, c.pos.pblk, b);
	return 0;
}

int sdx_dir_init(struct sdx_handle *h, struct sdx_inode *dir,
		 uint32_t parent)
{
	uint8_t ftype = sdx_dir_ftype(dir->fs, S_IFDIR);
	uint64_t lblk, pblk;
	uint8_t *b;
	int err = grow(h, dir, &lblk, &pblk);

	if (err)
		return err;
	err = sdx_journal_get_write_access(h, pblk, (void **)&b);
	if (err)
		return err;
	put_entry(b, 0, ".", 1, dir->ino, ftype);
	put_entry(b, 0, "..", 2, parent, ftype);
	block_done(h, dir, pblk, b);
	return 0;
}

static int nonempty_fn(void *arg, const struct dir_pos *pos,
		       const struct ext4_dir_entry_2 *de)
{
	(void)arg;
	(void)pos;
	if (de->inode == 0 || (de->name_len == 1 && de->name[0] == '.') ||
	    (de->name_len == 2 && de->name[0] == '.' && de->name[1] == '.'))
		return 0;
	return WALK_STOP;
}

int sdx_dir_is_empty(struct sdx_inode *dir)
{
	int err = walk(dir, nonempty_fn, NULL);

	if (err < 0)
		return err;
	return err == WALK_STOP ? 0 : 1;
}

struct iterate_ctx {
	sdx_dir_actor actor;
	void *arg;
	int ret;
};

static int iterate_fn(void *arg, const struct dir_pos *pos,
		      const struct ext4_dir_entry_2 *de)
{
	struct iterate_ctx *c = arg;

	(void)pos;
	if (de->inode == 0)
		return 0;
	c->ret = c->actor(c->arg, de->name, de->name_len, de->inode,
			  de->file_type);
	return c->ret ? WALK_STOP : 0;
}

int sdx_dir_iterate(struct sdx_inode *dir, sdx_dir_actor actor, void *arg)
{
	struct iterate_ctx c = { .actor = actor, .arg = arg };
	int err = walk(dir, iterate_fn, &c);

	if (err < 0)
		return err;
	return err == WALK_STOP ? c.ret : 0;
}

int sdx_dir_revoke(struct sdx_handle *h, struct sdx_inode *dir)
{
	uint64_t nblocks = 0, lblk, pblk;
	int err = dir_blocks(dir, &nblocks);

	for (lblk = 0; !err && lblk < nblocks; lblk++) {
		err = dir_pblk(dir, lblk, &pblk);
		if (!err)
			err = sdx_journal_revoke(h, pblk);
	}
	return err;
}
