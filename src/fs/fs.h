/*
 * fs.h - the internals of src/fs shared by its files: the mounted file
 * system (struct sdx_fs), the in-memory inode (struct sdx_inode), and the
 * internal API of super.c, inode.c, ialloc.c, balloc.c and extent.c on which
 * the file operations (api.c, dir.c, namei.c, ...) are built.
 *
 * Locking (DESIGN.md order: invalidate_lock -> journal handle -> fs->lock):
 *   fs->lock is the big metadata lock.  Every public call takes it; it is
 *   also the journal's owner_lock, so the journal's background thread holds
 *   it while it commits or checkpoints.  Unless a contract says otherwise,
 *   every function declared here runs with fs->lock held ("Context: lock")
 *   and, where it takes a handle, inside a handle opened by the caller
 *   with sdx_journal_start on fs->journal ("handle open").
 *
 * Invariants:
 *   (1) Every metadata block is changed only through a handle
 *       (get_write_access / dirty_metadata); readers use sdx_bread (the
 *       newest version: running transaction, then committed, then home).
 *   (2) struct sdx_inode.raw is the authoritative copy of an in-use inode
 *       while the inode is cached; sdx_inode_mark_dirty writes it into the
 *       inode table block in the caller's handle (with its checksum).
 *   (3) One struct sdx_inode per inode number (the cache); refcount counts
 *       sdx_iget/sdx_inode_get_fd references; freed at zero.
 *   (4) Every block number, count and offset read from the media is checked
 *       against the geometry below before use; a bad one is -EUCLEAN with
 *       a sentence naming the structure.
 *
 * Inode life cycle:
 *   sdx_inode_alloc --> IN USE (links >= 1) --unlink of last link--> ORPHAN
 *   (links 0, fsops puts it on the orphan list while open or mapped)
 *   --last reference (sdx_iput)--> fs->evict hook, blocks and inode freed.
 */
#ifndef SDX_FS_H
#define SDX_FS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#include "fs/iomap.h"
#include "fs/ondisk.h"
#include "journal/journal.h"

#define SDX_BLOCK_SIZE		4096u
#define SDX_BLOCK_SHIFT		12
#define SDX_MAX_FILE_BLOCKS	(1ull << 32)	/* logical blocks (32-bit) */

/*
 * Journal credits (blocks a handle may dirty) for the common operations.
 * One allocation plus extent insert: bitmap, descriptor, superblock, inode
 * table block, and a split at every level of a depth-5 tree.
 */
#define SDX_CREDITS_EXTENT	(4 + 2 * (EXT4_EXT_MAX_DEPTH + 1))
#define SDX_CREDITS_INODE	8	/* inode alloc/free or attribute change */

struct sdx_dev;
struct sdx_fdtable;		/* fsops: the fd table (api.c) */
struct sdx_inode;

/* One block group, in CPU form (from its descriptor at mount). */
struct sdx_group {
	uint64_t block_bitmap;
	uint64_t inode_bitmap;
	uint64_t inode_table;
	uint8_t bitmaps_checked;	/* 1 << sdx_bitmap_kind: verified */
};

struct sdx_fs {
	struct sdx_dev *dev;
	struct sdx_journal *journal;
	struct sdx_statpage *statpage;	/* published statistics (super.c),
					   or NULL */
	pthread_mutex_t lock;		/* the big metadata lock (see top) */
	bool is_rdonly;

	/* geometry, checked at mount */
	uint64_t blocks_count;
	uint32_t inodes_count;
	uint32_t first_data_block;	/* 0 with 4 KiB blocks */
	uint32_t blocks_per_group;
	uint32_t inodes_per_group;
	uint32_t groups_count;
	uint32_t inode_size;		/* s_inode_size, >= 128 */
	uint32_t desc_size;		/* 32 or s_desc_size (64bit) */
	uint32_t itable_blocks;		/* inode table blocks per group */
	uint32_t first_ino;		/* first non-reserved inode */
	uint32_t groups_per_flex;	/* 1 without flex_bg */
	uint64_t gdt_block;		/* first group descriptor block */
	uint32_t gdt_blocks;		/* blocks of group descriptors */
	uint16_t want_extra_isize;	/* i_extra_isize of new inodes */
	uint64_t mount_free_blocks;	/* descriptors' sum at mount */
	uint64_t mount_free_inodes;	/* descriptors' sum at mount */
	/* read-only mount over a torn superblock: its shadow (super.c) */
	const struct ext4_super_block *sb_shadow;
	struct sdx_group *groups;	/* groups_count entries */
	uint64_t aligned_retry_after;	/* blocks to free before an aligned
					   search that found nothing is tried
					   again (balloc.c); 0: try */

