/*
 * test_extent.c - extent trees against a model: 10k discontiguous extents
 * (depth >= 2), random range removal and refill, unwritten conversion with
 * splits and merges, corrupt nodes refused; e2fsck judges every image.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncdax.h"
#include "fs/fs.h"
#include "fs/mkfs.h"
#include "pmem/pmem.h"
#include "testutil.h"

#define NLBLK 20000u

struct ctx {
	struct sdx_fs *fs;
	struct sdx_handle *h;
	struct sdx_inode *inode;
	unsigned ops;
};

static void begin(struct ctx *c, const char *img)
{
	assert_int_equal(sdx_fs_open(img, 0, &c->fs), 0);
	pthread_mutex_lock(&c->fs->lock);
	assert_int_equal(sdx_fs_start(c->fs, 64, &c->h), 0);
	c->ops = 0;
}

/* Every 50 operations, a new handle (transactions stay small). */
static void tick(struct ctx *c)
{
	if (++c->ops % 50)
		return;
	assert_int_equal(sdx_journal_stop(c->h), 0);
	assert_int_equal(sdx_fs_start(c->fs, 64, &c->h), 0);
}

/* Commit what the handles did so far. */
static void commit(struct ctx *c)
{
	assert_int_equal(sdx_journal_stop(c->h), 0);
	assert_int_equal(sdx_journal_force_commit(c->fs->journal), 0);
	assert_int_equal(sdx_fs_start(c->fs, 64, &c->h), 0);
}

static void end(struct ctx *c)
{
	assert_int_equal(sdx_journal_stop(c->h), 0);
	sdx_iput(c->inode);
	pthread_mutex_unlock(&c->fs->lock);
	assert_int_equal(sdx_fs_close(c->fs), 0);
}

/* A new regular file with one link, as c->inode. */
static uint32_t new_file(struct ctx *c)
{
	struct sdx_inode *root;

	assert_int_equal(sdx_iget(c->fs, EXT4_ROOT_INO, &root), 0);
	assert_int_equal(sdx_inode_alloc(c->h, root, S_IFREG | 0644,
					 &c->inode), 0);
	sdx_iput(root);
	c->inode->raw.i_links_count = 1;
	assert_int_equal(sdx_inode_mark_dirty(c->h, c->inode), 0);
	return c->inode->ino;
}

static void set_size_and_link(struct ctx *c, const char *img, uint64_t size,
			      const char *name)
{
	uint32_t ino = c->inode->ino;

	sdx_inode_set_size(c->inode, size);
	assert_int_equal(sdx_inode_mark_dirty(c->h, c->inode), 0);
	end(c);
	if (name)
		assert_int_equal(tu_sh("debugfs -w -R 'ln <%u> /%s' '%s' "
				       ">/dev/null 2>&1", ino, name, img), 0);
}

static struct ext4_extent_header *root_header(struct sdx_inode *inode)
{
	return (struct ext4_extent_header *)inode->raw.i_block;
}

/* Map one block and add it to the model. */
static void map_one(struct ctx *c, uint64_t *model, uint64_t lblk)
{
	uint64_t first, got;

	assert_int_equal(sdx_block_alloc(c->h, c->inode, 0, 1, &first, &got),
			 0);
	assert_int_equal(sdx_extent_insert(c->h, c->inode, lblk, first, 1,
					   false), 0);
	model[lblk] = first;
	tick(c);
}

/* In the model: the block is mapped unwritten. */
#define UNWRITTEN (1ull << 63)

/* Every block of [0, NLBLK] maps as the model says. */
static void check_model(struct sdx_inode *inode, const uint64_t *model)
{
	uint64_t mapped = 0;

	for (uint64_t l = 0; l <= NLBLK; l++) {
		uint64_t pblk, len, next = l + 1;
		unsigned flags;

		assert_int_equal(sdx_extent_map(inode, l, &pblk, &len, &flags),
				 0);
		if (l == NLBLK) {
			assert_true(flags & SDX_EXTENT_HOLE);
			break;
		}
		if (model[l]) {
			unsigned want = model[l] & UNWRITTEN ?
					SDX_EXTENT_UNWRITTEN : 0;

			mapped++;
			if (flags != want || pblk != (model[l] & ~UNWRITTEN))
				fail_msg("block %llu: got %llu flags %u, want "
					 "%llu flags %u", (unsigned long long)l,
					 (unsigned long long)pblk, flags,
					 (unsigned long long)(model[l] &
							      ~UNWRITTEN),
					 want);
			while (next < NLBLK && model[next] &&
			       model[next] == model[next - 1] + 1)
				next++;
			assert_true(len >= 1 && len <= next - l);
			continue;
		}
		assert_true(flags & SDX_EXTENT_HOLE);
		while (next < NLBLK && !model[next])
			next++;
		if (next < NLBLK)
			assert_int_equal(len, next - l);
	}
	/* i_blocks: data plus tree blocks */
	assert_true(sdx_inode_blocks512(inode) / 8 >= mapped);
}

