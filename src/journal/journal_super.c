/*
 * journal_super.c - the jbd2 superblock and the geometry of the log.
 *
 * Owns: loading and validating the journal superblock (v2 only; features
 * revoke, 64bit, csum v2 (read) and v3; everything else refused by name),
 * the journal inode's block map (journal block -> device block), the jbd2
 * checksums, and writing the log tail (s_start, s_sequence) back.
 *
 * Invariants:
 *   (1) After sdx_jsb_load() every journal block 0..maxlen-1 maps to a
 *       device block inside the file system, so sdx_jlog_block() needs no
 *       further check for lblk < maxlen.
 *   (2) Every write of the superblock leaves a state that opens after a
 *       crash at any point, even with lines evicted or torn at 8 bytes:
 *       a journal without checksums changes one 8-byte word (s_sequence
 *       and s_start share one); turning checksums on writes the checksum
 *       first (ignored while the feature is off), then the feature word;
 *       a checksummed superblock (two words in two lines, never atomic)
 *       is first written whole to its shadow, the unused bytes 2048..3071
 *       of journal block 0, and a torn superblock is restored from a
 *       shadow that checks and agrees with it on everything a write never
 *       changes.  e2fsck and the kernel do not know the shadow: to them a
 *       torn superblock is corrupt, as on any pmem without sector atomicity.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "journal/journal_int.h"
#include "lib/crc32c.h"
#include "lib/err.h"
#include "pmem/pmem.h"

#define JBD2_KNOWN_INCOMPAT (JBD2_FEATURE_INCOMPAT_REVOKE |		\
			     JBD2_FEATURE_INCOMPAT_64BIT |		\
			     JBD2_FEATURE_INCOMPAT_CSUM_V2 |		\
			     JBD2_FEATURE_INCOMPAT_CSUM_V3)
/* The smallest log jbd2 accepts is 1024 blocks; we need room for a few. */
#define JBD2_MIN_LOG_BLOCKS 32u
/* The shadow copy of the superblock in journal block 0 (invariant 2). */
#define JSB_SHADOW_OFFSET 2048u

static const uint8_t zero4[4];

/* Find the extent holding journal block @lblk (the map is sorted). */
uint8_t *sdx_jlog_block(const struct sdx_journal *j, uint32_t lblk)
{
	unsigned lo = 0, hi = j->nr_ext;

	while (hi - lo > 1) {
		unsigned mid = (lo + hi) / 2;

		if (j->ext[mid].lblk <= lblk)
			lo = mid;
		else
			hi = mid;
	}
	return sdx_journal_home(j, j->ext[lo].pblk + (lblk - j->ext[lo].lblk));
}

uint32_t sdx_jlog_next(const struct sdx_journal *j, uint32_t lblk)
{
	return lblk + 1 == j->maxlen ? j->first : lblk + 1;
}

uint32_t sdx_jlog_len(const struct sdx_journal *j)
{
	return j->maxlen - j->first;
}

bool sdx_jhas_csum(const struct sdx_journal *j)
{
	return j->csum_v2 || j->csum_v3;
}

uint32_t sdx_jcsum_tail(const struct sdx_journal *j, const uint8_t *block)
{
	uint32_t crc = sdx_crc32c(j->csum_seed, block,
				  SDX_PAGE_SIZE - JBD2_TAIL_SIZE);

	return sdx_crc32c(crc, zero4, JBD2_TAIL_SIZE);
}

uint32_t sdx_jcsum_commit(const struct sdx_journal *j, const uint8_t *block)
{
	uint32_t crc = sdx_crc32c(j->csum_seed, block, JBD2_COMMIT_CHKSUM);

	crc = sdx_crc32c(crc, zero4, 4);
	return sdx_crc32c(crc, block + JBD2_COMMIT_CHKSUM + 4,
			  SDX_PAGE_SIZE - JBD2_COMMIT_CHKSUM - 4);
}

uint32_t sdx_jcsum_data(const struct sdx_journal *j, sdx_tid_t tid,
			const uint8_t *block)
{
	uint8_t seq[4];

	jbd2_put32(seq, tid);
	return sdx_crc32c(sdx_crc32c(j->csum_seed, seq, 4), block,
			  SDX_PAGE_SIZE);
}

uint32_t sdx_jtags_per_descriptor(const struct sdx_journal *j)
{
	uint32_t space = SDX_PAGE_SIZE - JBD2_HEADER_SIZE -
			 (sdx_jhas_csum(j) ? JBD2_TAIL_SIZE : 0);

	/* Only the first tag of a descriptor carries the 16-byte UUID. */
	return 1 + (space - j->tag_bytes - JBD2_UUID_SIZE) / j->tag_bytes;
}

