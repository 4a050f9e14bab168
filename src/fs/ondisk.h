/*
 * ondisk.h - the ext4 on-media structures syncdax reads and writes, with the
 * kernel's field names (fs/ext4/ext4.h, ext4_extents.h, namei.c) and the
 * constants that go with them.
 *
 * Byte order: ext4 is little-endian on the media.  syncdax runs on x86-64
 * (and other little-endian machines) only, asserted below, so the fields
 * are plain uintN_t read and written in place; no conversion helpers.
 *
 * Every structure here is laid out exactly as on the media (natural
 * alignment gives the kernel's offsets; the static_asserts check the ones
 * that matter).  A value read from the media is untrusted until checked:
 * see super.c (superblock, descriptors), inode.c, extent.c.
 */
#ifndef SDX_ONDISK_H
#define SDX_ONDISK_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	      "syncdax accesses ext4 fields in place: little-endian only");

/* ---- superblock ---- */

#define EXT4_SUPER_MAGIC	0xEF53
#define EXT4_SUPERBLOCK_OFFSET	1024	/* bytes from the device start */
#define EXT4_MIN_BLOCK_LOG_SIZE	10	/* s_log_block_size is log2(size)-10 */
#define EXT4_GOOD_OLD_REV	0
#define EXT4_DYNAMIC_REV	1
#define EXT4_GOOD_OLD_INODE_SIZE 128
#define EXT4_GOOD_OLD_FIRST_INO	11
#define EXT4_CRC32C_CHKSUM	1	/* s_checksum_type */

/* s_state */
#define EXT4_VALID_FS		0x0001	/* unmounted cleanly */
#define EXT4_ERROR_FS		0x0002
#define EXT4_ORPHAN_FS		0x0004

/* s_flags */
#define EXT2_FLAGS_SIGNED_HASH	 0x0001
#define EXT2_FLAGS_UNSIGNED_HASH 0x0002
#define EXT2_FLAGS_TEST_FILESYS	 0x0004

/* s_feature_compat */
#define EXT4_FEATURE_COMPAT_DIR_PREALLOC	0x0001
#define EXT4_FEATURE_COMPAT_IMAGIC_INODES	0x0002
#define EXT4_FEATURE_COMPAT_HAS_JOURNAL		0x0004
#define EXT4_FEATURE_COMPAT_EXT_ATTR		0x0008
#define EXT4_FEATURE_COMPAT_RESIZE_INODE	0x0010
#define EXT4_FEATURE_COMPAT_DIR_INDEX		0x0020
#define EXT4_FEATURE_COMPAT_SPARSE_SUPER2	0x0200
#define EXT4_FEATURE_COMPAT_FAST_COMMIT		0x0400
#define EXT4_FEATURE_COMPAT_STABLE_INODES	0x0800
#define EXT4_FEATURE_COMPAT_ORPHAN_FILE		0x1000

/* s_feature_ro_compat */
#define EXT4_FEATURE_RO_COMPAT_SPARSE_SUPER	0x0001
#define EXT4_FEATURE_RO_COMPAT_LARGE_FILE	0x0002
#define EXT4_FEATURE_RO_COMPAT_BTREE_DIR	0x0004
#define EXT4_FEATURE_RO_COMPAT_HUGE_FILE	0x0008
#define EXT4_FEATURE_RO_COMPAT_GDT_CSUM		0x0010
#define EXT4_FEATURE_RO_COMPAT_DIR_NLINK	0x0020
#define EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE	0x0040
#define EXT4_FEATURE_RO_COMPAT_HAS_SNAPSHOT	0x0080
#define EXT4_FEATURE_RO_COMPAT_QUOTA		0x0100
#define EXT4_FEATURE_RO_COMPAT_BIGALLOC		0x0200
#define EXT4_FEATURE_RO_COMPAT_METADATA_CSUM	0x0400
#define EXT4_FEATURE_RO_COMPAT_REPLICA		0x0800
#define EXT4_FEATURE_RO_COMPAT_READONLY		0x1000
#define EXT4_FEATURE_RO_COMPAT_PROJECT		0x2000
#define EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS	0x4000
#define EXT4_FEATURE_RO_COMPAT_VERITY		0x8000
#define EXT4_FEATURE_RO_COMPAT_ORPHAN_PRESENT	0x10000