static void test_10k_extents_depth_2_random_remove_matches_model(void **st)
{
	const char *img = tu_path("extent-10k.img");
	uint64_t *model = calloc(NLBLK, sizeof(*model));
	uint32_t *order = malloc(NLBLK / 2 * sizeof(*order));
	unsigned seed = 4242;
	uint64_t free0;
	uint32_t ino;
	struct ctx c;

	(void)st;
	tu_mkfs(img, 128u << 20);
	begin(&c, img);
	free0 = sdx_fs_free_blocks(c.fs);
	ino = new_file(&c);
	for (uint32_t i = 0; i < NLBLK / 2; i++)
		order[i] = i;
	for (uint32_t i = NLBLK / 2 - 1; i > 0; i--) {
		uint32_t j = (uint32_t)rand_r(&seed) % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (uint32_t i = 0; i < NLBLK / 2; i++)
		map_one(&c, model, 2 * order[i]);
	assert_true(root_header(c.inode)->eh_depth >= 2);
	check_model(c.inode, model);
	assert_int_equal(free0 - sdx_fs_free_blocks(c.fs),
			 sdx_inode_blocks512(c.inode) / 8);

	for (int round = 0; round < 300; round++) {
		uint64_t start = (uint64_t)rand_r(&seed) % NLBLK;
		uint64_t len = 1 + (uint64_t)rand_r(&seed) % 400;

		if (sdx_extent_remove(c.h, c.inode, start, len))
			fail_msg("remove %llu+%llu: %s", (unsigned long long)start,
				 (unsigned long long)len, sdx_strerror_detail());
		for (uint64_t l = start; l < start + len && l < NLBLK; l++)
			model[l] = 0;
		tick(&c);
		/* refill a few holes */
		for (int k = 0; k < 3; k++) {
			uint64_t l = (uint64_t)rand_r(&seed) % NLBLK;

			if (!model[l])
				map_one(&c, model, l);
		}
		if (round % 50 == 0)
			check_model(c.inode, model);
	}
	check_model(c.inode, model);
	assert_int_equal(free0 - sdx_fs_free_blocks(c.fs),
			 sdx_inode_blocks512(c.inode) / 8);
	set_size_and_link(&c, img, (uint64_t)NLBLK * SDX_BLOCK_SIZE, "big");
	assert_true(tu_fsck_clean(img));

	/* after a remount (journal replayed or checkpointed) still the same */
	begin(&c, img);
	assert_int_equal(sdx_iget(c.fs, ino, &c.inode), 0);
	check_model(c.inode, model);
	assert_int_equal(sdx_inode_truncate_blocks(c.h, c.inode, 0), 0);
	assert_int_equal(root_header(c.inode)->eh_depth, 0);
	assert_int_equal(root_header(c.inode)->eh_entries, 0);
	assert_int_equal(sdx_inode_blocks512(c.inode), 0);
	assert_int_equal(sdx_fs_free_blocks(c.fs), free0);
	set_size_and_link(&c, img, 0, NULL);	/* linked already */
	assert_true(tu_fsck_clean(img));
	free(model);
	free(order);
	unlink(img);
}

/* Random inserts (written or not), conversions and removals vs a model. */
static void test_random_unwritten_ops_match_model(void **state)
{
	const char *img = tu_path("extent-mixed.img");
	uint64_t *model = calloc(NLBLK, sizeof(*model));
	unsigned seed = 777;
	uint64_t free0;
	struct ctx c;

	(void)state;
	tu_mkfs(img, 128u << 20);
	begin(&c, img);
	free0 = sdx_fs_free_blocks(c.fs);
	new_file(&c);
	for (int op = 0; op < 12000; op++) {
		uint64_t l = (uint64_t)rand_r(&seed) % NLBLK, n, first, got;
		int kind = rand_r(&seed) % 10;

		if (kind < 6 && !model[l]) {
			bool is_unwritten = rand_r(&seed) % 2;

			for (n = 1; n < 8 && l + n < NLBLK && !model[l + n]; n++)
				;
			assert_int_equal(sdx_block_alloc(c.h, c.inode, 0, n,
							 &first, &got), 0);
			assert_int_equal(sdx_extent_insert(c.h, c.inode, l,
							   first, got,
							   is_unwritten), 0);
			for (uint64_t k = 0; k < got; k++)
				model[l + k] = (first + k) |
					       (is_unwritten ? UNWRITTEN : 0);
		} else if (kind < 9) {
			n = 1 + (uint64_t)rand_r(&seed) % 64;
			assert_int_equal(sdx_extent_mark_written(c.h, c.inode,
								 l, n), 0);
			for (uint64_t k = l; k < l + n && k < NLBLK; k++)
				model[k] &= ~UNWRITTEN;
		} else {
			n = 1 + (uint64_t)rand_r(&seed) % 32;
			assert_int_equal(sdx_extent_remove(c.h, c.inode, l, n),
					 0);
			for (uint64_t k = l; k < l + n && k < NLBLK; k++)
				model[k] = 0;
		}
		tick(&c);
		if (op % 2000 == 0)
			check_model(c.inode, model);
	}
	check_model(c.inode, model);
	assert_true(root_header(c.inode)->eh_depth >= 1);
	assert_int_equal(free0 - sdx_fs_free_blocks(c.fs),
			 sdx_inode_blocks512(c.inode) / 8);
	set_size_and_link(&c, img, (uint64_t)NLBLK * SDX_BLOCK_SIZE, "mixed");
	assert_true(tu_fsck_clean(img));
	free(model);
	unlink(img);
}

/* Extents appended in order fill their nodes, thinned ones merge;
 * e2fsck sees no waste. */
static void test_appended_extents_fill_nodes_and_thinned_merge(void **state)
{
	const char *img = tu_path("extent-append.img");
	uint64_t *model = calloc(NLBLK, sizeof(*model)), data;
	struct ctx c;
	char *out;

	(void)state;
	tu_mkfs(img, 32u << 20);
	begin(&c, img);
	new_file(&c);
	for (uint64_t l = 0; l < 4000; l += 2)
		map_one(&c, model, l);
	data = 2000;
	/* 2000 extents: 6 leaves of up to 340 and one index block */
	assert_int_equal(root_header(c.inode)->eh_depth, 2);
	assert_int_equal(sdx_inode_blocks512(c.inode) / 8 - data, 7);
	check_model(c.inode, model);
	/* thinned to a tenth: the leaves merge into one, the tree shrinks */
	for (uint64_t k = 0; k < 2000; k++) {
		if (k % 10 == 0)
			continue;
		assert_int_equal(sdx_extent_remove(c.h, c.inode, 2 * k, 1), 0);
		model[2 * k] = 0;
		data--;
		tick(&c);
	}
	assert_int_equal(root_header(c.inode)->eh_depth, 1);
	assert_int_equal(sdx_inode_blocks512(c.inode) / 8 - data, 1);
	check_model(c.inode, model);
	set_size_and_link(&c, img, 4000 * SDX_BLOCK_SIZE, "append");
	out = tu_capture("e2fsck -fn '%s' 2>&1; echo status=$?", img);
	if (strstr(out, "could be") || !strstr(out, "status=0"))
		fail_msg("e2fsck:\n%s", out);
	free(out);
	free(model);
	unlink(img);
}

static void expect_map(struct sdx_inode *inode, uint64_t lblk, uint64_t pblk,
		       uint64_t len, unsigned flags)
{
	uint64_t p, l;
	unsigned f;

	assert_int_equal(sdx_extent_map(inode, lblk, &p, &l, &f), 0);
	if (p != pblk || l != len || f != flags)
		fail_msg("block %llu: got %llu+%llu flags %u, want %llu+%llu "
			 "flags %u", (unsigned long long)lblk,
			 (unsigned long long)p, (unsigned long long)l, f,
			 (unsigned long long)pblk, (unsigned long long)len,
			 flags);
}

static void test_unwritten_conversion_splits_and_merges(void **state)
{
	const char *img = tu_path("extent-unwritten.img");
	const unsigned U = SDX_EXTENT_UNWRITTEN;
	uint64_t p, got, q, n;
	struct ctx c;

	(void)state;
	tu_mkfs(img, 32u << 20);
	begin(&c, img);
	new_file(&c);
	assert_int_equal(sdx_block_alloc(c.h, c.inode, 0, 100, &p, &got), 0);
	assert_int_equal(got, 100);
	assert_int_equal(sdx_extent_insert(c.h, c.inode, 0, p, 100, true), 0);
	expect_map(c.inode, 0, p, 100, U);

	assert_int_equal(sdx_extent_mark_written(c.h, c.inode, 10, 10), 0);
	expect_map(c.inode, 0, p, 10, U);
	expect_map(c.inode, 10, p + 10, 10, 0);
	expect_map(c.inode, 20, p + 20, 80, U);
	assert_int_equal(root_header(c.inode)->eh_entries, 3);

	assert_int_equal(sdx_extent_mark_written(c.h, c.inode, 0, 10), 0);
	expect_map(c.inode, 0, p, 20, 0);
	assert_int_equal(root_header(c.inode)->eh_entries, 2);

	/* written ranges and holes in the range are left alone */
	assert_int_equal(sdx_extent_mark_written(c.h, c.inode, 15, 1000), 0);
	expect_map(c.inode, 0, p, 100, 0);
	assert_int_equal(root_header(c.inode)->eh_entries, 1);

	/* removing from the middle splits; a re-insert merges back */
	commit(&c);
	assert_int_equal(sdx_extent_remove(c.h, c.inode, 40, 10), 0);
	expect_map(c.inode, 40, 0, 10, SDX_EXTENT_HOLE);
	expect_map(c.inode, 50, p + 50, 50, 0);
	/* freed blocks are reused only once the free is committed */
	assert_int_equal(sdx_block_alloc(c.h, c.inode, p + 40, 10, &q, &n), 0);
	assert_true(q < p + 40 || q >= p + 50);
	assert_int_equal(sdx_block_free(c.h, c.fs, q, n), 0);
	commit(&c);
	assert_int_equal(sdx_block_alloc(c.h, c.inode, p + 40, 10, &p, &got),
			 0);
	assert_int_equal(got, 10);
	assert_int_equal(sdx_extent_insert(c.h, c.inode, 40, p, 10, false), 0);
	expect_map(c.inode, 0, p - 40, 100, 0);
	assert_int_equal(root_header(c.inode)->eh_entries, 1);
	assert_int_equal(sdx_extent_insert(c.h, c.inode, 99, p, 1, false),
			 -EEXIST);
	set_size_and_link(&c, img, 100 * SDX_BLOCK_SIZE, "u");
	assert_true(tu_fsck_clean(img));
	unlink(img);
}

static void patch(const char *img, uint64_t block, size_t off,
		  const void *bytes, size_t len)
{
	int fd = open(img, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, len,
				(off_t)(block * SDX_BLOCK_SIZE + off)),
			 (ssize_t)len);
	close(fd);
}

