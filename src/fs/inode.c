/*
 * inode.c - ext4 inodes in memory: the inode cache, reading and checking
 * an inode from its table block, writing it back with its checksum, and
 * the field helpers (size, i_blocks, times, stat).
 *
 * An inode's on-disk record is s_inode_size bytes: the 128-byte base, then
 * i_extra_isize bytes of extra fields (times' nanoseconds, crtime, checksum
 * high half), then in-inode extended attributes, which syncdax keeps as
 * they are.  struct sdx_inode.raw holds the base and the extra fields the
 * inode has; the bytes of raw beyond 128 + i_extra_isize are zero and are
 * never written.
 *
 * Cache states of an inode number:
 *   absent --sdx_iget/sdx_iget_raw/sdx_inode_alloc--> cached (refcount >= 1)
 *   cached --sdx_iput to 0--> absent (deleted first if it has no links)
 *
 * Invariants:
 *   (1) At most one struct sdx_inode per number (fs->icache).
 *   (2) The checksum on the media covers the whole record; it is checked
 *       on every read from the media and set on every write.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "fs/fs.h"
#include "lib/crc32c.h"
#include "lib/err.h"

#define CSUM_LO_OFF offsetof(struct ext4_inode, l_i_checksum_lo)
#define CSUM_HI_OFF offsetof(struct ext4_inode, i_checksum_hi)

/* Where inode @ino lives: table block and byte offset in it. */
static void inode_loc(const struct sdx_fs *fs, uint32_t ino, uint64_t *block,
		      size_t *off)
{
	uint32_t group = sdx_inode_group(fs, ino);
	uint64_t byte = (uint64_t)((ino - 1) % fs->inodes_per_group) *
			fs->inode_size;

	*block = fs->groups[group].inode_table + byte / SDX_BLOCK_SIZE;
	*off = byte % SDX_BLOCK_SIZE;
}

static uint32_t inode_seed(const struct sdx_fs *fs, uint32_t ino,
			   uint32_t generation)
{
	uint32_t c = sdx_crc32c(fs->csum_seed, &ino, 4);

	return sdx_crc32c(c, &generation, 4);
}

static bool has_csum_hi(const struct sdx_fs *fs, const uint8_t *rec)
{
	uint16_t extra;

	if (fs->inode_size <= EXT4_GOOD_OLD_INODE_SIZE)
		return false;
	memcpy(&extra, rec + offsetof(struct ext4_inode, i_extra_isize), 2);
	return EXT4_INODE_HAS_EXTRA(extra, i_checksum_hi);
}

/* crc32c of the on-disk record @rec, checksum fields taken as zero. */
static uint32_t inode_csum(const struct sdx_fs *fs, uint32_t seed,
			   const uint8_t *rec)
{
	const uint16_t zero = 0;
	uint32_t c;

	c = sdx_crc32c(seed, rec, CSUM_LO_OFF);
	c = sdx_crc32c(c, &zero, 2);
	c = sdx_crc32c(c, rec + CSUM_LO_OFF + 2,
		       EXT4_GOOD_OLD_INODE_SIZE - CSUM_LO_OFF - 2);
	if (fs->inode_size <= EXT4_GOOD_OLD_INODE_SIZE)
		return c;
	if (!has_csum_hi(fs, rec))
		return sdx_crc32c(c, rec + EXT4_GOOD_OLD_INODE_SIZE,
				  fs->inode_size - EXT4_GOOD_OLD_INODE_SIZE);
	c = sdx_crc32c(c, rec + EXT4_GOOD_OLD_INODE_SIZE,
		       CSUM_HI_OFF - EXT4_GOOD_OLD_INODE_SIZE);
	c = sdx_crc32c(c, &zero, 2);
	return sdx_crc32c(c, rec + CSUM_HI_OFF + 2,
			  fs->inode_size - CSUM_HI_OFF - 2);
}

/* Bytes of struct ext4_inode that the record of @raw holds. */
static size_t raw_len(const struct sdx_fs *fs, const struct ext4_inode *raw)
{
	size_t len = EXT4_GOOD_OLD_INODE_SIZE;

	if (fs->inode_size > EXT4_GOOD_OLD_INODE_SIZE)
		len += raw->i_extra_isize;
	return len < sizeof(*raw) ? len : sizeof(*raw);
}