/* s_feature_incompat */
#define EXT4_FEATURE_INCOMPAT_COMPRESSION	0x0001
#define EXT4_FEATURE_INCOMPAT_FILETYPE		0x0002
#define EXT4_FEATURE_INCOMPAT_RECOVER		0x0004
#define EXT4_FEATURE_INCOMPAT_JOURNAL_DEV	0x0008
#define EXT4_FEATURE_INCOMPAT_META_BG		0x0010
#define EXT4_FEATURE_INCOMPAT_EXTENTS		0x0040
#define EXT4_FEATURE_INCOMPAT_64BIT		0x0080
#define EXT4_FEATURE_INCOMPAT_MMP		0x0100
#define EXT4_FEATURE_INCOMPAT_FLEX_BG		0x0200
#define EXT4_FEATURE_INCOMPAT_EA_INODE		0x0400
#define EXT4_FEATURE_INCOMPAT_DIRDATA		0x1000
#define EXT4_FEATURE_INCOMPAT_CSUM_SEED		0x2000
#define EXT4_FEATURE_INCOMPAT_LARGEDIR		0x4000
#define EXT4_FEATURE_INCOMPAT_INLINE_DATA	0x8000
#define EXT4_FEATURE_INCOMPAT_ENCRYPT		0x10000
#define EXT4_FEATURE_INCOMPAT_CASEFOLD		0x20000

struct ext4_super_block {
	uint32_t s_inodes_count;
	uint32_t s_blocks_count_lo;
	uint32_t s_r_blocks_count_lo;
	uint32_t s_free_blocks_count_lo;
	uint32_t s_free_inodes_count;
	uint32_t s_first_data_block;
	uint32_t s_log_block_size;
	uint32_t s_log_cluster_size;
	uint32_t s_blocks_per_group;
	uint32_t s_clusters_per_group;
	uint32_t s_inodes_per_group;
	uint32_t s_mtime;
	uint32_t s_wtime;
	uint16_t s_mnt_count;
	uint16_t s_max_mnt_count;
	uint16_t s_magic;
	uint16_t s_state;
	uint16_t s_errors;
	uint16_t s_minor_rev_level;
	uint32_t s_lastcheck;
	uint32_t s_checkinterval;
	uint32_t s_creator_os;
	uint32_t s_rev_level;
	uint16_t s_def_resuid;
	uint16_t s_def_resgid;
	uint32_t s_first_ino;
	uint16_t s_inode_size;
	uint16_t s_block_group_nr;
	uint32_t s_feature_compat;
	uint32_t s_feature_incompat;
	uint32_t s_feature_ro_compat;
	uint8_t  s_uuid[16];
	char     s_volume_name[16];
	char     s_last_mounted[64];
	uint32_t s_algorithm_usage_bitmap;
	uint8_t  s_prealloc_blocks;
	uint8_t  s_prealloc_dir_blocks;
	uint16_t s_reserved_gdt_blocks;
	uint8_t  s_journal_uuid[16];
	uint32_t s_journal_inum;
	uint32_t s_journal_dev;
	uint32_t s_last_orphan;
	uint32_t s_hash_seed[4];
	uint8_t  s_def_hash_version;
	uint8_t  s_jnl_backup_type;
	uint16_t s_desc_size;
	uint32_t s_default_mount_opts;
	uint32_t s_first_meta_bg;
	uint32_t s_mkfs_time;
	uint32_t s_jnl_blocks[17];
	uint32_t s_blocks_count_hi;
	uint32_t s_r_blocks_count_hi;
	uint32_t s_free_blocks_count_hi;
	uint16_t s_min_extra_isize;
	uint16_t s_want_extra_isize;
	uint32_t s_flags;
	uint16_t s_raid_stride;
	uint16_t s_mmp_update_interval;
	uint64_t s_mmp_block;
	uint32_t s_raid_stripe_width;
	uint8_t  s_log_groups_per_flex;
	uint8_t  s_checksum_type;
	uint8_t  s_encryption_level;
	uint8_t  s_reserved_pad;
	uint64_t s_kbytes_written;
	uint32_t s_snapshot_inum;
	uint32_t s_snapshot_id;
	uint64_t s_snapshot_r_blocks_count;
	uint32_t s_snapshot_list;
	uint32_t s_error_count;
	uint32_t s_first_error_time;
	uint32_t s_first_error_ino;
	uint64_t s_first_error_block;
	uint8_t  s_first_error_func[32];
	uint32_t s_first_error_line;
	uint32_t s_last_error_time;
	uint32_t s_last_error_ino;
	uint32_t s_last_error_line;
	uint64_t s_last_error_block;
	uint8_t  s_last_error_func[32];
	uint8_t  s_mount_opts[64];
	uint32_t s_usr_quota_inum;
	uint32_t s_grp_quota_inum;
	uint32_t s_overhead_clusters;
	uint32_t s_backup_bgs[2];
	uint8_t  s_encrypt_algos[4];
	uint8_t  s_encrypt_pw_salt[16];
	uint32_t s_lpf_ino;
	uint32_t s_prj_quota_inum;
	uint32_t s_checksum_seed;
	uint8_t  s_wtime_hi;
	uint8_t  s_mtime_hi;
	uint8_t  s_mkfs_time_hi;
	uint8_t  s_lastcheck_hi;
	uint8_t  s_first_error_time_hi;
	uint8_t  s_last_error_time_hi;
	uint8_t  s_first_error_errcode;
	uint8_t  s_last_error_errcode;
	uint16_t s_encoding;
	uint16_t s_encoding_flags;
	uint32_t s_orphan_file_inum;
	uint32_t s_reserved[94];
	uint32_t s_checksum;	/* crc32c(~0, sb, offsetof(s_checksum)) */
};
static_assert(sizeof(struct ext4_super_block) == 1024, "superblock size");
static_assert(offsetof(struct ext4_super_block, s_desc_size) == 0xFE, "sb");
static_assert(offsetof(struct ext4_super_block, s_blocks_count_hi) == 0x150,
	      "sb");
