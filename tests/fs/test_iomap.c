/*
 * test_iomap.c - the fs side of the fault path: holes, allocation with the
 * blocks zeroed before they are mapped, contiguity of page-by-page faults,
 * unwritten conversion, and the datasync state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "syncdax.h"
#include "fs/fs.h"
#include "pmem/pmem.h"
#include "testutil.h"

struct ctx {
	const char *img;
	struct sdx_fs *fs;
	struct sdx_inode *inode;
	uint32_t ino;
};

static uint8_t *block_at(struct ctx *c, uint64_t dev_off)
{
	return c->fs->dev->base + dev_off;
}

static bool is_zero_block(const uint8_t *p)
{
	for (unsigned i = 0; i < SDX_BLOCK_SIZE; i++)
		if (p[i])
			return false;
	return true;
}

/* Fill @n blocks from @pblk with garbage, persisted (stale data). */
static void dirty_blocks(struct ctx *c, uint64_t pblk, uint64_t n)
{
	sdx_dev_memset_persist(c->fs->dev, block_at(c, pblk * SDX_BLOCK_SIZE),
			       0xAB, n * SDX_BLOCK_SIZE);
}

/* Mount, make a linked-later file; the lock is not held afterwards. */
static void begin(struct ctx *c, const char *name)
{
	struct sdx_inode *root;
	struct sdx_handle *h;

	c->img = tu_path(name);
	tu_mkfs(c->img, 32u << 20);
	assert_int_equal(sdx_fs_open(c->img, 0, &c->fs), 0);
	pthread_mutex_lock(&c->fs->lock);
	assert_int_equal(sdx_iget(c->fs, EXT4_ROOT_INO, &root), 0);
	assert_int_equal(sdx_fs_start(c->fs, 16, &h), 0);
	assert_int_equal(sdx_inode_alloc(h, root, S_IFREG | 0644, &c->inode),
			 0);
	c->inode->raw.i_links_count = 1;
	assert_int_equal(sdx_inode_mark_dirty(h, c->inode), 0);
	assert_int_equal(sdx_journal_stop(h), 0);
	sdx_iput(root);
	pthread_mutex_unlock(&c->fs->lock);
	c->ino = c->inode->ino;
}

/* Set the size, drop the file, unmount. */
static void unmount(struct ctx *c, uint64_t size)
{
	struct sdx_handle *h;

	pthread_mutex_lock(&c->fs->lock);
	assert_int_equal(sdx_fs_start(c->fs, 4, &h), 0);
	sdx_inode_set_size(c->inode, size);
	assert_int_equal(sdx_inode_mark_dirty(h, c->inode), 0);
	assert_int_equal(sdx_journal_stop(h), 0);
	pthread_mutex_unlock(&c->fs->lock);
	sdx_inode_put(c->inode);
	assert_int_equal(sdx_fs_close(c->fs), 0);
}

static void link_file(struct ctx *c, uint32_t ino, int n)
{
	assert_int_equal(tu_sh("debugfs -w -R 'ln <%u> /f%d' '%s' >/dev/null "
			       "2>&1", ino, n, c->img), 0);
}

/* Unmount, link the file with debugfs, ask e2fsck. */
static void end(struct ctx *c, uint64_t size)
{
	unmount(c, size);
	link_file(c, c->ino, 0);
	assert_true(tu_fsck_clean(c->img));
	unlink(c->img);
}

/* Blocks the allocator will hand out next, made stale and free again. */
static uint64_t stale_free_blocks(struct ctx *c, uint64_t n)
{
	struct sdx_handle *h;
	uint64_t first, got;

	pthread_mutex_lock(&c->fs->lock);
	assert_int_equal(sdx_fs_start(c->fs, 16, &h), 0);
	assert_int_equal(sdx_block_alloc(h, c->inode, 0, n, &first, &got), 0);
	assert_int_equal(got, n);
	dirty_blocks(c, first, n);
	assert_int_equal(sdx_block_free(h, c->fs, first, n), 0);
	assert_int_equal(sdx_journal_stop(h), 0);
	assert_int_equal(sdx_journal_force_commit(c->fs->journal), 0);
	pthread_mutex_unlock(&c->fs->lock);
	return first;
}

