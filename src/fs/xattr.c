/*
 * xattr.c - extended attributes, stored where and how ext4 stores them:
 * in the inode's body after its extra fields, and in one external block
 * (i_file_acl) that inodes may share.  POSIX ACLs are converted between
 * the Linux xattr form (posix_acl_xattr, version 2) and ext4's compact
 * on-disk form (version 1) here.
 *
 * On the media (little-endian):
 *
 *   in-inode ("ibody"), the s_inode_size - 128 - i_extra_isize bytes after
 *   the extra fields:
 *     u32 magic 0xEA020000 | entries ... | u32 0 | free | values
 *     (e_value_offs counts from the first entry, after the magic)
 *
 *   block (4096 bytes):
 *     header (32): h_magic 0xEA020000, h_refcount, h_blocks 1, h_hash,
 *                  h_checksum (crc32c(fs seed, le64 block, block with
 *                  h_checksum 0) under metadata_csum), 3 reserved words
 *     entries ... | u32 0 | free | values    (e_value_offs from the block)
 *
 *   entry (16 + name, padded to 4): e_name_len, e_name_index,
 *     e_value_offs (le16), e_value_inum (le32, 0: no ea_inode), e_value_size
 *     (le32), e_hash (le32), e_name (not NUL-ended)
 *   values are padded with zeroes to 4 bytes.
 *
 *   e_hash = name bytes folded (h << 5 ^ h >> 27 ^ unsigned byte), then the
 *   padded value's le32 words folded (h << 16 ^ h >> 16 ^ word) -- what
 *   Linux and e2fsprogs compute; h_hash folds every e_hash the same way
 *   (<< 16), or is 0 when an entry's hash is 0.
 *
 *   name indexes: 1 user., 2 system.posix_acl_access (empty name),
 *   3 system.posix_acl_default (empty name), 4 trusted., 6 security.;
 *   other indexes on the media are kept as they are but not listed.
 *
 * A change decodes both places into lists (struct xattr_set, copies of
 * the media), edits the lists and writes back the place(s) that changed,
 * repacked: entries in list order, values from the end.  Placement is
 * Linux's: a value goes into the inode if it fits there (its old copy in
 * the block removed), else into the block (its old copy in the inode
 * removed), else -ENOSPC.  In the block, entries stay sorted by (index,
 * name length, name), as ext4 sorts them; in the inode, new ones go last.
 *
 * External block states, per inode:
 *
 *   NONE --first attribute that only fits the block--> OWN (refcount 1)
 *   OWN  --change--> OWN (rewritten in place)
 *   SHARED (refcount > 1) --change--> OWN (a new block: copy-on-write;
 *          the old one loses a reference)
 *   OWN --last attribute removed / inode deleted--> NONE (block freed)
 *   SHARED --last attribute removed / inode deleted--> NONE (refcount - 1)
 *
 * Invariants:
 *   (1) Every offset, size and name length read from the media is checked
 *       against its area before use (-EUCLEAN with a sentence otherwise).
 *   (2) A call changes everything (inode body, block, bitmaps, i_blocks,
 *       ctime) in one handle; nothing is written when a check fails.
 *   (3) i_blocks counts the external block once for each inode that
 *       references it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs/fs.h"
#include "fs/ops.h"
#include "lib/crc32c.h"
#include "lib/err.h"

#define XATTR_MAGIC		0xEA020000u
#define XATTR_PAD		4u
#define XATTR_ENTRY_SIZE	16u	/* the entry without its name */
#define XATTR_BLOCK_HEADER	32u
#define XATTR_IBODY_HEADER	4u	/* the magic */
#define XATTR_NAME_LEN		255u	/* a whole name (XATTR_NAME_MAX) */
#define XATTR_MAX_ENTRIES	(SDX_BLOCK_SIZE / XATTR_ENTRY_SIZE)

#define XATTR_INDEX_USER		1
#define XATTR_INDEX_POSIX_ACL_ACCESS	2
#define XATTR_INDEX_POSIX_ACL_DEFAULT	3
#define XATTR_INDEX_TRUSTED		4
#define XATTR_INDEX_SECURITY		6

/* Header field offsets of the external block. */
#define H_MAGIC		0
#define H_REFCOUNT	4
#define H_BLOCKS	8
#define H_HASH		12
#define H_CHECKSUM	16

/* Entry field offsets. */
#define E_NAME_LEN	0
#define E_NAME_INDEX	1
#define E_VALUE_OFFS	2
#define E_VALUE_INUM	4
#define E_VALUE_SIZE	8
#define E_HASH		12
#define E_NAME		16

static inline uint32_t pad4(uint32_t n)
{
	return (n + XATTR_PAD - 1) & ~(XATTR_PAD - 1);
}