uint32_t sdx_jrevokes_per_block(const struct sdx_journal *j)
{
	uint32_t space = SDX_PAGE_SIZE - JBD2_REVOKE_HEADER_SIZE -
			 (sdx_jhas_csum(j) ? JBD2_TAIL_SIZE : 0);

	return space / (j->is_64bit ? 8 : 4);
}

static uint32_t jsb_csum(const struct jbd2_superblock *jsb)
{
	uint32_t crc = sdx_crc32c(~0u, jsb, offsetof(struct jbd2_superblock,
						      s_checksum));

	crc = sdx_crc32c(crc, zero4, 4);
	return sdx_crc32c(crc, jsb->s_users, sizeof(jsb->s_users));
}

/* Derive the in-memory view of the features from the superblock. */
static void apply_features(struct sdx_journal *j)
{
	uint32_t incompat = be32toh(j->jsb->s_feature_incompat);

	j->csum_v2 = incompat & JBD2_FEATURE_INCOMPAT_CSUM_V2;
	j->csum_v3 = incompat & JBD2_FEATURE_INCOMPAT_CSUM_V3;
	j->is_64bit = incompat & JBD2_FEATURE_INCOMPAT_64BIT;
	j->csum_seed = sdx_crc32c(~0u, j->jsb->s_uuid, JBD2_UUID_SIZE);
	if (j->csum_v3)
		j->tag_bytes = JBD2_TAG3_SIZE;
	else
		j->tag_bytes = 8 + (j->csum_v2 ? 2 : 0) + (j->is_64bit ? 4 : 0);
}

static int sort_and_check_extents(struct sdx_journal *j)
{
	uint64_t next = 0;

	for (unsigned i = 1; i < j->nr_ext; i++) {
		struct sdx_jextent e = j->ext[i];
		unsigned k = i;

		for (; k > 0 && j->ext[k - 1].lblk > e.lblk; k--)
			j->ext[k] = j->ext[k - 1];
		j->ext[k] = e;
	}
	for (unsigned i = 0; i < j->nr_ext; i++) {
		const struct sdx_jextent *e = &j->ext[i];

		if (e->lblk != next || e->len == 0 ||
		    e->pblk >= j->opts.fs_blocks ||
		    e->len > j->opts.fs_blocks - e->pblk)
			return sdx_err(-EUCLEAN, "journal inode: extent %u "
				       "(logical %llu, physical %llu, %llu "
				       "blocks) is not a contiguous part of "
				       "a file system of %llu blocks", i,
				       (unsigned long long)e->lblk,
				       (unsigned long long)e->pblk,
				       (unsigned long long)e->len,
				       (unsigned long long)j->opts.fs_blocks);
		next += e->len;
	}
	return 0;
}

static int check_features(const struct jbd2_superblock *jsb)
{
	uint32_t compat = be32toh(jsb->s_feature_compat);
	uint32_t incompat = be32toh(jsb->s_feature_incompat);
	uint32_t ro_compat = be32toh(jsb->s_feature_ro_compat);

	if (incompat & JBD2_FEATURE_INCOMPAT_FAST_COMMIT)
		return sdx_err(-EOPNOTSUPP, "journal feature fast_commit is "
			       "not supported");
	if (incompat & JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT)
		return sdx_err(-EOPNOTSUPP, "journal feature "
			       "journal_async_commit is not supported");
	if (incompat & ~JBD2_KNOWN_INCOMPAT)
		return sdx_err(-EOPNOTSUPP, "journal incompat features 0x%x "
			       "are not supported",
			       incompat & ~JBD2_KNOWN_INCOMPAT);
	if (ro_compat)
		return sdx_err(-EOPNOTSUPP, "journal ro_compat features 0x%x "
			       "are not supported", ro_compat);
	if ((incompat & JBD2_FEATURE_INCOMPAT_CSUM_V2) &&
	    (incompat & JBD2_FEATURE_INCOMPAT_CSUM_V3))
		return sdx_err(-EUCLEAN, "journal superblock has both "
			       "checksum v2 and v3");
	if ((compat & JBD2_FEATURE_COMPAT_CHECKSUM) &&
	    !(incompat & (JBD2_FEATURE_INCOMPAT_CSUM_V2 |
			  JBD2_FEATURE_INCOMPAT_CSUM_V3)))
		return sdx_err(-EOPNOTSUPP, "journal feature journal_checksum "
			       "(v1, crc32 commit blocks) is not supported");
	return 0;
}