/* Mount, map block 0 of @ino, expect -EUCLEAN naming the inode and @word. */
static void expect_corrupt(const char *img, uint32_t ino, const char *word)
{
	struct sdx_inode *inode;
	struct sdx_fs *fs;
	uint64_t p, l;
	unsigned f;
	char name[32];
	int err;

	assert_int_equal(sdx_fs_open(img, SDX_MOUNT_RDONLY, &fs), 0);
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(sdx_iget(fs, ino, &inode), 0);
	err = sdx_extent_map(inode, 0, &p, &l, &f);
	snprintf(name, sizeof(name), "inode %u", ino);
	if (err != -EUCLEAN || !strstr(sdx_strerror_detail(), name) ||
	    !strstr(sdx_strerror_detail(), word))
		fail_msg("got %d (%s), want -EUCLEAN naming %s and '%s'", err,
			 sdx_strerror_detail(), name, word);
	sdx_iput(inode);
	pthread_mutex_unlock(&fs->lock);
	sdx_fs_close(fs);
}

static void test_corrupt_extent_nodes_refused(void **state)
{
	const char *img = tu_path("extent-corrupt.img");
	const char *copy = tu_path("extent-corrupt-copy.img");
	struct ext4_extent_header *root;
	uint64_t model[NLBLK] = { 0 }, leaf;
	uint32_t ino;
	struct ctx c;
	uint16_t v;

	(void)state;
	tu_mkfs(img, 32u << 20);
	begin(&c, img);
	ino = new_file(&c);
	for (uint64_t l = 0; l < 10; l++)
		map_one(&c, model, 2 * l);
	root = root_header(c.inode);
	assert_int_equal(root->eh_depth, 1);
	leaf = ((struct ext4_extent_idx *)(root + 1))[0].ei_leaf_lo;
	set_size_and_link(&c, img, 20 * SDX_BLOCK_SIZE, "c");
	assert_true(tu_fsck_clean(img));
	assert_int_equal(tu_sh("cp '%s' '%s'", img, copy), 0);

	v = 0x1234;	/* magic */
	patch(img, leaf, 0, &v, 2);
	expect_corrupt(img, ino, "magic");
	assert_int_equal(tu_sh("cp '%s' '%s'", copy, img), 0);
	v = 400;	/* eh_entries beyond eh_max */
	patch(img, leaf, 2, &v, 2);
	expect_corrupt(img, ino, "entries");
	assert_int_equal(tu_sh("cp '%s' '%s'", copy, img), 0);
	v = 3;		/* depth other than the parent implies */
	patch(img, leaf, 6, &v, 2);
	expect_corrupt(img, ino, "depth");
	assert_int_equal(tu_sh("cp '%s' '%s'", copy, img), 0);
	v = 0xBEEF;	/* an entry changed: the tail checksum no longer fits */
	patch(img, leaf, 12 + 4, &v, 2);
	expect_corrupt(img, ino, "checksum");
	unlink(img);
	unlink(copy);
}