	/* features and checksums */
	uint32_t feature_compat;
	uint32_t feature_incompat;
	uint32_t feature_ro_compat;
	bool has_csum;			/* metadata_csum */
	bool has_gdt_csum;		/* gdt_csum (crc16), read-only */
	uint32_t csum_seed;		/* crc32c(~0, uuid) or s_checksum_seed */
	uint8_t uuid[16];
	uint32_t hash_seed[4];		/* s_hash_seed, for htree */
	uint8_t def_hash_version;
	bool is_unsigned_hash;

	/* extent tree blocks fully checked once (extent.c): block+1 in an
	 * open-addressed table of csum_good_cap entries (a power of two) */
	uint64_t *csum_good;
	uint32_t csum_good_cap, csum_good_n;

	/* inode cache: sdx_iget/sdx_iput */
	struct sdx_inode **icache;
	uint32_t icache_size;		/* buckets, a power of two */
	uint32_t alloc_rotor;		/* next group for new directories */

	/* hooks and slots of other parts */
	sdx_invalidate_fn invalidate;	/* src/dax (sdx_fs_set_invalidate) */
	struct sdx_fdtable *fds;	/* fsops */
	/*
	 * Called by sdx_iput, inside the handle that deletes an inode whose
	 * last link and last reference are gone, before its blocks and its
	 * number are freed (fsops: take it off the orphan list).  May be NULL.
	 */
	int (*evict)(struct sdx_handle *h, struct sdx_inode *inode);
};

struct sdx_inode {
	struct sdx_fs *fs;
	uint32_t ino;
	unsigned refcount;		/* under fs->lock */
	struct sdx_inode *hash_next;	/* icache bucket chain */
	struct ext4_inode raw;		/* authoritative in-memory copy */
	pthread_rwlock_t invalidate_lock;
	void *dax;			/* src/dax's slot */
	sdx_tid_t datasync_tid;		/* fdatasync commits up to this */
	sdx_tid_t sync_tid;		/* fsync commits up to this */
	unsigned open_count;		/* fsops: open fds */
	bool is_orphan;			/* fsops: on the orphan list */
	bool is_new;			/* never written: mark_dirty zeroes
					   the whole on-disk inode first */
	uint32_t csum_seed;		/* crc32c(fs seed, ino, generation) */
};

/* ---- super.c: mount, unmount, blocks, descriptors, superblock ---- */

/* sdx_fs_open flags: SDX_MOUNT_RDONLY, SDX_MOUNT_EMULATE (syncdax.h) */

/**
 * sdx_fs_open - check and mount the ext4 file system on @device
 * @flags: SDX_MOUNT_RDONLY, SDX_MOUNT_EMULATE
 *
 * Checks the superblock (magic, 4 KiB blocks, geometry against the device
 * size, checksum), the feature set (unsupported incompat features refused
 * by name; ro_compat features syncdax cannot maintain allow a read-only
 * mount only), every group descriptor (checksum, bitmap and table
 * locations), opens the journal (recovery) and, read-write, updates the
 * mount count, time and state through a handle.
 * Context: none (no lock).
 * Return: 0 and *@out, or -EUCLEAN (corrupt), -EOPNOTSUPP (feature or block
 *         size, named), -EROFS (read-write refused; read-only would work),
 *         or the device's error; a sentence is recorded.
 */
int sdx_fs_open(const char *device, unsigned flags, struct sdx_fs **out);