static_assert(offsetof(struct ext4_super_block, s_checksum_seed) == 0x270,
	      "sb");
static_assert(offsetof(struct ext4_super_block, s_checksum) == 0x3FC, "sb");

/* ---- block group descriptors ---- */

#define EXT4_MIN_DESC_SIZE	32
#define EXT4_MIN_DESC_SIZE_64BIT 64
#define EXT4_MAX_DESC_SIZE	1024	/* at most the (minimum) block size */

/* bg_flags */
#define EXT4_BG_INODE_UNINIT	0x0001	/* inode bitmap and table unused */
#define EXT4_BG_BLOCK_UNINIT	0x0002	/* block bitmap not initialised */
#define EXT4_BG_INODE_ZEROED	0x0004	/* inode table zeroed */

/* The 64-byte form; a 32-byte descriptor is its first half. */
struct ext4_group_desc {
	uint32_t bg_block_bitmap_lo;
	uint32_t bg_inode_bitmap_lo;
	uint32_t bg_inode_table_lo;
	uint16_t bg_free_blocks_count_lo;
	uint16_t bg_free_inodes_count_lo;
	uint16_t bg_used_dirs_count_lo;
	uint16_t bg_flags;
	uint32_t bg_exclude_bitmap_lo;
	uint16_t bg_block_bitmap_csum_lo;
	uint16_t bg_inode_bitmap_csum_lo;
	uint16_t bg_itable_unused_lo;
	uint16_t bg_checksum;	/* crc16 (gdt_csum) or crc32c & 0xffff */
	/* the fields below exist only when s_desc_size >= 64 */
	uint32_t bg_block_bitmap_hi;
	uint32_t bg_inode_bitmap_hi;
	uint32_t bg_inode_table_hi;
	uint16_t bg_free_blocks_count_hi;
	uint16_t bg_free_inodes_count_hi;
	uint16_t bg_used_dirs_count_hi;
	uint16_t bg_itable_unused_hi;
	uint32_t bg_exclude_bitmap_hi;
	uint16_t bg_block_bitmap_csum_hi;
	uint16_t bg_inode_bitmap_csum_hi;
	uint32_t bg_reserved;
};
static_assert(sizeof(struct ext4_group_desc) == 64, "group desc size");
static_assert(offsetof(struct ext4_group_desc, bg_checksum) == 0x1E, "gd");
static_assert(offsetof(struct ext4_group_desc, bg_block_bitmap_hi) == 0x20,
	      "gd");

/* ---- inodes ---- */

#define EXT4_BAD_INO		1
#define EXT4_ROOT_INO		2
#define EXT4_USR_QUOTA_INO	3
#define EXT4_GRP_QUOTA_INO	4
#define EXT4_BOOT_LOADER_INO	5
#define EXT4_UNDEL_DIR_INO	6
#define EXT4_RESIZE_INO		7
#define EXT4_JOURNAL_INO	8

#define EXT4_N_BLOCKS		15	/* i_block: 60 bytes */
#define EXT4_LINK_MAX		65000	/* dir_nlink: 1 means "many" beyond */