/*
 * A tree block checked once and then overwritten behind the tree's back
 * (a corrupt image may also use it as file data): lookups answer inside
 * the file system or refuse, and never read or map outside.
 */
static void test_leaf_overwritten_after_check_never_escapes(void **state)
{
	const char *img = tu_path("extent-xlink.img");
	uint64_t model[NLBLK] = { 0 }, leaf;
	unsigned seed = 31337;
	uint32_t ino;
	struct ctx c;

	(void)state;
	tu_mkfs(img, 32u << 20);
	begin(&c, img);
	ino = new_file(&c);
	for (uint64_t l = 0; l < 400; l++)
		map_one(&c, model, 2 * l);
	set_size_and_link(&c, img, 800 * SDX_BLOCK_SIZE, "x");

	assert_int_equal(sdx_fs_open(img, 0, &c.fs), 0);	/* writable map */
	pthread_mutex_lock(&c.fs->lock);
	assert_int_equal(sdx_iget(c.fs, ino, &c.inode), 0);
	check_model(c.inode, model);	/* every node checked and cached */
	leaf = ((struct ext4_extent_idx *)(root_header(c.inode) + 1))[0]
		       .ei_leaf_lo;
	for (int round = 0; round < 200; round++) {
		uint8_t *b = c.fs->dev->base + leaf * SDX_BLOCK_SIZE;
		unsigned from = round % 2 ? 0 : 12;	/* header kept or not */

		for (unsigned k = from; k < SDX_BLOCK_SIZE; k++)
			b[k] = (uint8_t)rand_r(&seed);
		for (uint64_t l = 0; l < 800; l++) {
			uint64_t pblk, len;
			unsigned flags;

			if (sdx_extent_map(c.inode, l, &pblk, &len, &flags))
				continue;
			assert_true(len >= 1);
			if (!(flags & SDX_EXTENT_HOLE))
				assert_true(pblk + len <= c.fs->blocks_count);
		}
	}
	sdx_iput(c.inode);
	pthread_mutex_unlock(&c.fs->lock);
	sdx_fs_close(c.fs);
	unlink(img);
}