/**
 * sdx_fs_close - unmount: commit and checkpoint, mark clean, free
 * Context: no handle open, lock not held; every inode reference dropped
 * (remaining cached inodes are freed without being written).
 * Return: 0 or the journal's error (the file system is freed anyway).
 */
int sdx_fs_close(struct sdx_fs *fs);

/* Start a handle on fs->journal (-EROFS on a read-only mount). */
int sdx_fs_start(struct sdx_fs *fs, int credits, struct sdx_handle **out);

/**
 * sdx_bread - the newest version of metadata @block (read-only view)
 * Context: lock; the pointer is valid until the lock is dropped.
 * Return: the block, or NULL with -EUCLEAN/-EIO in *@err and a sentence.
 */
const void *sdx_bread(struct sdx_fs *fs, uint64_t block, int *err);

/* Is [block, block+count) inside the file system and not in metadata it
 * cannot be (superblock, descriptors)?  For block numbers read from media. */
static inline bool sdx_fs_block_valid(const struct sdx_fs *fs, uint64_t block,
				      uint64_t count)
{
	return count > 0 && block >= fs->gdt_block + fs->gdt_blocks &&
	       block < fs->blocks_count && count <= fs->blocks_count - block;
}

/*
 * The group descriptor of @group: read view, or write access in @h (then
 * modify it and call sdx_group_desc_dirty, which sets its checksum).
 * Context: lock (+ handle for _get_write).
 */
const struct ext4_group_desc *sdx_group_desc(struct sdx_fs *fs,
					     uint32_t group, int *err);
int sdx_group_desc_get_write(struct sdx_handle *h, struct sdx_fs *fs,
			     uint32_t group, struct ext4_group_desc **gd);
void sdx_group_desc_dirty(struct sdx_handle *h, struct sdx_fs *fs,
			  uint32_t group);

/* Field accessors honouring s_desc_size (the _hi halves need >= 64). */
uint32_t sdx_gd_free_blocks(const struct sdx_fs *fs,
			    const struct ext4_group_desc *gd);
uint32_t sdx_gd_free_inodes(const struct sdx_fs *fs,
			    const struct ext4_group_desc *gd);
uint32_t sdx_gd_used_dirs(const struct sdx_fs *fs,
			  const struct ext4_group_desc *gd);
uint32_t sdx_gd_itable_unused(const struct sdx_fs *fs,
			      const struct ext4_group_desc *gd);
void sdx_gd_set_free_blocks(const struct sdx_fs *fs,
			    struct ext4_group_desc *gd, uint32_t n);
void sdx_gd_set_free_inodes(const struct sdx_fs *fs,
			    struct ext4_group_desc *gd, uint32_t n);
void sdx_gd_set_used_dirs(const struct sdx_fs *fs,
			  struct ext4_group_desc *gd, uint32_t n);
void sdx_gd_set_itable_unused(const struct sdx_fs *fs,
			      struct ext4_group_desc *gd, uint32_t n);

/*
 * The superblock: read view, or write access in @h (modify, then
 * sdx_super_dirty sets the checksum).  Free counts: sdx_super_add_free.
 */
const struct ext4_super_block *sdx_super(struct sdx_fs *fs, int *err);
int sdx_super_get_write(struct sdx_handle *h, struct sdx_fs *fs,
			struct ext4_super_block **sb);
void sdx_super_dirty(struct sdx_handle *h, struct sdx_fs *fs);
/*
 * The shadow superblock (bytes 2048..3071 of block 0, unused by ext4) in
 * @block0, a copy of a device's first 4096 bytes, when the superblock
 * fails its checksum and the shadow checks and names the same file system
 * (what syncdax restores at mount); NULL otherwise.
 */
const struct ext4_super_block *sdx_super_shadow(const uint8_t *block0);
/* Add @blocks free blocks and @inodes free inodes (negative: take). */
int sdx_super_add_free(struct sdx_handle *h, struct sdx_fs *fs,
		       int64_t blocks, int64_t inodes);

/* Group of a block / of an inode number; first block of a group. */
uint32_t sdx_block_group(const struct sdx_fs *fs, uint64_t block);
uint32_t sdx_inode_group(const struct sdx_fs *fs, uint32_t ino);
uint64_t sdx_group_first_block(const struct sdx_fs *fs, uint32_t group);
/* Blocks in @group (the last group may be short). */
uint32_t sdx_group_blocks(const struct sdx_fs *fs, uint32_t group);