/* i_flags (chattr flags are the FS_*_FL of <linux/fs.h>, same values) */
#define EXT4_SECRM_FL		0x00000001
#define EXT4_UNRM_FL		0x00000002
#define EXT4_COMPR_FL		0x00000004
#define EXT4_SYNC_FL		0x00000008
#define EXT4_IMMUTABLE_FL	0x00000010
#define EXT4_APPEND_FL		0x00000020
#define EXT4_NODUMP_FL		0x00000040
#define EXT4_NOATIME_FL		0x00000080
#define EXT4_DIRTY_FL		0x00000100
#define EXT4_COMPRBLK_FL	0x00000200
#define EXT4_NOCOMPR_FL		0x00000400
#define EXT4_ENCRYPT_FL		0x00000800
#define EXT4_INDEX_FL		0x00001000
#define EXT4_IMAGIC_FL		0x00002000
#define EXT4_JOURNAL_DATA_FL	0x00004000
#define EXT4_NOTAIL_FL		0x00008000
#define EXT4_DIRSYNC_FL		0x00010000
#define EXT4_TOPDIR_FL		0x00020000
#define EXT4_HUGE_FILE_FL	0x00040000
#define EXT4_EXTENTS_FL		0x00080000
#define EXT4_VERITY_FL		0x00100000
#define EXT4_EA_INODE_FL	0x00200000
#define EXT4_DAX_FL		0x02000000
#define EXT4_INLINE_DATA_FL	0x10000000
#define EXT4_PROJINHERIT_FL	0x20000000
#define EXT4_CASEFOLD_FL	0x40000000
/* what chattr may set on ext4 (EXT4_FL_USER_MODIFIABLE) */
#define EXT4_FL_USER_MODIFIABLE	0x604BC0FF

/* The 160 bytes ext4 defines; s_inode_size (>= 128) may be larger. */
struct ext4_inode {
	uint16_t i_mode;
	uint16_t i_uid;
	uint32_t i_size_lo;
	uint32_t i_atime;
	uint32_t i_ctime;
	uint32_t i_mtime;
	uint32_t i_dtime;
	uint16_t i_gid;
	uint16_t i_links_count;
	uint32_t i_blocks_lo;
	uint32_t i_flags;
	uint32_t l_i_version;		/* osd1 */
	uint32_t i_block[EXT4_N_BLOCKS];
	uint32_t i_generation;
	uint32_t i_file_acl_lo;
	uint32_t i_size_high;
	uint32_t i_obso_faddr;
	uint16_t l_i_blocks_high;	/* osd2.linux2 */
	uint16_t l_i_file_acl_high;
	uint16_t l_i_uid_high;
	uint16_t l_i_gid_high;
	uint16_t l_i_checksum_lo;
	uint16_t l_i_reserved;
	/* the extra fields: present when 128 + i_extra_isize covers them */
	uint16_t i_extra_isize;
	uint16_t i_checksum_hi;
	uint32_t i_ctime_extra;		/* (nsec << 2) | epoch bits */
	uint32_t i_mtime_extra;
	uint32_t i_atime_extra;
	uint32_t i_crtime;
	uint32_t i_crtime_extra;
	uint32_t i_version_hi;
	uint32_t i_projid;
};
static_assert(sizeof(struct ext4_inode) == 160, "inode size");
static_assert(offsetof(struct ext4_inode, i_block) == 0x28, "inode");
static_assert(offsetof(struct ext4_inode, l_i_checksum_lo) == 0x7C, "inode");
static_assert(offsetof(struct ext4_inode, i_extra_isize) == 0x80, "inode");

/* Does an inode with @extra_isize have the extra field @field? */
#define EXT4_INODE_HAS_EXTRA(extra_isize, field)                            \
	(offsetof(struct ext4_inode, field) + sizeof(((struct ext4_inode *)0)->field) \
	 <= EXT4_GOOD_OLD_INODE_SIZE + (size_t)(extra_isize))

#define EXT4_EPOCH_BITS		2
#define EXT4_EPOCH_MASK		((1u << EXT4_EPOCH_BITS) - 1)
#define EXT4_NSEC_MASK		(~0u << EXT4_EPOCH_BITS)

/* ---- extent tree (i_block of an EXT4_EXTENTS_FL inode, and tree blocks) */

#define EXT4_EXT_MAGIC		0xF30A
#define EXT4_EXT_MAX_DEPTH	5
#define EXT_INIT_MAX_LEN	32768u	/* ee_len of a written extent */
#define EXT_UNWRITTEN_MAX_LEN	32767u	/* ee_len - 32768 when unwritten */

struct ext4_extent_header {
	uint16_t eh_magic;
	uint16_t eh_entries;
	uint16_t eh_max;
	uint16_t eh_depth;	/* 0: entries are ext4_extent (leaf) */
	uint32_t eh_generation;
};