/* ext2/3 block maps (direct, indirect, double indirect) read right. */
static void test_block_mapped_file_reads_back(void **state)
{
	const char *img = tu_path("extent-ext3.img");
	const char *src = tu_path("extent-ext3.data");
	uint64_t size = 6u << 20, done = 0;
	struct sdx_inode *inode;
	struct sdx_fs *fs;
	uint8_t *data;
	uint32_t ino;
	char *out;
	FILE *f;

	(void)state;
	assert_int_equal(tu_sh("truncate -s 0 '%s' && truncate -s 64M '%s' && "
			       "mkfs.ext3 -q -F -b 4096 '%s' && head -c %llu "
			       "/dev/urandom > '%s' && debugfs -w -R 'write %s "
			       "f' '%s' >/dev/null 2>&1", img, img, img,
			       (unsigned long long)size, src, src, img), 0);
	out = tu_capture("debugfs -R 'stat f' '%s' 2>/dev/null | sed -n "
			 "'s/^Inode: \\([0-9]*\\).*/\\1/p'", img);
	ino = (uint32_t)atoi(out);
	free(out);
	data = malloc(size);
	f = fopen(src, "r");
	assert_non_null(f);
	assert_int_equal(fread(data, 1, size, f), size);
	fclose(f);

	assert_int_equal(sdx_fs_open(img, SDX_MOUNT_RDONLY, &fs), 0);
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(sdx_iget(fs, ino, &inode), 0);
	assert_false(inode->raw.i_flags & EXT4_EXTENTS_FL);
	while (done < size / SDX_BLOCK_SIZE) {
		uint64_t pblk, len;
		unsigned flags;

		assert_int_equal(sdx_extent_map(inode, done, &pblk, &len,
						&flags), 0);
		assert_int_equal(flags, 0);
		assert_true(len >= 1 && len <= 1024);
		if (len > size / SDX_BLOCK_SIZE - done)
			len = size / SDX_BLOCK_SIZE - done;
		assert_memory_equal(fs->dev->base + pblk * SDX_BLOCK_SIZE,
				    data + done * SDX_BLOCK_SIZE,
				    len * SDX_BLOCK_SIZE);
		done += len;
	}
	sdx_iput(inode);
	pthread_mutex_unlock(&fs->lock);
	assert_int_equal(sdx_fs_close(fs), 0);
	free(data);
	unlink(src);
	unlink(img);
}