/* Bytes an entry with a name of @name_len takes (EXT4_XATTR_LEN). */
static inline uint32_t entry_len(uint32_t name_len)
{
	return pad4(XATTR_ENTRY_SIZE + name_len);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

/* One attribute; name and value point into a copy the set owns. */
struct xattr {
	uint8_t index;
	uint8_t name_len;
	uint32_t value_size;
	const char *name;
	const uint8_t *value;
};

/* The attributes of one place (the inode body or the block). */
struct xattr_area {
	struct xattr e[XATTR_MAX_ENTRIES];
	unsigned n;
	uint32_t size;		/* bytes of the place; 0: no room at all */
	uint32_t header;	/* bytes before the first entry */
	uint32_t value_base;	/* e_value_offs counts from here */
	bool is_changed;
};

/* Both places of an inode, decoded from copies of the media. */
struct xattr_set {
	struct sdx_inode *inode;
	struct xattr_area ibody;
	struct xattr_area block;
	uint64_t block_nr;		/* i_file_acl, 0: none */
	uint32_t block_refcount;
	uint8_t ibody_copy[SDX_BLOCK_SIZE];
	uint8_t block_copy[SDX_BLOCK_SIZE];
	uint8_t new_value[SDX_BLOCK_SIZE];	/* the value being set */
};

/* ---- hashes and checksum ---- */

static uint32_t entry_hash(const struct xattr *x)
{
	uint32_t hash = 0;

	for (unsigned i = 0; i < x->name_len; i++)
		hash = (hash << 5) ^ (hash >> 27) ^ (uint8_t)x->name[i];
	for (uint32_t off = 0; off < x->value_size; off += 4) {
		uint8_t word[4] = { 0, 0, 0, 0 };
		uint32_t n = x->value_size - off < 4 ? x->value_size - off : 4;

		memcpy(word, x->value + off, n);
		hash = (hash << 16) ^ (hash >> 16) ^ get32(word);
	}
	return hash;
}

/* h_hash of the block @data, its entries encoded. */
static uint32_t block_hash(const uint8_t *data)
{
	uint32_t hash = 0;

	for (uint32_t pos = XATTR_BLOCK_HEADER; get32(data + pos);
	     pos += entry_len(data[pos + E_NAME_LEN])) {
		uint32_t e_hash = get32(data + pos + E_HASH);

		if (!e_hash)
			return 0;
		hash = (hash << 16) ^ (hash >> 16) ^ e_hash;
	}
	return hash;
}

static uint32_t block_csum(const struct sdx_fs *fs, uint64_t block,
			   const uint8_t *data)
{
	const uint32_t zero = 0;
	uint32_t c = sdx_crc32c(fs->csum_seed, &block, 8);

	c = sdx_crc32c(c, data, H_CHECKSUM);
	c = sdx_crc32c(c, &zero, 4);
	return sdx_crc32c(c, data + H_CHECKSUM + 4,
			  SDX_BLOCK_SIZE - H_CHECKSUM - 4);
}

static void block_set_csum(const struct sdx_fs *fs, uint64_t block,
			   uint8_t *data)
{
	if (fs->has_csum)
		put32(data + H_CHECKSUM, block_csum(fs, block, data));
}

/* ---- decoding (invariant 1) ---- */

static uint64_t file_acl(const struct sdx_inode *inode)
{
	return inode->raw.i_file_acl_lo |
	       (uint64_t)inode->raw.l_i_file_acl_high << 32;
}

static void set_file_acl(struct sdx_inode *inode, uint64_t block)
{
	inode->raw.i_file_acl_lo = (uint32_t)block;
	inode->raw.l_i_file_acl_high = (uint16_t)(block >> 32);
}

/*
 * Decode the entries of @data (@a->size bytes, entries from @a->header)
 * into @a.  @where names the place for the sentence.
 */
static int area_decode(struct xattr_area *a, const uint8_t *data,
		       uint32_t ino, const char *where)
{
	uint32_t pos = a->header, end_of_entries;

	a->n = 0;
	while (pos + 4 <= a->size && get32(data + pos)) {
		uint32_t name_len = data[pos + E_NAME_LEN];
		struct xattr *x = &a->e[a->n];

		if (pos + entry_len(name_len) + 4 > a->size ||
		    a->n == XATTR_MAX_ENTRIES)
			return sdx_err(-EUCLEAN, "inode %u: extended attribute "
				       "entry at %u of the %s runs past its end "
				       "(%u bytes)", ino, pos, where, a->size);
		if (memchr(data + pos + E_NAME, 0, name_len))
			return sdx_err(-EUCLEAN, "inode %u: extended attribute "
				       "name at %u of the %s holds a NUL", ino,
				       pos, where);
		if (get32(data + pos + E_VALUE_INUM))
			return sdx_err(-EUCLEAN, "inode %u: extended attribute "
				       "in the %s has its value in inode %u "
				       "(ea_inode is not enabled)", ino, where,
				       get32(data + pos + E_VALUE_INUM));
		x->index = data[pos + E_NAME_INDEX];
		x->name_len = (uint8_t)name_len;
		x->name = (const char *)data + pos + E_NAME;
		x->value_size = get32(data + pos + E_VALUE_SIZE);
		/* the offset is checked once the end of the entries is known */
		x->value = data + get16(data + pos + E_VALUE_OFFS);
		a->n++;
		pos += entry_len(name_len);
	}
	if (pos + 4 > a->size)
		return sdx_err(-EUCLEAN, "inode %u: extended attribute entries "
			       "of the %s have no end", ino, where);
	end_of_entries = pos + 4;
	for (unsigned i = 0; i < a->n; i++) {
		struct xattr *x = &a->e[i];
		uint32_t offs = (uint32_t)(x->value - data);

		if (x->value_size == 0) {
			x->value = data;	/* nothing is read */
			continue;
		}
		if (x->value_size > a->size ||
		    (uint64_t)a->value_base + offs < end_of_entries ||
		    (uint64_t)a->value_base + offs + pad4(x->value_size) >
		    a->size)
			return sdx_err(-EUCLEAN, "inode %u: extended attribute "
				       "value in the %s at offset %u, %u bytes, "
				       "is outside %u..%u", ino, where, offs,
				       x->value_size, end_of_entries, a->size);
		x->value = data + a->value_base + offs;
	}
	return 0;
}

/* Where the inode body's attribute area starts, and its size (0: none). */
static uint32_t ibody_offset(const struct sdx_inode *inode, uint32_t *size)
{
	const struct sdx_fs *fs = inode->fs;
	uint32_t off = EXT4_GOOD_OLD_INODE_SIZE + inode->raw.i_extra_isize;

	*size = 0;
	if (fs->inode_size > off + XATTR_IBODY_HEADER + entry_len(1) + 4)
		*size = fs->inode_size - off;
	return off;
}

static int ibody_read(struct xattr_set *s)
{
	struct sdx_inode *inode = s->inode;
	uint32_t off = ibody_offset(inode, &s->ibody.size);
	const uint8_t *rec;
	int err;

	s->ibody.header = XATTR_IBODY_HEADER;
	s->ibody.value_base = XATTR_IBODY_HEADER;
	s->ibody.n = 0;
	if (!s->ibody.size || inode->is_new)
		return 0;
	err = sdx_inode_record(inode, &rec);
	if (err)
		return err;
	memcpy(s->ibody_copy, rec + off, s->ibody.size);
	if (get32(s->ibody_copy) != XATTR_MAGIC)
		return 0;
	return area_decode(&s->ibody, s->ibody_copy, inode->ino, "inode");
}

/* Check the external block's header (and checksum) in @data. */
static int block_check(struct sdx_inode *inode, uint64_t block,
		       const uint8_t *data)
{
	struct sdx_fs *fs = inode->fs;
	uint32_t magic = get32(data + H_MAGIC);
	uint32_t blocks = get32(data + H_BLOCKS);
	uint32_t refcount = get32(data + H_REFCOUNT);

	if (magic != XATTR_MAGIC || blocks != 1 || refcount == 0)
		return sdx_err(-EUCLEAN, "inode %u: extended attribute block "
			       "%llu: magic 0x%08x, %u blocks, refcount %u",
			       inode->ino, (unsigned long long)block, magic,
			       blocks, refcount);
	if (fs->has_csum && get32(data + H_CHECKSUM) !=
	    block_csum(fs, block, data))
		return sdx_err(-EUCLEAN, "inode %u: extended attribute block "
			       "%llu: checksum 0x%08x, expected 0x%08x",
			       inode->ino, (unsigned long long)block,
			       get32(data + H_CHECKSUM),
			       block_csum(fs, block, data));
	return 0;
}

static int block_valid(struct sdx_inode *inode, uint64_t block)
{
	if (!sdx_fs_block_valid(inode->fs, block, 1))
		return sdx_err(-EUCLEAN, "inode %u: extended attribute block "
			       "%llu outside the file system", inode->ino,
			       (unsigned long long)block);
	return 0;
}

static int block_read(struct xattr_set *s)
{
	struct sdx_inode *inode = s->inode;
	const uint8_t *data;
	int err;

	s->block.header = XATTR_BLOCK_HEADER;
	s->block.value_base = 0;
	s->block.size = SDX_BLOCK_SIZE;
	s->block.n = 0;
	s->block_nr = file_acl(inode);
	if (!s->block_nr)
		return 0;
	err = block_valid(inode, s->block_nr);
	if (err)
		return err;
	data = sdx_bread(inode->fs, s->block_nr, &err);
	if (!data)
		return err;
	err = block_check(inode, s->block_nr, data);
	if (err)
		return err;
	memcpy(s->block_copy, data, SDX_BLOCK_SIZE);
	s->block_refcount = get32(data + H_REFCOUNT);
	return area_decode(&s->block, s->block_copy, inode->ino, "block");
}

/* Does @inode have attributes anywhere?  (No decoding: a fast answer
 * for the calls that only care about an ACL.)  Context: lock. */
static int has_xattrs(struct sdx_inode *inode, bool *has)
{
	uint32_t size, off = ibody_offset(inode, &size);
	const uint8_t *rec;
	int err;

	*has = file_acl(inode) != 0;
	if (*has || !size || inode->is_new)
		return 0;
	err = sdx_inode_record(inode, &rec);
	if (!err)
		*has = get32(rec + off) == XATTR_MAGIC;
	return err;
}

/* Read both places of @inode.  Context: lock.  Return: 0, -ENOMEM,
 * -EUCLEAN, -EIO; *@out to free with free(). */
static int set_read(struct sdx_inode *inode, struct xattr_set **out)
{
	struct xattr_set *s = malloc(sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->inode = inode;
	s->ibody.is_changed = false;
	s->block.is_changed = false;
	s->block_refcount = 0;
	err = ibody_read(s);
	if (!err)
		err = block_read(s);
	if (err) {
		free(s);
		return err;
	}
	*out = s;
	return 0;
}

/* ---- names ---- */

static const struct {
	const char *prefix;
	uint8_t index;
	bool is_whole_name;	/* the prefix is the name (ACLs) */
} prefixes[] = {
	{ "user.", XATTR_INDEX_USER, false },
	{ "system.posix_acl_access", XATTR_INDEX_POSIX_ACL_ACCESS, true },
	{ "system.posix_acl_default", XATTR_INDEX_POSIX_ACL_DEFAULT, true },
	{ "trusted.", XATTR_INDEX_TRUSTED, false },
	{ "security.", XATTR_INDEX_SECURITY, false },
};
#define NR_PREFIXES (sizeof(prefixes) / sizeof(prefixes[0]))

/* The attribute @name names: index and the name stored (in @key). */
static int parse_name(const char *name, struct xattr *key)
{
	size_t len = strlen(name);

	if (len == 0 || len > XATTR_NAME_LEN)
		return sdx_err(-ERANGE, "extended attribute name of %zu bytes "
			       "(1..%u)", len, XATTR_NAME_LEN);
	for (size_t i = 0; i < NR_PREFIXES; i++) {
		size_t plen = strlen(prefixes[i].prefix);

		if (prefixes[i].is_whole_name ? strcmp(name,
						       prefixes[i].prefix) :
		    strncmp(name, prefixes[i].prefix, plen))
			continue;
		if (!prefixes[i].is_whole_name && len == plen)
			return sdx_err(-EINVAL, "extended attribute name "
				       "\"%s\" is only a prefix", name);
		key->index = prefixes[i].index;
		key->name = name + plen;
		key->name_len = (uint8_t)(len - plen);
		return 0;
	}
	return sdx_err(-EOPNOTSUPP, "extended attribute \"%s\": ext4 stores "
		       "only user., trusted., security. and the POSIX ACLs",
		       name);
}

/* The prefix under which entries of @index are listed (NULL: not). */
static const char *index_prefix(uint8_t index)
{
	for (size_t i = 0; i < NR_PREFIXES; i++)
		if (prefixes[i].index == index)
			return prefixes[i].prefix;
	return NULL;
}

static bool same_name(const struct xattr *a, const struct xattr *b)
{
	return a->index == b->index && a->name_len == b->name_len &&
	       memcmp(a->name, b->name, a->name_len) == 0;
}

static int area_find(const struct xattr_area *a, const struct xattr *key)
{
	for (unsigned i = 0; i < a->n; i++)
		if (same_name(&a->e[i], key))
			return (int)i;
	return -1;
}

/* ---- ACLs: ext4's on-disk form <-> posix_acl_xattr (version 2) ---- */

#define ACL_XATTR_VERSION	2
#define ACL_DISK_VERSION	1
#define ACL_USER_OBJ	0x01
#define ACL_USER	0x02
#define ACL_GROUP_OBJ	0x04
#define ACL_GROUP	0x08
#define ACL_MASK	0x10
#define ACL_OTHER	0x20
#define ACL_UNDEFINED_ID 0xFFFFFFFFu

static bool acl_has_id(uint16_t tag)
{
	return tag == ACL_USER || tag == ACL_GROUP;
}

static int acl_disk_version(const struct sdx_inode *inode,
			    const struct xattr *x)
{
	if (x->value_size < 4 || get32(x->value) != ACL_DISK_VERSION)
		return sdx_err(-EUCLEAN, "inode %u: POSIX ACL of %u bytes, "
			       "not version %u", inode->ino, x->value_size,
			       ACL_DISK_VERSION);
	return 0;
}

/*
 * The entry of ext4's ACL form @x at *@pos, which moves past it (4 bytes,
 * 8 with an id).  Return: 1 and the entry, 0 at the end, -EUCLEAN for a
 * cut entry or an unknown tag.
 */
static int acl_disk_next(const struct sdx_inode *inode, const struct xattr *x,
			 uint32_t *pos, uint16_t *tag, uint16_t *perm,
			 uint32_t *id)
{
	uint32_t left = x->value_size - *pos;

	if (*pos >= x->value_size)
		return 0;
	if (left < 4)
		goto out_bad;
	*tag = get16(x->value + *pos);
	*perm = get16(x->value + *pos + 2);
	*id = ACL_UNDEFINED_ID;
	if (acl_has_id(*tag)) {
		if (left < 8)
			goto out_bad;
		*id = get32(x->value + *pos + 4);
		*pos += 8;
		return 1;
	}
	if (*tag != ACL_USER_OBJ && *tag != ACL_GROUP_OBJ &&
	    *tag != ACL_MASK && *tag != ACL_OTHER)
		goto out_bad;
	*pos += 4;
	return 1;
out_bad:
	return sdx_err(-EUCLEAN, "inode %u: POSIX ACL entry at byte %u is "
		       "cut or has an unknown tag", inode->ino, *pos);
}

/* ext4's form in @x to the xattr form in @out (NULL: size only). */
static int acl_to_xattr(const struct sdx_inode *inode, const struct xattr *x,
			uint8_t *out, size_t *len)
{
	uint32_t pos = 4, id;
	uint16_t tag, perm;
	int r = acl_disk_version(inode, x);

	*len = 4;
	if (r)
		return r;
	if (out)
		put32(out, ACL_XATTR_VERSION);
	while ((r = acl_disk_next(inode, x, &pos, &tag, &perm, &id)) > 0) {
		if (out) {
			put16(out + *len, tag);
			put16(out + *len + 2, perm);
			put32(out + *len + 4, id);
		}
		*len += 8;
	}
	return r;
}

/*
 * Check the xattr-form ACL @v (@n bytes) as posix_acl_valid does (one
 * USER_OBJ, GROUP_OBJ, OTHER; entries in tag order, ids increasing; a
 * MASK when there are named entries) and write ext4's form to @out.
 * *@mode_bits gets the permission bits it implies, *@is_equiv whether the
 * mode says it all.
 */
static int acl_from_xattr(const uint8_t *v, size_t n, uint8_t *out,
			  uint32_t *out_len, mode_t *mode_bits, bool *is_equiv)
{
	uint16_t last_tag = 0;
	uint32_t last_id = 0, len = 4;
	bool has_named = false, has_mask = false;
	unsigned base = 0;
	mode_t mode = 0;

	if (n < 4)
		return sdx_err(-EINVAL, "POSIX ACL of %zu bytes", n);
	if (get32(v) != ACL_XATTR_VERSION)
		return sdx_err(-EOPNOTSUPP, "POSIX ACL: not version %u",
			       ACL_XATTR_VERSION);
	if ((n - 4) % 8)
		return sdx_err(-EINVAL, "POSIX ACL of %zu bytes: not a "
			       "header and 8-byte entries", n);
	put32(out, ACL_DISK_VERSION);
	for (size_t pos = 4; pos < n; pos += 8) {
		uint16_t tag = get16(v + pos), perm = get16(v + pos + 2);
		uint32_t id = get32(v + pos + 4);

		if ((tag & (tag - 1)) || tag > ACL_OTHER || tag < last_tag ||
		    (tag == last_tag && (!acl_has_id(tag) || id <= last_id)) ||
		    (perm & ~7u))
			return sdx_err(-EINVAL, "POSIX ACL: entry %zu (tag "
				       "0x%x) out of order or invalid",
				       (pos - 4) / 8, tag);
		if (tag == ACL_USER_OBJ)
			mode |= (mode_t)perm << 6, base++;
		else if (tag == ACL_GROUP_OBJ && !has_mask)
			mode |= (mode_t)perm << 3, base++;
		else if (tag == ACL_GROUP_OBJ)
			base++;
		else if (tag == ACL_MASK)
			mode = (mode & ~(mode_t)070) | (mode_t)perm << 3,
			has_mask = true;
		else if (tag == ACL_OTHER)
			mode |= perm, base++;
		else
			has_named = true;
		put16(out + len, tag);
		put16(out + len + 2, perm);
		if (acl_has_id(tag))
			put32(out + len + 4, id);
		len += acl_has_id(tag) ? 8 : 4;
		last_tag = tag;
		last_id = id;
	}
	if (base != 3 || (has_named && !has_mask))
		return sdx_err(-EINVAL, "POSIX ACL: needs one user, group and "
			       "other entry, and a mask with named entries");
	*out_len = len;
	*mode_bits = mode;
	*is_equiv = !has_named;
	return 0;
}

/* ---- reading ---- */

static const struct xattr *set_find(const struct xattr_set *s,
				    const struct xattr *key)
{
	int i = area_find(&s->ibody, key);

	if (i >= 0)
		return &s->ibody.e[i];
	i = area_find(&s->block, key);
	return i >= 0 ? &s->block.e[i] : NULL;
}

static bool is_reg_or_dir(const struct sdx_inode *inode)
{
	return S_ISREG(inode->raw.i_mode) || S_ISDIR(inode->raw.i_mode);
}

static bool is_acl(uint8_t index)
{
	return index == XATTR_INDEX_POSIX_ACL_ACCESS ||
	       index == XATTR_INDEX_POSIX_ACL_DEFAULT;
}

ssize_t sdx_xattr_get(struct sdx_inode *inode, const char *name, void *buf,
		      size_t size)
{
	struct xattr key;
	struct xattr_set *s;
	const struct xattr *x;
	size_t len;
	int err = parse_name(name, &key);

	if (err)
		return err;
	/* xattr_permission: user.* is for regular files and directories */
	if (key.index == XATTR_INDEX_USER && !is_reg_or_dir(inode))
		return -ENODATA;
	err = set_read(inode, &s);
	if (err)
		return err;
	x = set_find(s, &key);
	if (!x) {
		err = -ENODATA;
	} else if (is_acl(x->index)) {
		err = acl_to_xattr(inode, x, NULL, &len);
		if (!err && size && len > size)
			err = -ERANGE;
		if (!err && size)
			err = acl_to_xattr(inode, x, buf, &len);
	} else {
		len = x->value_size;
		if (size && len > size)
			err = -ERANGE;
		else if (size)
			memcpy(buf, x->value, len);
	}
	free(s);
	return err ? err : (ssize_t)len;
}

/* Append the names of @a to @buf (@size 0: count only). */
static int area_list(const struct xattr_area *a, char *buf, size_t size,
		     size_t *len)
{
	for (unsigned i = 0; i < a->n; i++) {
		const char *prefix = index_prefix(a->e[i].index);
		size_t plen, n;

		if (!prefix)
			continue;
		plen = strlen(prefix);
		n = plen + a->e[i].name_len + 1;
		if (size && *len + n > size)
			return -ERANGE;
		if (size) {
			memcpy(buf + *len, prefix, plen);
			memcpy(buf + *len + plen, a->e[i].name,
			       a->e[i].name_len);
			buf[*len + n - 1] = '\0';
		}
		*len += n;
	}
	return 0;
}

ssize_t sdx_xattr_list(struct sdx_inode *inode, char *buf, size_t size)
{
	struct xattr_set *s;
	size_t len = 0;
	int err = set_read(inode, &s);

	if (err)
		return err;
	err = area_list(&s->ibody, buf, size, &len);
	if (!err)
		err = area_list(&s->block, buf, size, &len);
	free(s);
	return err ? err : (ssize_t)len;
}

/* ---- changing ---- */

/* Bytes @a's entries and values need, header and end marker included. */
static uint32_t area_used(const struct xattr_area *a)
{
	uint32_t used = a->header + 4;

	for (unsigned i = 0; i < a->n; i++)
		used += entry_len(a->e[i].name_len) + pad4(a->e[i].value_size);
	return used;
}

static void area_remove(struct xattr_area *a, int i)
{
	memmove(&a->e[i], &a->e[i + 1], (a->n - (unsigned)i - 1) *
		sizeof(a->e[0]));
	a->n--;
	a->is_changed = true;
}

/* ext4's order of block entries: index, name length, name. */
static int entry_cmp(const struct xattr *a, const struct xattr *b)
{
	if (a->index != b->index)
		return a->index - b->index;
	if (a->name_len != b->name_len)
		return a->name_len - b->name_len;
	return memcmp(a->name, b->name, a->name_len);
}

/*
 * Put @x into @a in place of its old copy (or last in the inode, sorted in
 * the block) if it fits; -ENOSPC and @a unchanged if not.
 */
static int area_put(struct xattr_area *a, const struct xattr *x,
		    bool is_sorted)
{
	int old = area_find(a, x);
	uint32_t used = area_used(a);
	unsigned at;

	if (old >= 0)
		used -= entry_len(x->name_len) + pad4(a->e[old].value_size);
	if (!a->size || used + entry_len(x->name_len) + pad4(x->value_size) >
	    a->size || (old < 0 && a->n == XATTR_MAX_ENTRIES))
		return -ENOSPC;
	if (old >= 0) {
		a->e[old] = *x;
		a->is_changed = true;
		return 0;
	}
	at = a->n;
	if (is_sorted)
		for (at = 0; at < a->n && entry_cmp(&a->e[at], x) < 0; at++)
			;
	memmove(&a->e[at + 1], &a->e[at], (a->n - at) * sizeof(a->e[0]));
	a->e[at] = *x;
	a->n++;
	a->is_changed = true;
	return 0;
}

/*
 * Write @a's entries and values into @data after its header (left to the
 * caller).  The names and values point into the set's copies of the
 * media or the caller's value, never into @data.
 */
static void area_encode(const struct xattr_area *a, uint8_t *data)
{
	uint32_t pos = a->header, value_end = a->size;

	memset(data + a->header, 0, a->size - a->header);
	for (unsigned i = 0; i < a->n; i++) {
		const struct xattr *x = &a->e[i];
		uint32_t offs = 0;

		if (x->value_size) {
			value_end -= pad4(x->value_size);
			memcpy(data + value_end, x->value, x->value_size);
			offs = value_end - a->value_base;
		}
		data[pos + E_NAME_LEN] = x->name_len;
		data[pos + E_NAME_INDEX] = x->index;
		put16(data + pos + E_VALUE_OFFS, (uint16_t)offs);
		put32(data + pos + E_VALUE_SIZE, x->value_size);
		put32(data + pos + E_HASH, entry_hash(x));
		memcpy(data + pos + E_NAME, x->name, x->name_len);
		pos += entry_len(x->name_len);
	}
}

/* ext4 sets the ext_attr feature at the first attribute written. */
static int set_feature(struct sdx_handle *h, struct sdx_fs *fs)
{
	struct ext4_super_block *sb;
	int err;

	if (fs->feature_compat & EXT4_FEATURE_COMPAT_EXT_ATTR)
		return 0;
	err = sdx_super_get_write(h, fs, &sb);
	if (err)
		return err;
	sb->s_feature_compat |= EXT4_FEATURE_COMPAT_EXT_ATTR;
	fs->feature_compat |= EXT4_FEATURE_COMPAT_EXT_ATTR;
	sdx_super_dirty(h, fs);
	return 0;
}

static int ibody_write(struct sdx_handle *h, struct xattr_set *s)
{
	struct sdx_inode *inode = s->inode;
	uint32_t size, off = ibody_offset(inode, &size);
	uint8_t *rec;
	int err = sdx_inode_record_write(h, inode, &rec);

	if (err)
		return err;
	rec += off;
	area_encode(&s->ibody, rec);
	put32(rec, s->ibody.n ? XATTR_MAGIC : 0);
	return 0;	/* the caller's sdx_inode_mark_dirty sets the checksum */
}

/* Write the block list into block @block (new or this inode's own). */
static int block_write(struct sdx_handle *h, struct xattr_set *s,
		       uint64_t block, bool is_new)
{
	struct sdx_fs *fs = s->inode->fs;
	uint8_t *data;
	void *b;
	int err = is_new ? sdx_journal_get_create_access(h, block, &b) :
		  sdx_journal_get_write_access(h, block, &b);

	if (err)
		return err;
	data = b;
	if (is_new) {
		memset(data, 0, XATTR_BLOCK_HEADER);
		put32(data + H_MAGIC, XATTR_MAGIC);
		put32(data + H_REFCOUNT, 1);
		put32(data + H_BLOCKS, 1);
	}
	area_encode(&s->block, data);
	put32(data + H_HASH, block_hash(data));
	block_set_csum(fs, block, data);
	sdx_journal_dirty_metadata(h, block);
	return 0;
}

/*
 * Write the block list: freed when empty, in place when the inode owns
 * the block, else into a new block (copy-on-write of a shared one).
 */
static int block_update(struct sdx_handle *h, struct xattr_set *s)
{
	struct sdx_inode *inode = s->inode;
	uint64_t block, got;
	int err;

	if (!s->block.n)
		return s->block_nr ? sdx_xattr_block_release(h, inode) : 0;
	if (s->block_nr && s->block_refcount == 1)
		return block_write(h, s, s->block_nr, false);
	err = sdx_block_alloc(h, inode, s->block_nr, 1, &block, &got);
	if (err)
		return err;
	err = block_write(h, s, block, true);
	if (!err && s->block_nr)
		err = sdx_xattr_block_release(h, inode);
	if (err)
		return err;
	set_file_acl(inode, block);
	sdx_inode_add_blocks(inode, 1);
	return 0;
}

/*
 * Edit @s: @x set, or removed (@is_remove), with Linux's placement and
 * flags (a removal passes XATTR_REPLACE: -ENODATA when missing).
 */
static int set_edit(struct xattr_set *s, const struct xattr *x, bool is_remove,
		    int flags)
{
	int in_ibody = area_find(&s->ibody, x), in_block = area_find(&s->block,
								       x);
	bool exists = in_ibody >= 0 || in_block >= 0;

	if ((flags & XATTR_CREATE) && exists)
		return -EEXIST;
	if ((flags & XATTR_REPLACE) && !exists)
		return -ENODATA;
	if (is_remove && !exists)
		return 0;	/* an ACL that was not there */
	if (is_remove) {
		if (in_ibody >= 0)
			area_remove(&s->ibody, in_ibody);
		else
			area_remove(&s->block, in_block);
		return 0;
	}
	if (area_put(&s->ibody, x, false) == 0) {
		if (in_block >= 0)
			area_remove(&s->block, in_block);
		return 0;
	}
	if (area_put(&s->block, x, true) == 0) {
		if (in_ibody >= 0)
			area_remove(&s->ibody, in_ibody);
		return 0;
	}
	return sdx_err(-ENOSPC, "inode %u: no room for an extended attribute "
		       "of %u bytes (name %u bytes) in the inode or its block",
		       s->inode->ino, x->value_size, x->name_len);
}

/*
 * Write what @s changed, in @h.  The block first: its allocation is what
 * fails (-ENOSPC), and it fails before anything changed, while a body
 * written before it would be left in the handle without its checksum.
 * Context: lock, handle open.
 */
static int set_write(struct sdx_handle *h, struct xattr_set *s)
{
	int err = 0;

	if (s->ibody.is_changed || s->block.is_changed)
		err = set_feature(h, s->inode->fs);
	if (!err && s->block.is_changed)
		err = block_update(h, s);
	if (!err && s->ibody.is_changed)
		err = ibody_write(h, s);
	return err;
}

/* What an ACL write becomes: the stored form, and a mode change. */
static int acl_prepare(struct sdx_inode *inode, struct xattr_set *s,
		       struct xattr *x, bool *is_remove, const void *value,
		       size_t size)
{
	uint32_t len = 0;
	mode_t bits = 0;
	bool is_equiv = false;
	int err;

	if (x->index == XATTR_INDEX_POSIX_ACL_DEFAULT &&
	    !S_ISDIR(inode->raw.i_mode))
		return *is_remove ? 0 : sdx_err(-EACCES, "inode %u: a default "
						"ACL needs a directory",
						inode->ino);
	if (*is_remove)
		return 0;
	if (size == 4 && get32(value) == ACL_XATTR_VERSION) {
		*is_remove = true;	/* no entries: no ACL */
		return 0;
	}
	if (size > sizeof(s->new_value))
		return sdx_err(-ENOSPC, "POSIX ACL of %zu bytes", size);
	err = acl_from_xattr(value, size, s->new_value, &len, &bits,
			     &is_equiv);
	if (err)
		return err;
	x->value = s->new_value;
	x->value_size = len;
	if (x->index == XATTR_INDEX_POSIX_ACL_ACCESS) {
		/* posix_acl_update_mode: the mode follows the ACL, and an
		 * ACL the mode says all of is not stored */
		inode->raw.i_mode = (uint16_t)((inode->raw.i_mode &
						~(mode_t)0777) | bits);
		*is_remove = is_equiv;
	}
	return 0;
}

int sdx_xattr_set(struct sdx_handle *h, struct sdx_inode *inode,
		  const char *name, const void *value, size_t size, int flags)
{
	bool is_remove = value == NULL;
	uint16_t old_mode = inode->raw.i_mode;
	struct xattr_set *s;
	struct xattr key;
	int err = parse_name(name, &key);

	if (err)
		return err;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return sdx_err(-EINVAL, "setxattr flags 0x%x", flags);
	if (inode->raw.i_flags & (EXT4_IMMUTABLE_FL | EXT4_APPEND_FL))
		return sdx_err(-EPERM, "inode %u is immutable or append-only",
			       inode->ino);
	if (key.index == XATTR_INDEX_USER && !is_reg_or_dir(inode))
		return sdx_err(-EPERM, "inode %u: user. attributes are for "
			       "regular files and directories", inode->ino);
	/* vfs_set_acl: a symlink has no set_acl */
	if (is_acl(key.index) && S_ISLNK(inode->raw.i_mode))
		return sdx_err(-EOPNOTSUPP, "inode %u: a symlink has no POSIX "
			       "ACL", inode->ino);
	err = set_read(inode, &s);
	if (err)
		return err;
	key.value = value;
	key.value_size = (uint32_t)size;
	if (is_acl(key.index)) {
		flags = 0;	/* as ext4_set_acl: no create/replace */
		err = acl_prepare(inode, s, &key, &is_remove, value, size);
	}
	if (!err)
		err = set_edit(s, &key, is_remove, flags);
	if (!err)
		err = set_write(h, s);
	if (err)
		inode->raw.i_mode = old_mode;
	free(s);
	return err;
}

int sdx_xattr_chmod(struct sdx_handle *h, struct sdx_inode *inode,
		    mode_t mode)
{
	struct xattr key = { .index = XATTR_INDEX_POSIX_ACL_ACCESS, .name = "" };
	const struct xattr *x;
	struct xattr_set *s;
	bool has_mask = false, has;
	uint32_t pos = 4, at, id;
	uint16_t tag, perm;
	int err = has_xattrs(inode, &has);

	if (!err && has)
		err = set_read(inode, &s);
	if (err || !has)
		return err;
	x = set_find(s, &key);
	if (!x)
		goto out_free;
	err = acl_disk_version(inode, x);
	while (!err && (err = acl_disk_next(inode, x, &pos, &tag, &perm,
					    &id)) > 0) {
		has_mask |= tag == ACL_MASK;
		err = 0;
	}
	if (err)
		goto out_free;
	/* posix_acl_chmod: the owner, mask (or group) and other entries */
	memcpy(s->new_value, x->value, x->value_size);
	for (pos = 4; at = pos, acl_disk_next(inode, x, &pos, &tag, &perm,
					       &id) > 0;) {
		if (tag == ACL_USER_OBJ)
			perm = (mode >> 6) & 7;
		else if (tag == ACL_MASK || (tag == ACL_GROUP_OBJ && !has_mask))
			perm = (mode >> 3) & 7;
		else if (tag == ACL_OTHER)
			perm = mode & 7;
		put16(s->new_value + at + 2, perm);
	}
	key.value = s->new_value;
	key.value_size = x->value_size;
	err = set_edit(s, &key, false, 0);
	if (!err)
		err = set_write(h, s);
out_free:
	free(s);
	return err;
}

/*
 * posix_acl_create_masq: @v (ext4's form, @n bytes, checked) masked by
 * the new inode's *@mode, which takes the permissions left.  Return:
 * whether the ACL says more than the mode (named entries or a mask).
 */
static bool acl_create_masq(const struct sdx_inode *inode, uint8_t *v,
			    uint32_t n, mode_t *mode)
{
	const struct xattr x = { .value = v, .value_size = n };
	uint32_t pos = 4, at, id, group_at = 0, mask_at = 0;
	mode_t m = *mode;
	uint16_t tag, perm;
	bool is_more = false;

	while (at = pos, acl_disk_next(inode, &x, &pos, &tag, &perm, &id) > 0) {
		if (tag == ACL_USER_OBJ) {
			perm &= (m >> 6) & 7;
			m = (m & ~(mode_t)0700) | (mode_t)perm << 6;
		} else if (tag == ACL_OTHER) {
			perm &= m & 7;
			m = (m & ~(mode_t)07) | perm;
		} else if (tag == ACL_GROUP_OBJ) {
			group_at = at;
		} else {
			mask_at = tag == ACL_MASK ? at : mask_at;
			is_more = true;
		}
		put16(v + at + 2, perm);
	}
	at = mask_at ? mask_at : group_at;
	if (at) {	/* 0: a corrupt ACL without either */
		perm = get16(v + at + 2) & ((m >> 3) & 7);
		put16(v + at + 2, perm);
		m = (m & ~(mode_t)070) | (mode_t)perm << 3;
	}
	*mode = m;
	return is_more;
}

int sdx_xattr_inherit(struct sdx_handle *h, struct sdx_inode *dir,
		      struct sdx_inode *inode)
{
	struct xattr key = { .index = XATTR_INDEX_POSIX_ACL_DEFAULT,
			     .name = "" };
	mode_t mode = inode->raw.i_mode;
	struct xattr_set *ds, *s = NULL;
	const struct xattr *x;
	size_t len;
	bool has;
	int err = has_xattrs(dir, &has);

	if (!err && has && !S_ISLNK(mode))
		err = set_read(dir, &ds);
	if (err || !has || S_ISLNK(mode))
		return err;
	x = set_find(ds, &key);
	if (!x)
		goto out_free;
	/* the xattr-form size walk checks every entry of the parent's */
	err = acl_to_xattr(dir, x, NULL, &len);
	if (!err)
		err = set_read(inode, &s);
	if (err)
		goto out_free;
	key.value = x->value;
	key.value_size = x->value_size;
	if (S_ISDIR(mode))
		err = set_edit(s, &key, false, 0);
	memcpy(s->new_value, x->value, x->value_size);
	key.index = XATTR_INDEX_POSIX_ACL_ACCESS;
	key.value = s->new_value;
	if (!err && acl_create_masq(inode, s->new_value, x->value_size,
				    &mode))
		err = set_edit(s, &key, false, 0);
	if (!err)
		err = set_write(h, s);
	if (!err)
		inode->raw.i_mode = (uint16_t)mode;
out_free:
	free(s);
	free(ds);
	return err;
}

int sdx_xattr_block_release(struct sdx_handle *h, struct sdx_inode *inode)
{
	struct sdx_fs *fs = inode->fs;
	uint64_t block = file_acl(inode);
	uint32_t refcount;
	uint8_t *data;
	void *b;
	int err = block_valid(inode, block);

	if (err)
		return err;
	err = sdx_journal_get_write_access(h, block, &b);
	if (err)
		return err;
	data = b;
	err = block_check(inode, block, data);
	if (err)
		return err;
	refcount = get32(data + H_REFCOUNT);
	if (refcount == 1) {
		err = sdx_journal_revoke(h, block);
		if (!err)
			err = sdx_block_free(h, fs, block, 1);
		if (err)
			return err;
	} else {
		put32(data + H_REFCOUNT, refcount - 1);
		block_set_csum(fs, block, data);
		sdx_journal_dirty_metadata(h, block);
	}
	sdx_inode_add_blocks(inode, -1);
	set_file_acl(inode, 0);
	return 0;
}