static bool is_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Is @ino in the part of its group's table that may hold inodes in use
 * (not an INODE_UNINIT group, not past bg_itable_unused)?  Tables there
 * may never have been written.
 */
static bool in_used_area(struct sdx_fs *fs, uint32_t ino, int *err)
{
	uint32_t group = sdx_inode_group(fs, ino);
	const struct ext4_group_desc *gd = sdx_group_desc(fs, group, err);

	*err = gd ? 0 : *err;
	if (!gd || (!fs->has_csum && !fs->has_gdt_csum))
		return gd != NULL;
	if (gd->bg_flags & EXT4_BG_INODE_UNINIT)
		return false;
	return (ino - 1) % fs->inodes_per_group <
	       fs->inodes_per_group - sdx_gd_itable_unused(fs, gd);
}

/* Read and check inode @ino's record into @inode->raw. */
static int read_inode(struct sdx_fs *fs, struct sdx_inode *inode,
		      bool want_in_use)
{
	struct ext4_inode *raw = &inode->raw;
	const uint8_t *rec;
	uint64_t block;
	size_t off;
	int err;

	if (want_in_use && !in_used_area(fs, inode->ino, &err))
		return err ? err : sdx_err(-ENOENT, "inode %u is not in use",
					   inode->ino);
	inode_loc(fs, inode->ino, &block, &off);
	rec = sdx_bread(fs, block, &err);
	if (!rec)
		return err;
	rec += off;
	if (is_zero(rec, fs->inode_size)) {
		if (want_in_use)
			return sdx_err(-ENOENT, "inode %u is not in use",
				       inode->ino);
		memset(raw, 0, sizeof(*raw));
		inode->csum_seed = inode_seed(fs, inode->ino, 0);
		return 0;
	}
	memcpy(raw, rec, fs->inode_size < sizeof(*raw) ? fs->inode_size :
	       sizeof(*raw));
	if (fs->inode_size > EXT4_GOOD_OLD_INODE_SIZE &&
	    (raw->i_extra_isize % 4 ||
	     raw->i_extra_isize > fs->inode_size - EXT4_GOOD_OLD_INODE_SIZE))
		return sdx_err(-EUCLEAN, "inode %u: i_extra_isize %u invalid "
			       "(inode size %u)", inode->ino,
			       raw->i_extra_isize, fs->inode_size);
	if (fs->inode_size == EXT4_GOOD_OLD_INODE_SIZE)
		raw->i_extra_isize = 0;
	memset((uint8_t *)raw + raw_len(fs, raw), 0,
	       sizeof(*raw) - raw_len(fs, raw));
	inode->csum_seed = inode_seed(fs, inode->ino, raw->i_generation);
	if (fs->has_csum) {
		uint32_t want = inode_csum(fs, inode->csum_seed, rec);
		uint32_t have = raw->l_i_checksum_lo;

		if (has_csum_hi(fs, rec))
			have |= (uint32_t)raw->i_checksum_hi << 16;
		else
			want &= 0xFFFF;
		if (have != want)
			return sdx_err(-EUCLEAN, "inode %u: checksum 0x%08x, "
				       "expected 0x%08x", inode->ino, have,
				       want);
	}
	if (want_in_use && raw->i_links_count == 0)
		return sdx_err(-ENOENT, "inode %u is deleted", inode->ino);
	if (raw->i_flags & EXT4_EXTENTS_FL)
		return sdx_extent_check_root(inode);
	return 0;
}

static struct sdx_inode **bucket(struct sdx_fs *fs, uint32_t ino)
{
	return &fs->icache[ino & (fs->icache_size - 1)];
}

static struct sdx_inode *cache_find(struct sdx_fs *fs, uint32_t ino)
{
	for (struct sdx_inode *i = *bucket(fs, ino); i; i = i->hash_next)
		if (i->ino == ino)
			return i;
	return NULL;
}

bool sdx_inode_cached(struct sdx_fs *fs, uint32_t ino)
{
	return cache_find(fs, ino) != NULL;
}

static void cache_remove(struct sdx_inode *inode)
{
	struct sdx_inode **p = bucket(inode->fs, inode->ino);

	while (*p != inode)
		p = &(*p)->hash_next;
	*p = inode->hash_next;
}

static void inode_destroy(struct sdx_inode *inode)
{
	pthread_rwlock_destroy(&inode->invalidate_lock);
	free(inode);
}