struct ext4_extent {		/* leaf entry */
	uint32_t ee_block;	/* first logical block */
	uint16_t ee_len;	/* > 32768: unwritten, length ee_len - 32768 */
	uint16_t ee_start_hi;
	uint32_t ee_start_lo;
};

struct ext4_extent_idx {	/* index entry */
	uint32_t ei_block;	/* covers logical blocks from here */
	uint32_t ei_leaf_lo;	/* the next level's block */
	uint16_t ei_leaf_hi;
	uint16_t ei_unused;
};

struct ext4_extent_tail {	/* after eh_max entries in a tree block */
	uint32_t et_checksum;	/* crc32c(inode seed, block up to here) */
};
static_assert(sizeof(struct ext4_extent_header) == 12, "extent header");
static_assert(sizeof(struct ext4_extent) == 12, "extent");
static_assert(sizeof(struct ext4_extent_idx) == 12, "extent idx");

/* ---- directories ---- */

#define EXT4_NAME_LEN		255

/* file_type of ext4_dir_entry_2 */
#define EXT4_FT_UNKNOWN		0
#define EXT4_FT_REG_FILE	1
#define EXT4_FT_DIR		2
#define EXT4_FT_CHRDEV		3
#define EXT4_FT_BLKDEV		4
#define EXT4_FT_FIFO		5
#define EXT4_FT_SOCK		6
#define EXT4_FT_SYMLINK		7
#define EXT4_FT_MAX		8
#define EXT4_FT_DIR_CSUM	0xDE	/* det_reserved_ft of the tail */

struct ext4_dir_entry_2 {
	uint32_t inode;		/* 0: unused entry */
	uint16_t rec_len;	/* to the next entry; multiple of 4 */
	uint8_t  name_len;
	uint8_t  file_type;
	char     name[EXT4_NAME_LEN];
};
#define EXT4_DIR_ENTRY_HEADER	8
/* rec_len needed for a name of @len bytes */
#define EXT4_DIR_REC_LEN(len)	(((len) + EXT4_DIR_ENTRY_HEADER + 3) & ~3u)

/* Last 12 bytes of a linear directory block under metadata_csum. */
struct ext4_dir_entry_tail {
	uint32_t det_reserved_zero1;	/* looks like an unused entry */
	uint16_t det_rec_len;		/* 12 */
	uint8_t  det_reserved_zero2;	/* name_len 0 */
	uint8_t  det_reserved_ft;	/* EXT4_FT_DIR_CSUM */
	uint32_t det_checksum;		/* crc32c(inode seed, block to here) */
};
static_assert(sizeof(struct ext4_dir_entry_tail) == 12, "dir tail");

/* htree (dir_index) */
#define DX_HASH_LEGACY			0
#define DX_HASH_HALF_MD4		1
#define DX_HASH_TEA			2
#define DX_HASH_LEGACY_UNSIGNED		3
#define DX_HASH_HALF_MD4_UNSIGNED	4
#define DX_HASH_TEA_UNSIGNED		5
#define DX_HASH_SIPHASH			6

struct fake_dirent {
	uint32_t inode;
	uint16_t rec_len;
	uint8_t  name_len;
	uint8_t  file_type;
};

struct dx_countlimit {		/* overlays the first dx_entry */
	uint16_t limit;
	uint16_t count;
};

struct dx_entry {
	uint32_t hash;
	uint32_t block;		/* logical block of the directory */
};

struct dx_root_info {
	uint32_t reserved_zero;
	uint8_t  hash_version;
	uint8_t  info_length;	/* 8 */
	uint8_t  indirect_levels;
	uint8_t  unused_flags;
};

struct dx_root {		/* logical block 0 of an indexed directory */
	struct fake_dirent dot;
	char dot_name[4];
	struct fake_dirent dotdot;	/* rec_len covers the rest of the block */
	char dotdot_name[4];
	struct dx_root_info info;
	struct dx_entry entries[];	/* entries[0] is a dx_countlimit */
};

struct dx_node {		/* an interior index block */
	struct fake_dirent fake;	/* inode 0, rec_len = block size */
	struct dx_entry entries[];
};

struct dx_tail {		/* after limit entries under metadata_csum */
	uint32_t dt_reserved;
	uint32_t dt_checksum;
};
static_assert(offsetof(struct dx_root, info) == 24, "dx_root");
static_assert(offsetof(struct dx_root, entries) == 32, "dx_root");

#endif /* SDX_ONDISK_H */