static int check_superblock(struct sdx_journal *j, uint64_t mapped)
{
	const struct jbd2_superblock *jsb = j->jsb;
	uint32_t type = be32toh(jsb->h_blocktype);
	uint32_t start = be32toh(jsb->s_start);
	int err;

	if (be32toh(jsb->h_magic) != JBD2_MAGIC_NUMBER)
		return sdx_err(-EUCLEAN, "journal superblock magic 0x%08x, "
			       "expected 0x%08x", be32toh(jsb->h_magic),
			       JBD2_MAGIC_NUMBER);
	if (type == JBD2_SUPERBLOCK_V1)
		return sdx_err(-EOPNOTSUPP, "journal superblock v1 is not "
			       "supported (v2 only)");
	if (type != JBD2_SUPERBLOCK_V2)
		return sdx_err(-EUCLEAN, "journal superblock block type %u, "
			       "expected %u", type, JBD2_SUPERBLOCK_V2);
	if (be32toh(jsb->s_blocksize) != SDX_PAGE_SIZE)
		return sdx_err(-EOPNOTSUPP, "journal block size %u is not "
			       "supported (4096 only)",
			       be32toh(jsb->s_blocksize));
	err = check_features(jsb);
	if (err)
		return err;
	j->maxlen = be32toh(jsb->s_maxlen);
	j->first = be32toh(jsb->s_first);
	if (j->maxlen > mapped || j->first == 0 || j->first >= j->maxlen ||
	    j->maxlen - j->first < JBD2_MIN_LOG_BLOCKS)
		return sdx_err(-EUCLEAN, "journal superblock: log blocks "
			       "%u..%u do not fit the journal inode's %llu "
			       "blocks", j->first, j->maxlen,
			       (unsigned long long)mapped);
	if (start != 0 && (start < j->first || start >= j->maxlen))
		return sdx_err(-EUCLEAN, "journal superblock: log start %u "
			       "outside the log (%u..%u)", start, j->first,
			       j->maxlen - 1);
	return 0;
}

static bool jsb_has_csum(const struct jbd2_superblock *jsb)
{
	return be32toh(jsb->s_feature_incompat) &
	       (JBD2_FEATURE_INCOMPAT_CSUM_V2 | JBD2_FEATURE_INCOMPAT_CSUM_V3);
}

static int check_csum(const struct jbd2_superblock *jsb)
{
	if (!jsb_has_csum(jsb))
		return 0;
	if (jsb->s_checksum_type != JBD2_CRC32C_CHKSUM)
		return sdx_err(-EUCLEAN, "journal checksum type %u, expected "
			       "crc32c (%u)", jsb->s_checksum_type,
			       JBD2_CRC32C_CHKSUM);
	if (be32toh(jsb->s_checksum) != jsb_csum(jsb))
		return sdx_err(-EUCLEAN, "journal superblock checksum 0x%08x, "
			       "expected 0x%08x", be32toh(jsb->s_checksum),
			       jsb_csum(jsb));
	return 0;
}

static struct jbd2_superblock *jsb_shadow(const struct sdx_journal *j)
{
	return (struct jbd2_superblock *)((uint8_t *)j->jsb +
					  JSB_SHADOW_OFFSET);
}

/* Do @a and @b agree on every byte a superblock write leaves alone? */
static bool same_constant_fields(const struct jbd2_superblock *a,
				 const struct jbd2_superblock *b)
{
	static const struct { size_t from, to; } constant[] = {
		{ 0, offsetof(struct jbd2_superblock, s_sequence) },
		{ offsetof(struct jbd2_superblock, s_errno),
		  offsetof(struct jbd2_superblock, s_feature_incompat) },
		{ offsetof(struct jbd2_superblock, s_feature_ro_compat),
		  offsetof(struct jbd2_superblock, s_checksum_type) },
		{ offsetof(struct jbd2_superblock, s_padding2),
		  offsetof(struct jbd2_superblock, s_checksum) },
		{ offsetof(struct jbd2_superblock, s_users),
		  sizeof(struct jbd2_superblock) },
	};

	for (size_t i = 0; i < sizeof(constant) / sizeof(constant[0]); i++)
		if (memcmp((const uint8_t *)a + constant[i].from,
			   (const uint8_t *)b + constant[i].from,
			   constant[i].to - constant[i].from))
			return false;
	return true;
}

/*
 * The superblock fails its checksum: a write torn by a crash, if the
 * shadow checks and agrees on the constant fields.  Then the shadow is
 * what the write meant: copy it back (read-write) or use it in place.
 */
static int restore_from_shadow(struct sdx_journal *j, int err)
{
	struct jbd2_superblock *shadow = jsb_shadow(j);

	if (be32toh(shadow->h_magic) != JBD2_MAGIC_NUMBER ||
	    !jsb_has_csum(shadow) || check_csum(shadow) ||
	    !same_constant_fields(j->jsb, shadow))
		return err;
	if (j->opts.readonly) {
		j->jsb = shadow;
		return 0;
	}
	sdx_dev_memcpy_persist(j->dev, j->jsb, shadow, sizeof(*shadow));
	return 0;
}