/* A new cache entry for @ino (not read), refcount 1. */
static struct sdx_inode *inode_create(struct sdx_fs *fs, uint32_t ino)
{
	struct sdx_inode *inode = calloc(1, sizeof(*inode));
	struct sdx_inode **b = bucket(fs, ino);

	if (!inode)
		return NULL;
	inode->fs = fs;
	inode->ino = ino;
	inode->refcount = 1;
	pthread_rwlock_init(&inode->invalidate_lock, NULL);
	inode->hash_next = *b;
	*b = inode;
	return inode;
}

static int check_ino(const struct sdx_fs *fs, uint32_t ino)
{
	if (ino == 0 || ino > fs->inodes_count)
		return sdx_err(-EUCLEAN, "inode number %u out of range (1..%u)",
			       ino, fs->inodes_count);
	return 0;
}

static int iget(struct sdx_fs *fs, uint32_t ino, bool want_in_use,
		struct sdx_inode **out)
{
	struct sdx_inode *inode;
	int err = check_ino(fs, ino);

	if (err)
		return err;
	inode = cache_find(fs, ino);
	if (inode) {
		inode->refcount++;
		*out = inode;
		return 0;
	}
	inode = inode_create(fs, ino);
	if (!inode)
		return -ENOMEM;
	err = read_inode(fs, inode, want_in_use);
	if (err) {
		cache_remove(inode);
		inode_destroy(inode);
		return err;
	}
	*out = inode;
	return 0;
}

int sdx_iget(struct sdx_fs *fs, uint32_t ino, struct sdx_inode **out)
{
	if (ino < fs->first_ino && ino != EXT4_ROOT_INO &&
	    ino != EXT4_JOURNAL_INO && check_ino(fs, ino) == 0)
		return sdx_err(-EUCLEAN, "inode %u is reserved", ino);
	return iget(fs, ino, true, out);
}

int sdx_iget_raw(struct sdx_fs *fs, uint32_t ino, struct sdx_inode **out)
{
	return iget(fs, ino, false, out);
}

int sdx_inode_new(struct sdx_fs *fs, uint32_t ino, struct sdx_inode **out)
{
	struct sdx_inode *inode;
	int err = check_ino(fs, ino);

	if (err)
		return err;
	if (cache_find(fs, ino))
		return sdx_err(-EUCLEAN, "inode %u: allocated while in use",
			       ino);
	inode = inode_create(fs, ino);
	if (!inode)
		return -ENOMEM;
	inode->is_new = true;
	*out = inode;
	return 0;
}

struct sdx_inode *sdx_igrab(struct sdx_inode *inode)
{
	inode->refcount++;
	return inode;
}

/* Last reference of an inode without links: delete it. */
static void evict(struct sdx_inode *inode)
{
	struct sdx_fs *fs = inode->fs;
	struct sdx_handle *h;

	if (sdx_fs_start(fs, SDX_CREDITS_INODE + SDX_CREDITS_EXTENT, &h))
		return;	/* left on the orphan list for the next mount */
	if (!fs->evict || fs->evict(h, inode) == 0)
		sdx_inode_free(h, inode);
	sdx_journal_stop(h);
}

void sdx_iput(struct sdx_inode *inode)
{
	if (--inode->refcount > 0)
		return;
	if (inode->raw.i_links_count == 0 && inode->raw.i_mode != 0 &&
	    !inode->fs->is_rdonly && sdx_inode_bitmap_test(inode->fs,
							    inode->ino))
		evict(inode);
	cache_remove(inode);
	inode_destroy(inode);
}

int sdx_inode_mark_dirty(struct sdx_handle *h, struct sdx_inode *inode)
{
	struct sdx_fs *fs = inode->fs;
	struct ext4_inode *raw = &inode->raw;
	uint8_t *rec;
	uint64_t block;
	size_t off;
	void *b;
	int err;

	inode_loc(fs, inode->ino, &block, &off);
	err = sdx_journal_get_write_access(h, block, &b);
	if (err)
		return err;
	rec = (uint8_t *)b + off;
	if (inode->is_new) {
		memset(rec, 0, fs->inode_size);
		inode->is_new = false;
	}
	memcpy(rec, raw, raw_len(fs, raw));
	if (fs->has_csum) {
		uint32_t c;

		inode->csum_seed = inode_seed(fs, inode->ino,
					      raw->i_generation);
		c = inode_csum(fs, inode->csum_seed, rec);
		raw->l_i_checksum_lo = (uint16_t)c;
		memcpy(rec + CSUM_LO_OFF, &raw->l_i_checksum_lo, 2);
		if (has_csum_hi(fs, rec)) {
			raw->i_checksum_hi = (uint16_t)(c >> 16);
			memcpy(rec + CSUM_HI_OFF, &raw->i_checksum_hi, 2);
		}
	}
	sdx_journal_dirty_metadata(h, block);
	return 0;
}