/*
 * In a child: extent changes on file @ino in small committed transactions
 * (the tree grows to depth 1 and shrinks), crashing at drain @at (0:
 * never).  Exits 0 when the workload ran to the end.
 */
static void crash_workload(const char *img, const char *media, uint32_t ino,
			   uint64_t at)
{
	struct sdx_crash_config cfg = { img, media, at, SDX_CRASH_STRICT, at };
	unsigned seed = 99;
	struct ctx c;

	if (at && sdx_crashsim_arm(&cfg))
		_exit(1);
	if (sdx_fs_open(img, 0, &c.fs))
		_exit(2);
	pthread_mutex_lock(&c.fs->lock);
	if (sdx_iget(c.fs, ino, &c.inode) || sdx_fs_start(c.fs, 64, &c.h))
		_exit(3);
	for (int op = 0; op < 40; op++) {
		uint64_t l = 3 * (uint64_t)(rand_r(&seed) % 200), first, got;
		uint64_t pblk, len;
		unsigned flags;

		if (sdx_extent_map(c.inode, l, &pblk, &len, &flags))
			_exit(4);
		if (!(flags & SDX_EXTENT_HOLE) && op % 4 == 3) {
			if (sdx_extent_remove(c.h, c.inode, l, 1))
				_exit(5);
		} else if (flags & SDX_EXTENT_HOLE) {
			if (sdx_block_alloc(c.h, c.inode, 0, 1, &first, &got) ||
			    sdx_extent_insert(c.h, c.inode, l, first, 1,
					      op % 2))
				_exit(6);
		}
		if (op % 3 == 2 && (sdx_journal_stop(c.h) ||
				    sdx_journal_force_commit(c.fs->journal) ||
				    sdx_fs_start(c.fs, 64, &c.h)))
			_exit(7);
	}
	if (sdx_journal_stop(c.h))
		_exit(8);
	sdx_iput(c.inode);
	pthread_mutex_unlock(&c.fs->lock);
	_exit(sdx_fs_close(c.fs) ? 9 : 0);
}

/* After a crash: mount (recovery), every block maps, e2fsck clean. */
static void check_recovered(const char *media, uint32_t ino, uint64_t at)
{
	struct ctx c;

	assert_int_equal(sdx_fs_open(media, 0, &c.fs), 0);
	pthread_mutex_lock(&c.fs->lock);
	assert_int_equal(sdx_iget(c.fs, ino, &c.inode), 0);
	for (uint64_t l = 0; l < 600;) {
		uint64_t pblk, len;
		unsigned flags;

		if (sdx_extent_map(c.inode, l, &pblk, &len, &flags))
			fail_msg("crash at drain %llu: %s",
				 (unsigned long long)at, sdx_strerror_detail());
		l += len;
	}
	sdx_iput(c.inode);
	pthread_mutex_unlock(&c.fs->lock);
	assert_int_equal(sdx_fs_close(c.fs), 0);
	if (!tu_fsck_clean(media))
		fail_msg("crash at drain %llu: e2fsck -fn not clean",
			 (unsigned long long)at);
}

static int run_child(const char *img, const char *media, uint32_t ino,
		     uint64_t at)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0)
		crash_workload(img, media, ino, at);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_crash_at_any_drain_leaves_a_valid_tree(void **state)
{
	const char *img = strdup(tu_path("extent-crash.img"));
	const char *media = strdup(tu_path("extent-crash.media"));
	const char *pristine = strdup(tu_path("extent-crash.orig"));
	uint32_t ino;
	uint64_t at;
	char *out;
	int status = -1;

	(void)state;
	tu_mkfs(img, 16u << 20);
	assert_int_equal(tu_sh("debugfs -w -f - '%s' >/dev/null 2>&1 <<EOF\n"
			       "write /dev/null f\nsif f size 4096000\nEOF",
			       img), 0);
	out = tu_capture("debugfs -R 'stat f' '%s' 2>/dev/null | sed -n "
			 "'s/^Inode: \\([0-9]*\\).*/\\1/p'", img);
	ino = (uint32_t)atoi(out);
	free(out);
	assert_int_equal(tu_sh("cp '%s' '%s'", img, pristine), 0);
	for (at = 1; at < 1000; at++) {
		assert_int_equal(tu_sh("cp '%s' '%s'", pristine, img), 0);
		status = run_child(img, media, ino, at);
		if (status != SDX_CRASH_EXIT)
			break;
		check_recovered(media, ino, at);
	}
	assert_int_equal(status, 0);
	printf("# the workload ran to the end with the crash armed at drain "
	       "%llu\n", (unsigned long long)at);
	assert_true(at > 20);
	check_recovered(img, ino, at);
	unlink(img);
	unlink(media);
	unlink(pristine);
	free((void *)img);
	free((void *)media);
	free((void *)pristine);
}