/* ---- balloc.c: blocks ---- */

/**
 * sdx_block_alloc - allocate a run of up to @count blocks near @goal
 * @inode: the owner; its group is the goal when @goal is 0 or invalid
 * @goal:  preferred first block (0: none); the run starts there if free
 * @first/@got: the run allocated, 1 <= *got <= @count, contiguous
 *
 * Search order: from the goal through its group, the rest of its flex
 * group, every other group, then the goal's group before the goal.
 * Marks the bitmap (initialising a BLOCK_UNINIT group first), updates the
 * descriptor and superblock free counts and checksums.  Never returns a
 * block freed in a transaction that has not committed (journal.h (2)).
 * Does not touch the inode (i_blocks is the extent code's).
 * Context: lock, handle open.
 * Return: 0, -ENOSPC (nothing changed), -EUCLEAN, -EIO, -EINVAL (@count 0
 *         or no @inode).
 */
int sdx_block_alloc(struct sdx_handle *h, struct sdx_inode *inode,
		    uint64_t goal, uint64_t count, uint64_t *first,
		    uint64_t *got);

/**
 * sdx_block_alloc_aligned - allocate exactly @count blocks starting on a
 * multiple of @count (a power of two), near @goal
 *
 * Searches in sdx_block_alloc's order and updates the same metadata.
 * After a search that found nothing, answers -ENOSPC without searching
 * until @count blocks have been freed (fs->aligned_retry_after).
 * Context: lock, handle open.
 * Return: 0 with *@first, -ENOSPC without a sentence when no such run is
 *         free, also when @count is more than a group holds (the caller
 *         falls back to sdx_block_alloc), -EUCLEAN, -EIO, -EINVAL (@count
 *         not a power of two).
 */
int sdx_block_alloc_aligned(struct sdx_handle *h, struct sdx_inode *inode,
			    uint64_t goal, uint64_t count, uint64_t *first);

/**
 * sdx_file_block_alloc - allocate up to @n blocks for file block @lblk
 * The goal is the block after the one mapped before @lblk (or after the
 * file's last block).  A request that covers an aligned 2 MiB of the file
 * (@lblk a multiple of SDX_IOMAP_HUGE_PAGES, @n at least that) first asks
 * sdx_block_alloc_aligned for an aligned 2 MiB run, so the file can be
 * mapped with huge pages; otherwise, or when there is none, any run.
 * Context: lock, handle open.
 * Return: as sdx_block_alloc.
 */
int sdx_file_block_alloc(struct sdx_handle *h, struct sdx_inode *inode,
			 uint64_t lblk, uint64_t n, uint64_t *pblk,
			 uint64_t *got);

/**
 * sdx_block_free - free blocks [@block, @block+@count)
 * The run may span groups.  Metadata blocks must be revoked by the caller
 * (sdx_journal_revoke) before; data blocks need not.
 * Context: lock, handle open.
 * Return: 0, -EUCLEAN (outside the file system or already free, named).
 */
int sdx_block_free(struct sdx_handle *h, struct sdx_fs *fs, uint64_t block,
		   uint64_t count);

/* sdx_block_free_runs's callback: one free run; nonzero stops the walk. */
typedef int sdx_free_run_fn(uint64_t first, uint64_t len, void *arg);

/**
 * sdx_block_free_runs - call @fn on every run of blocks sdx_block_alloc
 * may take now (free in the newest and the committed bitmap), in block
 * order; a run goes on across a group boundary when both sides are free.
 * Reads only (a BLOCK_UNINIT group's bitmap is computed, not written).
 * Context: lock.
 * Return: 0, what @fn returned, -EUCLEAN (a bitmap's checksum), -EIO,
 *         -ENOMEM.
 */
int sdx_block_free_runs(struct sdx_fs *fs, sdx_free_run_fn *fn, void *arg);