/* ---- the record on the media (xattr.c's in-inode attributes) ---- */

int sdx_inode_record(struct sdx_inode *inode, const uint8_t **rec)
{
	const uint8_t *b;
	uint64_t block;
	size_t off;
	int err;

	inode_loc(inode->fs, inode->ino, &block, &off);
	b = sdx_bread(inode->fs, block, &err);
	if (!b)
		return err;
	*rec = b + off;
	return 0;
}

int sdx_inode_record_write(struct sdx_handle *h, struct sdx_inode *inode,
			   uint8_t **rec)
{
	uint64_t block;
	size_t off;
	void *b;
	int err;

	inode_loc(inode->fs, inode->ino, &block, &off);
	err = sdx_journal_get_write_access(h, block, &b);
	if (err)
		return err;
	*rec = (uint8_t *)b + off;
	return 0;
}

/* ---- fields ---- */

uint64_t sdx_inode_size(struct sdx_inode *inode)
{
	return inode->raw.i_size_lo | (uint64_t)inode->raw.i_size_high << 32;
}

void sdx_inode_set_size(struct sdx_inode *inode, uint64_t size)
{
	inode->raw.i_size_lo = (uint32_t)size;
	inode->raw.i_size_high = (uint32_t)(size >> 32);
}

static bool has_huge_file(const struct sdx_fs *fs)
{
	return fs->feature_ro_compat & EXT4_FEATURE_RO_COMPAT_HUGE_FILE;
}

uint64_t sdx_inode_blocks512(const struct sdx_inode *inode)
{
	const struct ext4_inode *raw = &inode->raw;
	uint64_t n = raw->i_blocks_lo;

	if (!has_huge_file(inode->fs))
		return n;
	n |= (uint64_t)raw->l_i_blocks_high << 32;
	if (raw->i_flags & EXT4_HUGE_FILE_FL)
		n *= SDX_BLOCK_SIZE / 512;
	return n;
}

void sdx_inode_add_blocks(struct sdx_inode *inode, int64_t nblocks)
{
	struct ext4_inode *raw = &inode->raw;
	int64_t n = (int64_t)sdx_inode_blocks512(inode) +
		    nblocks * (SDX_BLOCK_SIZE / 512);
	uint64_t v = n < 0 ? 0 : (uint64_t)n;

	raw->i_flags &= ~(uint32_t)EXT4_HUGE_FILE_FL;
	if (has_huge_file(inode->fs) && v >> 48) {
		raw->i_flags |= EXT4_HUGE_FILE_FL;
		v /= SDX_BLOCK_SIZE / 512;
	}
	raw->i_blocks_lo = (uint32_t)v;
	if (has_huge_file(inode->fs))
		raw->l_i_blocks_high = (uint16_t)(v >> 32);
}

/* The seconds and extra fields of one of the four times. */
static void time_fields(struct ext4_inode *raw, unsigned which,
			uint32_t **sec, uint32_t **extra)
{
	switch (which) {
	case SDX_TIME_ATIME:
		*sec = &raw->i_atime;
		*extra = &raw->i_atime_extra;
		break;
	case SDX_TIME_MTIME:
		*sec = &raw->i_mtime;
		*extra = &raw->i_mtime_extra;
		break;
	case SDX_TIME_CTIME:
		*sec = &raw->i_ctime;
		*extra = &raw->i_ctime_extra;
		break;
	default:
		*sec = &raw->i_crtime;
		*extra = &raw->i_crtime_extra;
		break;
	}
}