/* ---- shifts of a tree larger than one transaction ---- */

#define WIDE_EXTENTS 50000u	/* ~294 half-full leaves */

/* Every block of [0, @n) maps as @want says (0: a hole). */
static void expect_block_map(struct sdx_inode *inode, const uint64_t *want,
		       uint64_t n)
{
	for (uint64_t l = 0; l < n;) {
		uint64_t pblk, len;
		unsigned flags;

		assert_int_equal(sdx_extent_map(inode, l, &pblk, &len, &flags),
				 0);
		for (uint64_t k = 0; k < len && l < n; k++, l++) {
			uint64_t p = flags & SDX_EXTENT_HOLE ? 0 : pblk + k;

			if (p != want[l])
				fail_msg("block %llu maps to %llu, expected "
					 "%llu", (unsigned long long)l,
					 (unsigned long long)p,
					 (unsigned long long)want[l]);
		}
	}
}

/* One collapse or insert through the public API; *@nr_commits it took. */
static void shift_public(const char *img, int mode, uint64_t first,
			 uint64_t n, uint64_t *nr_commits)
{
	struct sdx_fs *fs = tu_mount(img, 0);
	struct sdx_journal_stats before, after;
	int fd = sdx_open(fs, "/wide", O_RDWR, 0);

	assert_true(fd >= 0);
	pthread_mutex_lock(&fs->lock);
	assert_int_equal(sdx_journal_force_commit(fs->journal), 0);
	sdx_journal_get_stats(fs->journal, &before);
	pthread_mutex_unlock(&fs->lock);
	if (sdx_fallocate(fs, fd, mode, (off_t)(first * SDX_BLOCK_SIZE),
			  (off_t)(n * SDX_BLOCK_SIZE)))
		fail_msg("fallocate 0x%x: %s", mode, sdx_strerror_detail());
	assert_int_equal(sdx_fsync(fs, fd), 0);
	pthread_mutex_lock(&fs->lock);
	sdx_journal_get_stats(fs->journal, &after);
	pthread_mutex_unlock(&fs->lock);
	*nr_commits = after.commits - before.commits;
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);
}

/*
 * A tree of ~294 leaves on a file system with the smallest journal (1024
 * blocks: transactions of 256) does not fit one transaction: collapse and
 * insert shift it in steps, and end with the right map, e2fsck clean.
 */
static void test_shift_larger_than_a_transaction_goes_in_steps(void **st)
{
	const char *img = tu_path("extent-wide.img");
	uint64_t nb = 2ull * WIDE_EXTENTS, nr_commits;
	uint64_t *want = calloc(nb + 64, sizeof(*want));
	uint64_t size;
	uint32_t ino;
	struct ctx c;

	(void)st;
	assert_int_equal(tu_sh("rm -f '%s' && truncate -s 320M '%s' && "
			       "mkfs.ext4 -q -F -b 4096 -I 256 -O %s -E "
			       "lazy_itable_init=0,lazy_journal_init=0 -J "
			       "size=4 '%s'", img, img, SDX_MKFS_FEATURES,
			       img), 0);
	begin(&c, img);
	ino = new_file(&c);
	for (uint64_t i = WIDE_EXTENTS; i-- > 0;)	/* leaves split in half */
		map_one(&c, want, 2 * i);
	size = nb * SDX_BLOCK_SIZE;
	set_size_and_link(&c, img, size, "wide");

	shift_public(img, FALLOC_FL_COLLAPSE_RANGE, 10, 4, &nr_commits);
	if (nr_commits < 2)
		fail_msg("collapse of a tree larger than a transaction in %llu "
			 "commits", (unsigned long long)nr_commits);
	memmove(want + 10, want + 14, (nb - 14) * sizeof(*want));
	nb -= 4;
	shift_public(img, FALLOC_FL_INSERT_RANGE, 7, 3, &nr_commits);
	assert_true(nr_commits >= 2);
	memmove(want + 10, want + 7, (nb - 7) * sizeof(*want));
	memset(want + 7, 0, 3 * sizeof(*want));
	nb += 3;
	assert_true(tu_fsck_clean(img));

	begin(&c, img);
	assert_int_equal(sdx_iget(c.fs, ino, &c.inode), 0);
	assert_true(root_header(c.inode)->eh_depth >= 1);
	assert_int_equal(sdx_inode_size(c.inode), nb * SDX_BLOCK_SIZE);
	expect_block_map(c.inode, want, nb);
	end(&c);
	free(want);
	unlink(img);
}

/* ---- shifts in steps ---- */