/* Free blocks now (the superblock count), for statfs and tests. */
uint64_t sdx_fs_free_blocks(struct sdx_fs *fs);
/* statvfs(2)'s figures from the superblock.  Context: lock.
 * Return: 0, or -errno of reading the superblock. */
int sdx_fs_statvfs(struct sdx_fs *fs, struct statvfs *sv);

/* Bitmap helpers (balloc.c), shared with ialloc.c. */
bool sdx_bit_test(const uint8_t *bitmap, uint32_t bit);
void sdx_bit_set(uint8_t *bitmap, uint32_t bit);

enum sdx_bitmap_kind { SDX_BLOCK_BITMAP, SDX_INODE_BITMAP };
/* The newest bitmap of an initialised group, checksum checked. */
const uint8_t *sdx_bitmap_read(struct sdx_fs *fs, uint32_t group,
			       enum sdx_bitmap_kind kind,
			       const struct ext4_group_desc *gd, int *err);
/*
 * Write access to @group's bitmap and descriptor in @h, checking the
 * bitmap's checksum, or initialising it when the group is *_UNINIT (then
 * the flag is cleared).  Change bits and counts, then sdx_bitmap_dirty
 * (sets both checksums, dirties both blocks).
 */
int sdx_bitmap_get_write(struct sdx_handle *h, struct sdx_fs *fs,
			 uint32_t group, enum sdx_bitmap_kind kind,
			 uint8_t **bitmap, struct ext4_group_desc **gd);
void sdx_bitmap_dirty(struct sdx_handle *h, struct sdx_fs *fs, uint32_t group,
		      enum sdx_bitmap_kind kind, struct ext4_group_desc *gd,
		      const uint8_t *bitmap);

/* ---- ialloc.c: inode numbers ---- */

/**
 * sdx_inode_alloc - allocate and initialise a new inode
 * @dir:  the parent directory (group choice; NULL: root's group)
 * @mode: S_IFREG|0644 etc.; the type decides the group policy (directories
 *        spread over groups, files stay with their parent)
 *
 * The new inode has i_links_count 0 (the caller links it), uid/gid of the
 * process, all four times now, a fresh generation, i_extra_isize, and for
 * regular files, directories and symlinks EXT4_EXTENTS_FL with an empty
 * extent root (a fast symlink clears it).  It is cached with refcount 1 and
 * written into its table block (marked dirty) in @h.
 * Context: lock, handle open.
 * Return: 0 and *@out, -ENOSPC when no inode is free (nothing changed).
 */
int sdx_inode_alloc(struct sdx_handle *h, struct sdx_inode *dir, mode_t mode,
		    struct sdx_inode **out);

/**
 * sdx_inode_free - delete @inode: free its blocks and its number
 * Sets i_dtime and i_links_count 0, frees every block (extent tree
 * included), clears the inode bitmap bit and updates the counts.  The
 * caller still holds its reference (sdx_iput drops it).
 * Context: lock, handle open.
 */
int sdx_inode_free(struct sdx_handle *h, struct sdx_inode *inode);

/* ---- inode.c: the inode cache and inode fields ---- */

/**
 * sdx_iget - the cached inode @ino, read and checked on first use
 * Checks the number (reserved/out of range: -EUCLEAN, except the
 * root and journal inodes), that the inode may be in use (-ENOENT in an
 * INODE_UNINIT group, past bg_itable_unused, all zero, or with
 * i_links_count 0; the bitmap is not consulted), the checksum,
 * i_extra_isize, and the extent root header when EXT4_EXTENTS_FL.  An
 * inode already cached is returned as it is.  Takes a reference.
 * Context: lock.
 * Return: 0 and *@out, -EUCLEAN (named), -ENOENT, -ENOMEM.
 */
int sdx_iget(struct sdx_fs *fs, uint32_t ino, struct sdx_inode **out);
/* Read an inode that may be free (fsck-style walks); no in-use check. */
int sdx_iget_raw(struct sdx_fs *fs, uint32_t ino, struct sdx_inode **out);
/* Is a struct sdx_inode of @ino in the cache (referenced)? */
bool sdx_inode_cached(struct sdx_fs *fs, uint32_t ino);
/* A cache entry for a just-allocated number, not read (ialloc.c). */
int sdx_inode_new(struct sdx_fs *fs, uint32_t ino, struct sdx_inode **out);
/* Is @ino marked in use in its group's inode bitmap? (ialloc.c) */
bool sdx_inode_bitmap_test(struct sdx_fs *fs, uint32_t ino);