/**
 * sdx_jsb_load - map the journal inode and validate its superblock
 * @j:      the journal (dev and opts set)
 * @ext:    the journal inode's extents (any order)
 * @nr_ext: how many; 0 means an external journal device
 *
 * Return: 0, -EOPNOTSUPP (external journal, v1, an unsupported feature,
 *         named), -EUCLEAN (a corrupt superblock or block map), -ENOMEM.
 */
int sdx_jsb_load(struct sdx_journal *j, const struct sdx_jextent *ext,
		 unsigned nr_ext)
{
	uint64_t mapped = 0;
	int err;

	if (nr_ext == 0)
		return sdx_err(-EOPNOTSUPP, "external journal device not "
			       "supported");
	j->ext = malloc(nr_ext * sizeof(*ext));
	if (!j->ext)
		return -ENOMEM;
	memcpy(j->ext, ext, nr_ext * sizeof(*ext));
	j->nr_ext = nr_ext;
	err = sort_and_check_extents(j);
	if (err)
		return err;
	for (unsigned i = 0; i < nr_ext; i++)
		mapped += ext[i].len;
	j->jsb = (struct jbd2_superblock *)sdx_journal_home(j, j->ext[0].pblk);
	err = check_superblock(j, mapped);
	if (!err)
		err = check_csum(j->jsb);
	if (err == -EUCLEAN &&
	    be32toh(j->jsb->h_magic) == JBD2_MAGIC_NUMBER)
		err = restore_from_shadow(j, err);
	if (err)
		return err;
	err = check_superblock(j, mapped);
	if (err)
		return err;
	apply_features(j);
	j->max_transaction = sdx_jlog_len(j) / 4;
	return 0;
}

/* Make @new the superblock on the device, crash-safely (invariant 2). */
static void jsb_update(struct sdx_journal *j, struct jbd2_superblock *new)
{
	bool had_csum = jsb_has_csum(j->jsb);

	if (jsb_has_csum(new))
		new->s_checksum = htobe32(jsb_csum(new));
	if (!had_csum && jsb_has_csum(new)) {
		j->jsb->s_checksum_type = new->s_checksum_type;
		j->jsb->s_checksum = new->s_checksum;
		sdx_dev_persist(j->dev, j->jsb, sizeof(*j->jsb));
		__atomic_store_n(&j->jsb->s_feature_incompat,
				 new->s_feature_incompat, __ATOMIC_RELAXED);
		sdx_dev_persist(j->dev, &j->jsb->s_feature_incompat, 4);
		return;
	}
	if (had_csum)
		sdx_dev_memcpy_persist(j->dev, jsb_shadow(j), new,
				       sizeof(*new));
	sdx_dev_memcpy_persist(j->dev, j->jsb, new, sizeof(*new));
}

/**
 * sdx_jsb_set_features - turn on what the file system's format asks for
 * @j: a read-write journal whose log is empty (after recovery)
 *
 * As ext4 does at mount: revoke always, 64bit when the file system is
 * 64bit, csum v3 (replacing v2) when it has metadata_csum.
 * Return: 0.
 */
int sdx_jsb_set_features(struct sdx_journal *j)
{
	struct jbd2_superblock jsb;
	uint32_t incompat = be32toh(j->jsb->s_feature_incompat);
	uint32_t want = incompat | JBD2_FEATURE_INCOMPAT_REVOKE;

	if (j->opts.is_64bit)
		want |= JBD2_FEATURE_INCOMPAT_64BIT;
	if (j->opts.metadata_csum) {
		want &= ~JBD2_FEATURE_INCOMPAT_CSUM_V2;
		want |= JBD2_FEATURE_INCOMPAT_CSUM_V3;
	}
	if (want == incompat)
		return 0;
	jsb = *j->jsb;
	jsb.s_feature_incompat = htobe32(want);
	if (want & JBD2_FEATURE_INCOMPAT_CSUM_V3)
		jsb.s_checksum_type = JBD2_CRC32C_CHKSUM;
	jsb_update(j, &jsb);
	apply_features(j);
	return 0;
}

/* Record the log tail (s_start 0: empty) durably. */
void sdx_jsb_write_tail(struct sdx_journal *j, uint32_t start,
			sdx_tid_t sequence)
{
	struct jbd2_superblock jsb = *j->jsb;

	jsb.s_start = htobe32(start);
	jsb.s_sequence = htobe32(sequence);
	jsb_update(j, &jsb);
	j->media_empty = start == 0;
}