/* Does the inode's record hold the extra field of time @which? */
static bool has_time_extra(const struct ext4_inode *raw, unsigned which)
{
	switch (which) {
	case SDX_TIME_ATIME:
		return EXT4_INODE_HAS_EXTRA(raw->i_extra_isize, i_atime_extra);
	case SDX_TIME_MTIME:
		return EXT4_INODE_HAS_EXTRA(raw->i_extra_isize, i_mtime_extra);
	case SDX_TIME_CTIME:
		return EXT4_INODE_HAS_EXTRA(raw->i_extra_isize, i_ctime_extra);
	default:
		return EXT4_INODE_HAS_EXTRA(raw->i_extra_isize,
					    i_crtime_extra);
	}
}

/* ext4's range of times: 32 signed bits, 2 epoch bits more with the
 * extra field (1901..2446); Linux clamps to it. */
#define TIME_MIN	((int64_t)INT32_MIN)
#define TIME_MAX_EXTRA	(((int64_t)1 << 34) - 1 + INT32_MIN)

void sdx_inode_set_time(struct sdx_inode *inode, unsigned which,
			struct timespec ts)
{
	bool has_extra = has_time_extra(&inode->raw, which);
	int64_t max = has_extra ? TIME_MAX_EXTRA : INT32_MAX;
	int64_t s = ts.tv_sec < TIME_MIN ? TIME_MIN :
		    ts.tv_sec > max ? max : ts.tv_sec;
	uint32_t *sec, *extra;

	if (which == SDX_TIME_CRTIME && !has_extra)
		return;		/* crtime itself is an extra field */
	time_fields(&inode->raw, which, &sec, &extra);
	*sec = (uint32_t)s;
	if (has_extra)
		*extra = ((uint32_t)ts.tv_nsec << EXT4_EPOCH_BITS) |
			 ((uint32_t)((s - (int32_t)s) >> 32) & EXT4_EPOCH_MASK);
}

void sdx_inode_touch(struct sdx_inode *inode, unsigned which)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	for (unsigned bit = SDX_TIME_ATIME; bit <= SDX_TIME_CRTIME; bit <<= 1)
		if (which & bit)
			sdx_inode_set_time(inode, bit, now);
}

struct timespec sdx_inode_time(const struct sdx_inode *inode, unsigned which)
{
	struct ext4_inode *raw = (struct ext4_inode *)&inode->raw;
	struct timespec ts;
	uint32_t *sec, *extra;

	time_fields(raw, which, &sec, &extra);
	ts.tv_sec = (int32_t)*sec;
	ts.tv_nsec = 0;
	if (has_time_extra(raw, which)) {
		ts.tv_sec += (int64_t)(*extra & EXT4_EPOCH_MASK) << 32;
		ts.tv_nsec = (*extra & EXT4_NSEC_MASK) >> EXT4_EPOCH_BITS;
		if (ts.tv_nsec >= 1000000000)
			ts.tv_nsec = 0;
	}
	return ts;
}

/* A device inode's number: i_block[0] in the old 8:8 encoding, else
 * i_block[1] in the new one (major 12 bits, minor 20, interleaved). */
static dev_t device_number(const struct ext4_inode *raw)
{
	uint32_t old = raw->i_block[0], new = raw->i_block[1];

	if (old)
		return makedev((old >> 8) & 0xFF, old & 0xFF);
	return makedev((new & 0xFFF00) >> 8,
		       (new & 0xFF) | ((new >> 12) & 0xFFF00));
}

void sdx_inode_stat(const struct sdx_inode *inode, struct stat *st)
{
	const struct ext4_inode *raw = &inode->raw;

	memset(st, 0, sizeof(*st));
	st->st_ino = inode->ino;
	st->st_mode = raw->i_mode;
	st->st_nlink = raw->i_links_count;
	st->st_uid = raw->i_uid | (uint32_t)raw->l_i_uid_high << 16;
	st->st_gid = raw->i_gid | (uint32_t)raw->l_i_gid_high << 16;
	st->st_size = (off_t)sdx_inode_size((struct sdx_inode *)inode);
	st->st_blksize = SDX_BLOCK_SIZE;
	st->st_blocks = (blkcnt_t)sdx_inode_blocks512(inode);
	st->st_atim = sdx_inode_time(inode, SDX_TIME_ATIME);
	st->st_mtim = sdx_inode_time(inode, SDX_TIME_MTIME);
	st->st_ctim = sdx_inode_time(inode, SDX_TIME_CTIME);
	if (S_ISCHR(raw->i_mode) || S_ISBLK(raw->i_mode))
		st->st_rdev = device_number(raw);
}