/**
 * sdx_iput - drop a reference; at zero the inode leaves the cache, and if
 * it has no links left (and the mount is read-write) it is deleted in a
 * handle of its own: fs->evict, then sdx_inode_free.
 * Context: lock, no handle open.
 */
void sdx_iput(struct sdx_inode *inode);
/* Take another reference. Context: lock. */
struct sdx_inode *sdx_igrab(struct sdx_inode *inode);

/**
 * sdx_inode_mark_dirty - write inode->raw into its table block in @h
 * Sets the checksum.  Call after every change of raw.
 * Context: lock, handle open.
 * Return: 0, -EIO.
 */
int sdx_inode_mark_dirty(struct sdx_handle *h, struct sdx_inode *inode);

/*
 * The inode's whole on-disk record (s_inode_size bytes, in-inode extended
 * attributes included): read view, or write access in @h (then
 * sdx_inode_mark_dirty sets the checksum over it).  Context: lock (+ handle).
 */
int sdx_inode_record(struct sdx_inode *inode, const uint8_t **rec);
int sdx_inode_record_write(struct sdx_handle *h, struct sdx_inode *inode,
			   uint8_t **rec);

/* i_size (lo+high) and setter (does not mark dirty). */
void sdx_inode_set_size(struct sdx_inode *inode, uint64_t size);
/* i_blocks in 512-byte units (huge_file aware), as stat's st_blocks. */
uint64_t sdx_inode_blocks512(const struct sdx_inode *inode);
/* Add (or subtract, negative) @nblocks fs blocks to i_blocks. */
void sdx_inode_add_blocks(struct sdx_inode *inode, int64_t nblocks);

/* Times: SDX_TIME_* bits set to now (ns); get one as a timespec. */
#define SDX_TIME_ATIME	0x1u
#define SDX_TIME_MTIME	0x2u
#define SDX_TIME_CTIME	0x4u
#define SDX_TIME_CRTIME	0x8u
void sdx_inode_touch(struct sdx_inode *inode, unsigned which);
/* Set one time (a single SDX_TIME_* bit), clamped to ext4's range. */
void sdx_inode_set_time(struct sdx_inode *inode, unsigned which,
			struct timespec ts);
struct timespec sdx_inode_time(const struct sdx_inode *inode,
			       unsigned which);

/* Fill @st from the inode (st_dev 0, st_blksize 4096). */
void sdx_inode_stat(const struct sdx_inode *inode, struct stat *st);

/* ---- extent.c: the extent tree of an inode ---- */

#define SDX_EXTENT_UNWRITTEN	0x1u	/* sdx_extent_map *flags */
#define SDX_EXTENT_HOLE		0x2u

/**
 * sdx_extent_map - where logical block @lblk lives
 * @pblk/@len/@flags: MAPPED: physical block of @lblk and blocks that
 *   follow contiguously in the same extent; UNWRITTEN too, with the flag;
 *   HOLE (*@pblk 0): blocks up to the next extent (or to the 2^32 limit).
 * An inode without EXT4_EXTENTS_FL is mapped through its ext2/3 block map
 * (read only: the calls below refuse it with -EOPNOTSUPP; a hole's length
 * may then stop short of the next mapped block).
 * Context: lock.
 * Return: 0, -EUCLEAN for a corrupt tree or map (named with the inode),
 *         -EINVAL for a fast symlink (no blocks).
 */
int sdx_extent_map(struct sdx_inode *inode, uint64_t lblk, uint64_t *pblk,
		   uint64_t *len, unsigned *flags);