static void test_hole_read_then_write_allocates_zeroed_block(void **state)
{
	struct sdx_iomap m;
	uint64_t stale;
	struct ctx c;

	(void)state;
	begin(&c, "iomap-hole.img");
	stale = stale_free_blocks(&c, 8);
	assert_int_equal(sdx_iomap_begin(c.inode, 0, 1, 0, &m), 0);
	assert_int_equal(m.type, SDX_IOMAP_HOLE);
	assert_int_equal(m.pgoff, 0);
	assert_true(m.npages >= 1);
	assert_false(sdx_inode_datasync_dirty(c.inode));

	assert_int_equal(sdx_iomap_begin(c.inode, 0, 1, SDX_IOMAP_WRITE, &m),
			 0);
	assert_int_equal(m.type, SDX_IOMAP_MAPPED);
	assert_int_equal(m.flags, SDX_IOMAP_F_NEW | SDX_IOMAP_F_DIRTY);
	assert_int_equal(m.npages, 1);
	assert_int_equal(m.dev_off, stale * SDX_BLOCK_SIZE);
	assert_true(is_zero_block(block_at(&c, m.dev_off)));
	assert_true(sdx_inode_datasync_dirty(c.inode));
	assert_int_equal(m.datasync_tid, c.inode->datasync_tid);

	assert_int_equal(sdx_inode_datasync(c.inode), 0);
	assert_false(sdx_inode_datasync_dirty(c.inode));
	assert_true((int32_t)(sdx_journal_last_committed(c.fs->journal) -
			      m.datasync_tid) >= 0);

	/* mapped now: no allocation, nothing to sync */
	assert_int_equal(sdx_iomap_begin(c.inode, 0, 1, SDX_IOMAP_WRITE, &m),
			 0);
	assert_int_equal(m.type, SDX_IOMAP_MAPPED);
	assert_int_equal(m.flags, 0);
	end(&c, SDX_BLOCK_SIZE);
}

static void test_page_by_page_write_faults_stay_contiguous(void **state)
{
	uint64_t pblk, len, first = 0;
	struct sdx_iomap m;
	unsigned flags;
	struct ctx c;

	(void)state;
	begin(&c, "iomap-seq.img");
	for (uint64_t pg = 0; pg < 256; pg++) {
		assert_int_equal(sdx_iomap_begin(c.inode, pg, 1,
						 SDX_IOMAP_WRITE, &m), 0);
		assert_int_equal(m.flags & SDX_IOMAP_F_NEW, SDX_IOMAP_F_NEW);
		if (pg == 0)
			first = m.dev_off / SDX_BLOCK_SIZE;
		assert_int_equal(m.dev_off / SDX_BLOCK_SIZE, first + pg);
	}
	/* ahead: many pages in one call */
	assert_int_equal(sdx_iomap_begin(c.inode, 256, 64,
					 SDX_IOMAP_WRITE | SDX_IOMAP_SYNCAHEAD,
					 &m), 0);
	assert_int_equal(m.npages, 64);
	assert_int_equal(m.dev_off / SDX_BLOCK_SIZE, first + 256);
	pthread_mutex_lock(&c.fs->lock);
	assert_int_equal(sdx_extent_map(c.inode, 0, &pblk, &len, &flags), 0);
	pthread_mutex_unlock(&c.fs->lock);
	assert_int_equal(pblk, first);
	assert_int_equal(len, 320);
	assert_int_equal(((struct ext4_extent_header *)c.inode->raw.i_block)
			 ->eh_entries, 1);
	end(&c, 320 * SDX_BLOCK_SIZE);
}

static void test_write_into_unwritten_converts_and_zeroes(void **state)
{
	struct sdx_handle *h;
	struct sdx_iomap m;
	uint64_t p, got;
	struct ctx c;

	(void)state;
	begin(&c, "iomap-unwritten.img");
	pthread_mutex_lock(&c.fs->lock);
	assert_int_equal(sdx_fs_start(c.fs, 16, &h), 0);
	assert_int_equal(sdx_block_alloc(h, c.inode, 0, 16, &p, &got), 0);
	assert_int_equal(got, 16);
	dirty_blocks(&c, p, 16);
	assert_int_equal(sdx_extent_insert(h, c.inode, 0, p, 16, true), 0);
	assert_int_equal(sdx_journal_stop(h), 0);
	pthread_mutex_unlock(&c.fs->lock);

	assert_int_equal(sdx_iomap_begin(c.inode, 3, 1, 0, &m), 0);
	assert_int_equal(m.type, SDX_IOMAP_UNWRITTEN);
	assert_int_equal(m.npages, 13);
	assert_int_equal(m.dev_off, (p + 3) * SDX_BLOCK_SIZE);

	assert_int_equal(sdx_iomap_begin(c.inode, 3, 1, SDX_IOMAP_WRITE, &m),
			 0);
	assert_int_equal(m.type, SDX_IOMAP_MAPPED);
	assert_int_equal(m.flags, SDX_IOMAP_F_NEW | SDX_IOMAP_F_DIRTY);
	assert_int_equal(m.npages, 1);
	assert_int_equal(m.dev_off, (p + 3) * SDX_BLOCK_SIZE);
	assert_true(is_zero_block(block_at(&c, m.dev_off)));
	/* its neighbours stay unwritten (and are not read as data) */
	assert_false(is_zero_block(block_at(&c, m.dev_off + SDX_BLOCK_SIZE)));
	assert_int_equal(sdx_iomap_begin(c.inode, 4, 1, 0, &m), 0);
	assert_int_equal(m.type, SDX_IOMAP_UNWRITTEN);
	assert_int_equal(m.npages, 12);
	assert_int_equal(sdx_iomap_begin(c.inode, 2, 1, 0, &m), 0);
	assert_int_equal(m.type, SDX_IOMAP_UNWRITTEN);
	assert_int_equal(m.npages, 1);
	end(&c, 16 * SDX_BLOCK_SIZE);
}