/* Reopen @img and take the inode @ino into c->inode. */
static void reopen(struct ctx *c, const char *img, uint32_t ino)
{
	begin(c, img);
	assert_int_equal(sdx_iget(c->fs, ino, &c->inode), 0);
}

/* Close, and e2fsck must call the image clean. */
static void close_clean(struct ctx *c, const char *img, const char *when)
{
	end(c);
	if (!tu_fsck_clean(img))
		fail_msg("e2fsck -fn not clean %s", when);
}

/*
 * Collapse and insert done as file.c does when a tree does not fit one
 * transaction: punch (or grow i_size), then sdx_extent_shift two leaves
 * at a time, resuming where the last call stopped.  After every step the
 * image is e2fsck clean and the map is: the extents moved so far at their
 * new place, the rest at their old one; after the last, the shifted map.
 */
static void test_shift_steps_are_clean_after_every_step(void **st)
{
	const char *img = tu_path("extent-steps.img");
	uint64_t *model = calloc(NLBLK, sizeof(*model));
	uint64_t *want = calloc(NLBLK, sizeof(*want));
	uint64_t cur, stop, lim, end_blk = 3000;
	unsigned steps = 0;
	uint32_t ino;
	struct ctx c;

	(void)st;
	tu_mkfs(img, 64u << 20);
	begin(&c, img);
	ino = new_file(&c);
	for (uint64_t i = end_blk / 2; i-- > 0;)	/* ~9 half-full leaves */
		map_one(&c, model, 2 * i + 1);
	set_size_and_link(&c, img, end_blk * SDX_BLOCK_SIZE, "steps");

	/* COLLAPSE_RANGE of blocks [100, 104) */
	reopen(&c, img, ino);
	assert_int_equal(sdx_extent_remove(c.h, c.inode, 100, 4), 0);
	memset(model + 100, 0, 4 * sizeof(*model));
	close_clean(&c, img, "after the punch");
	for (cur = 104; cur != SDX_MAX_FILE_BLOCKS; cur = stop, steps++) {
		reopen(&c, img, ino);
		if (sdx_extent_shift(c.h, c.inode, cur, SDX_MAX_FILE_BLOCKS, 4,
				     true, 2, &stop))
			fail_msg("shift from %llu: %s", (unsigned long long)cur,
				 sdx_strerror_detail());
		assert_true(stop > cur);
		lim = stop < NLBLK ? stop : NLBLK;
		memcpy(want, model, NLBLK * sizeof(*want));
		for (uint64_t l = 104; l < lim; l++)
			want[l - 4] = model[l];
		for (uint64_t l = lim - 4; l < lim; l++)
			want[l] = 0;
		check_model(c.inode, want);
		close_clean(&c, img, "after a collapse step");
	}
	assert_true(steps >= 3);
	memcpy(model, want, NLBLK * sizeof(*model));
	end_blk -= 4;

	/* INSERT_RANGE of 6 blocks at block 57 */
	reopen(&c, img, ino);
	sdx_inode_set_size(c.inode, (end_blk + 6) * SDX_BLOCK_SIZE);
	assert_int_equal(sdx_inode_mark_dirty(c.h, c.inode), 0);
	close_clean(&c, img, "after i_size grew");
	steps = 0;
	for (cur = SDX_MAX_FILE_BLOCKS; cur != 57; cur = stop, steps++) {
		reopen(&c, img, ino);
		if (sdx_extent_shift(c.h, c.inode, 57, cur, 6, false, 2,
				     &stop))
			fail_msg("shift up to %llu: %s", (unsigned long long)cur,
				 sdx_strerror_detail());
		assert_true(stop < cur);
		memcpy(want, model, NLBLK * sizeof(*want));
		memmove(want + stop + 6, model + stop, (end_blk - stop) *
			sizeof(*want));
		for (uint64_t l = stop; l < stop + 6; l++)
			want[l] = 0;
		check_model(c.inode, want);
		close_clean(&c, img, "after an insert step");
	}
	assert_true(steps >= 3);
	free(model);
	free(want);
	unlink(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_10k_extents_depth_2_random_remove_matches_model),
		cmocka_unit_test(test_unwritten_conversion_splits_and_merges),
		cmocka_unit_test(test_random_unwritten_ops_match_model),
		cmocka_unit_test(test_appended_extents_fill_nodes_and_thinned_merge),
		cmocka_unit_test(test_corrupt_extent_nodes_refused),
		cmocka_unit_test(
			test_leaf_overwritten_after_check_never_escapes),
		cmocka_unit_test(test_block_mapped_file_reads_back),
		cmocka_unit_test(test_crash_at_any_drain_leaves_a_valid_tree),
		cmocka_unit_test(
			test_shift_larger_than_a_transaction_goes_in_steps),
		cmocka_unit_test(test_shift_steps_are_clean_after_every_step),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