/**
 * sdx_extent_insert - map [@lblk, @lblk+@len) to [@pblk, ...) (a hole)
 * Merges with neighbours where possible, splits nodes and grows the root
 * as needed (tree blocks allocated near @pblk), adds @len to i_blocks,
 * marks the inode dirty.  The range must be a hole: -EEXIST otherwise.
 * Like every change below, it ends by pulling a tree whose entries fit
 * in the inode back into it (freeing that tree block).
 * Context: lock, handle open.
 * Return: 0, -ENOSPC (for a tree block; nothing changed), -EUCLEAN, -EEXIST.
 */
int sdx_extent_insert(struct sdx_handle *h, struct sdx_inode *inode,
		      uint64_t lblk, uint64_t pblk, uint64_t len,
		      bool is_unwritten);

/**
 * sdx_extent_remove - unmap [@lblk, @lblk+@len) and free its blocks
 * Splits an extent in the middle if needed (may allocate a tree block),
 * frees emptied tree blocks, subtracts from i_blocks, marks the inode
 * dirty.  Holes in the range are fine.
 * Context: lock, handle open.
 * Return: 0, -ENOSPC (a split needed a block), -EUCLEAN.
 */
int sdx_extent_remove(struct sdx_handle *h, struct sdx_inode *inode,
		      uint64_t lblk, uint64_t len);

/**
 * sdx_extent_mark_written - convert unwritten blocks in the range to written
 * (splitting extents at the range's edges).  Written blocks and holes in
 * the range are left alone.  The caller zeroes the data first.
 * Context: lock, handle open.
 * Return: 0, -ENOSPC, -EUCLEAN.
 */
int sdx_extent_mark_written(struct sdx_handle *h, struct sdx_inode *inode,
			    uint64_t lblk, uint64_t len);

/**
 * sdx_extent_shift - move the extents of [@start, @end) by @shift logical
 * blocks, down (@is_left: COLLAPSE_RANGE) or up (INSERT_RANGE)
 * @end:        EXT_MAX_BLOCKS (2^32) for "to the end of the file"
 * @max_leaves: leaves to change in this call, 0: all of them
 * @stop:       out: where it stopped, at a leaf boundary.  Left: the
 *              extents of [@start, *@stop) have moved; right: those of
 *              [*@stop, @end).  The range is done when *@stop is @end
 *              (left) or @start (right); call again with @start (left) or
 *              @end (right) set to *@stop to go on.
 *
 * Only ee_block of the leaf entries and the index keys above them change:
 * no data block moves or is copied.  A left shift needs [@start-@shift,
 * @start) to be a hole (punch it first) and merges the first extent moved
 * with the one before it in the same leaf where they became contiguous
 * (as ext4's ext4_ext_shift_extents), then, as sdx_extent_remove, joins
 * that leaf with a sparse sibling and pulls a small tree back into the
 * inode (freeing tree blocks: i_blocks may shrink); a right shift
 * first splits the extent that straddles @start (the only change that may
 * take a tree block) and needs the @shift blocks after the last extent
 * moved to be a hole.  No extent may straddle @end.  Leaves are changed
 * from @start up (left) or from @end down (right), so that the keys stay
 * sorted after every leaf; every leaf changed is one block of credits,
 * plus the index blocks above it whose first key changes.
 * Context: lock, handle open.
 * Return: 0, -EINVAL (no hole to shift into, an extent straddles @end,
 *         bad arguments), -EFBIG (past the 2^32-block limit), -ENOSPC
 *         (the split needed a block), -EUCLEAN, -EOPNOTSUPP (block map).
 */
int sdx_extent_shift(struct sdx_handle *h, struct sdx_inode *inode,
		     uint64_t start, uint64_t end, uint64_t shift,
		     bool is_left, unsigned max_leaves, uint64_t *stop);

/*
 * sdx_extent_count_nodes - tree blocks (index and leaf; the root in the
 * inode is not counted) that hold entries for blocks at or after @lblk:
 * the credits a shift from @lblk needs besides the inode.  Context: lock.
 */
int sdx_extent_count_nodes(struct sdx_inode *inode, uint64_t lblk,
			   uint64_t *nodes);

/* Check the extent root in i_block (sdx_iget does, on first read). */
int sdx_extent_check_root(struct sdx_inode *inode);