#define NTHREADS 4
#define NPAGES 200

struct worker {
	struct sdx_inode *inode;
	uint64_t blocks[NPAGES];
	int err;
};

/* Fault the pages of one file in, one by one, with an fdatasync now
 * and then, while the other threads do the same on theirs. */
static void *fault_pages(void *arg)
{
	struct worker *w = arg;
	struct sdx_iomap m;

	for (uint64_t pg = 0; pg < NPAGES && !w->err; pg++) {
		w->err = sdx_iomap_begin(w->inode, pg, 1, SDX_IOMAP_WRITE, &m);
		w->blocks[pg] = m.dev_off / SDX_BLOCK_SIZE;
		if (!w->err && pg % 50 == 49)
			w->err = sdx_inode_datasync(w->inode);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

static void test_concurrent_faults_on_several_files(void **state)
{
	static struct worker w[NTHREADS];
	static uint64_t all[NTHREADS * NPAGES];
	uint32_t inos[NTHREADS];
	pthread_t t[NTHREADS];
	struct sdx_inode *root;
	struct sdx_handle *h;
	struct ctx c;

	(void)state;
	begin(&c, "iomap-threads.img");
	w[0].inode = c.inode;
	pthread_mutex_lock(&c.fs->lock);
	assert_int_equal(sdx_iget(c.fs, EXT4_ROOT_INO, &root), 0);
	assert_int_equal(sdx_fs_start(c.fs, 16, &h), 0);
	for (int i = 1; i < NTHREADS; i++) {
		assert_int_equal(sdx_inode_alloc(h, root, S_IFREG | 0644,
						 &w[i].inode), 0);
		w[i].inode->raw.i_links_count = 1;
		sdx_inode_set_size(w[i].inode, NPAGES * SDX_BLOCK_SIZE);
		assert_int_equal(sdx_inode_mark_dirty(h, w[i].inode), 0);
	}
	assert_int_equal(sdx_journal_stop(h), 0);
	sdx_iput(root);
	pthread_mutex_unlock(&c.fs->lock);

	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fault_pages,
						&w[i]), 0);
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].err, 0);
		memcpy(all + i * NPAGES, w[i].blocks, sizeof(w[i].blocks));
	}
	/* no block went to two pages */
	qsort(all, NTHREADS * NPAGES, sizeof(*all), cmp_u64);
	for (int i = 1; i < NTHREADS * NPAGES; i++)
		assert_true(all[i] != all[i - 1]);
	for (int i = 1; i < NTHREADS; i++) {
		inos[i] = w[i].inode->ino;
		sdx_inode_put(w[i].inode);
	}
	unmount(&c, NPAGES * SDX_BLOCK_SIZE);
	inos[0] = c.ino;
	for (int i = 0; i < NTHREADS; i++)
		link_file(&c, inos[i], i);
	assert_true(tu_fsck_clean(c.img));
	unlink(c.img);
}

static void test_accessors_and_limits(void **state)
{
	struct sdx_iomap m;
	struct ctx c;

	(void)state;
	begin(&c, "iomap-misc.img");
	assert_int_equal(sdx_iomap_begin(c.inode, 1ull << 32, 1,
					 SDX_IOMAP_WRITE, &m), -EFBIG);
	assert_ptr_equal(sdx_inode_invalidate_lock(c.inode),
			 &c.inode->invalidate_lock);
	assert_ptr_equal(sdx_inode_dax_slot(c.inode), &c.inode->dax);
	assert_ptr_equal(sdx_fs_dev(c.fs), c.fs->dev);
	assert_false(sdx_inode_is_sync(c.inode));
	c.inode->raw.i_flags |= EXT4_SYNC_FL;
	assert_true(sdx_inode_is_sync(c.inode));
	assert_int_equal(sdx_inode_size(c.inode), 0);
	/* a reference from a mapping keeps the inode */
	pthread_mutex_lock(&c.fs->lock);
	sdx_igrab(c.inode);
	pthread_mutex_unlock(&c.fs->lock);
	sdx_inode_put(c.inode);
	assert_int_equal(c.inode->refcount, 1);
	end(&c, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_hole_read_then_write_allocates_zeroed_block),
		cmocka_unit_test(
			test_page_by_page_write_faults_stay_contiguous),
		cmocka_unit_test(test_write_into_unwritten_converts_and_zeroes),
		cmocka_unit_test(test_concurrent_faults_on_several_files),
		cmocka_unit_test(test_accessors_and_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