/* The last mapped logical block + 1 (0: no extents), for goals and size. */
int sdx_extent_end(struct sdx_inode *inode, uint64_t *end_lblk,
		   uint64_t *last_pblk);

/**
 * sdx_inode_truncate_blocks - free every block at or after @size bytes
 * (the block that holds byte @size-1 stays).  Does not change i_size.
 * Context: lock, handle open; caller holds invalidate_lock exclusive and
 * has unmapped the range.
 */
int sdx_inode_truncate_blocks(struct sdx_handle *h, struct sdx_inode *inode,
			      uint64_t size);

/* ---- xattr.c: extended attributes (in the inode and its block) ---- */

/*
 * sdx_xattr_get - the value of attribute @name ("user.x", "trusted.x",
 * "security.x", "system.posix_acl_access|default") into @buf, a library
 * buffer of @size bytes (0: only the size is returned)
 * Context: lock.
 * Return: the value's size, -ENODATA, -ERANGE (@size too small or a bad
 *         name), -EOPNOTSUPP (a prefix ext4 does not store), -EUCLEAN.
 */
ssize_t sdx_xattr_get(struct sdx_inode *inode, const char *name, void *buf,
		      size_t size);

/*
 * sdx_xattr_list - the names, each NUL-ended, into @buf (@size 0: only
 * the size needed).  Context: lock.
 * Return: bytes, -ERANGE, -EUCLEAN.
 */
ssize_t sdx_xattr_list(struct sdx_inode *inode, char *buf, size_t size);

/*
 * sdx_xattr_set - set @name to @value (@size bytes), or remove it when
 * @value is NULL (pass XATTR_REPLACE for removexattr's -ENODATA)
 * @flags: XATTR_CREATE, XATTR_REPLACE
 *
 * Changes in @h the inode body and/or the external block (allocated,
 * rewritten, copied when shared, freed when emptied) and i_blocks; an
 * access ACL also sets the mode's permission bits.  Nothing is changed
 * when it fails.  The caller sets ctime and marks the inode dirty (that
 * also sets the checksum over the changed body).  SDX_CREDITS_INODE.
 * Context: lock, handle open.
 * Return: 0, -EEXIST, -ENODATA, -ENOSPC (fits nowhere), -ERANGE (name),
 *         -EPERM (user. on a special file, immutable), -EOPNOTSUPP,
 *         -EINVAL, -EACCES (default ACL of a non-directory), -EROFS,
 *         -EUCLEAN.
 */
int sdx_xattr_set(struct sdx_handle *h, struct sdx_inode *inode,
		  const char *name, const void *value, size_t size, int flags);

/*
 * sdx_xattr_chmod - make the access ACL agree with the new @mode, as
 * posix_acl_chmod: its owner, mask (else group) and other entries take
 * the mode's permission bits.  No ACL: nothing.  Call before the mode
 * changes (nothing is changed when it fails).  SDX_CREDITS_INODE.
 * Context: lock, handle open.
 * Return: 0, -EUCLEAN, -ENOMEM.
 */
int sdx_xattr_chmod(struct sdx_handle *h, struct sdx_inode *inode,
		    mode_t mode);

/*
 * sdx_xattr_inherit - give the new @inode the ACLs of @dir's default ACL,
 * as posix_acl_create: a directory inherits the default ACL itself; the
 * access ACL is the default masked by the mode (the mode keeps only what
 * it allows), stored unless the mode says it all.  No default ACL, or a
 * symlink: nothing.  SDX_CREDITS_INODE.
 * Context: lock, handle open; @inode just allocated.
 * Return: 0, -ENOSPC, -EUCLEAN, -ENOMEM.
 */
int sdx_xattr_inherit(struct sdx_handle *h, struct sdx_inode *dir,
		      struct sdx_inode *inode);

/*
 * sdx_xattr_block_release - drop the inode's reference to its extended
 * attribute block (i_file_acl) and the block from i_blocks: the block is
 * freed at its last reference.
 * Context: lock, handle open.
 */
int sdx_xattr_block_release(struct sdx_handle *h, struct sdx_inode *inode);

#endif /* SDX_FS_H */
