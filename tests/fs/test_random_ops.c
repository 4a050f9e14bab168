/*
 * test_random_ops.c - a seeded random sequence of file system operations
 * (create, write at random offsets incl. far past the end, truncate up and
 * down, punch, zero range, collapse and insert range, fast and slow
 * symlinks, rename within and across directories and over
 * existing entries, unlink, mkdir, rmdir, and a directory that grows to
 * thousands of entries) run against syncdax and against a model in memory;
 * every result (return value, errno, bytes read) is checked step by step,
 * the whole tree is compared every few hundred steps and after a remount,
 * and e2fsck -fn must call the image clean every thousand steps (the file
 * system unmounted and mounted again) and at the end of every run.
 *
 * SDX_RANDOM_SEEDS=n runs n seeds (default 3), SDX_RANDOM_OPS=n operations
 * per seed (default 2500), SDX_RANDOM_SEED=s starts at seed s.
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
#include <unistd.h>

#include "syncdax.h"
#include "testutil.h"

#define MIB		(1ull << 20)
#define MAX_FILE	(64 * MIB)
#define MODEL_BUDGET	(160 * MIB)	/* sum of file sizes kept below */
#define NAMES		40		/* name pool of ordinary directories */
#define BIGDIR_START	2500		/* entries made before the random ops */
#define BIGDIR_MAX	4000

struct node {
	char name[64];
	bool is_dir;
	char *target;			/* symlinks: what they point to */
	struct node *parent;
	struct node **kids;		/* directories */
	size_t nkids, capkids;
	uint8_t *data;			/* files: size bytes */
	size_t size;
};

struct run {
	uint64_t rng;
	struct sdx_fs *fs;
	struct node *root, *bigdir, *lpf;	/* lpf: lost+found, kept */
	struct node **files, **dirs, **links;
	size_t nfiles, ndirs, nlinks, capfiles, capdirs, caplinks;
	size_t total;			/* sum of file sizes */
	unsigned big_next;
	uint8_t *buf;			/* I/O scratch, 2 MiB */
	unsigned step;
};

static const char *dev;

static int setup(void **state)
{
	(void)state;
	dev = tu_path("random.img");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(dev);
	return 0;
}

static uint64_t rnd(struct run *r)
{
	uint64_t z = (r->rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t below(struct run *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

/* ---- the model ---- */

static void list_add(struct node ***list, size_t *n, size_t *cap,
		     struct node *x)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		*list = realloc(*list, *cap * sizeof(**list));
		assert_non_null(*list);
	}
	(*list)[(*n)++] = x;
}

static void list_del(struct node **list, size_t *n, struct node *x)
{
	for (size_t i = 0; i < *n; i++)
		if (list[i] == x) {
			list[i] = list[--*n];
			return;
		}
	fail_msg("model: node %s not listed", x->name);
}

static struct node *child(const struct node *dir, const char *name)
{
	for (size_t i = 0; i < dir->nkids; i++)
		if (!strcmp(dir->kids[i]->name, name))
			return dir->kids[i];
	return NULL;
}

static void attach(struct node *dir, struct node *x, const char *name)
{
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->parent = dir;
	list_add(&dir->kids, &dir->nkids, &dir->capkids, x);
}

static void detach(struct node *x)
{
	list_del(x->parent->kids, &x->parent->nkids, x);
	x->parent = NULL;
}

static struct node *new_node(struct run *r, struct node *dir,
			     const char *name, bool is_dir)
{
	struct node *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->is_dir = is_dir;
	attach(dir, x, name);
	if (is_dir)
		list_add(&r->dirs, &r->ndirs, &r->capdirs, x);
	else
		list_add(&r->files, &r->nfiles, &r->capfiles, x);
	return x;
}

static void free_node(struct run *r, struct node *x)
{
	if (x->target) {
		list_del(r->links, &r->nlinks, x);
		free(x->target);
	} else if (x->is_dir) {
		list_del(r->dirs, &r->ndirs, x);
		free(x->kids);
	} else {
		list_del(r->files, &r->nfiles, x);
		r->total -= x->size;
		free(x->data);
	}
	free(x);
}

static void set_size(struct run *r, struct node *f, size_t size)
{
	if (size > f->size) {
		f->data = realloc(f->data, size);
		assert_non_null(f->data);
		memset(f->data + f->size, 0, size - f->size);
	}
	r->total = r->total - f->size + size;
	f->size = size;
}

static void path_of(const struct node *x, char *buf, size_t n)
{
	size_t len;

	if (!x->parent) {
		snprintf(buf, n, "/");
		return;
	}
	path_of(x->parent, buf, n);
	len = strlen(buf);
	if (x->parent->parent && len + 1 < n)
		buf[len++] = '/';
	buf[len] = '\0';
	strncat(buf, x->name, n - len - 1);
}

static bool is_under(const struct node *x, const struct node *dir)
{
	for (; x; x = x->parent)
		if (x == dir)
			return true;
	return false;
}

/* SDX_RANDOM_TRACE=1 prints every operation (to find a failing step). */
static void trace(const struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void trace(const struct run *r, const char *fmt, ...)
{
	static int is_on = -1;
	va_list ap;

	if (is_on < 0)
		is_on = getenv("SDX_RANDOM_TRACE") != NULL;
	if (!is_on)
		return;
	va_start(ap, fmt);
	printf("# %u: ", r->step);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

/* ---- checks ---- */

static void expect_ret(struct run *r, const char *what, long got, long want,
		       int want_errno)
{
	if (got == want && (want != -1 || errno == want_errno))
		return;
	fail_msg("step %u %s: returned %ld errno %d (%s), expected %ld "
		 "errno %d", r->step, what, got, got < 0 ? errno : 0,
		 got < 0 ? sdx_strerror_detail() : "", want, want_errno);
}

static void check_file(struct run *r, struct node *f, size_t off, size_t len)
{
	char path[4096];
	int fd;
	ssize_t got;
	size_t want = off >= f->size ? 0 : (f->size - off < len ?
					    f->size - off : len);

	path_of(f, path, sizeof(path));
	fd = sdx_open(r->fs, path, O_RDONLY, 0);
	expect_ret(r, path, fd >= 0 ? 0 : -1, 0, 0);
	got = sdx_pread(r->fs, fd, r->buf, len, (off_t)off);
	expect_ret(r, "pread", got, (long)want, 0);
	if (want && memcmp(r->buf, f->data + off, want) != 0) {
		size_t i = 0;

		while (r->buf[i] == f->data[off + i])
			i++;
		fail_msg("step %u: %s byte %zu is 0x%02x, expected 0x%02x",
			 r->step, path, off + i, r->buf[i], f->data[off + i]);
	}
	assert_int_equal(sdx_close(r->fs, fd), 0);
}

static void check_tree(struct run *r, struct node *dir)
{
	char path[4096];
	struct sdx_dir *d;
	struct dirent *de;
	size_t seen = 0;
	struct stat st;

	path_of(dir, path, sizeof(path));
	d = sdx_opendir(r->fs, path);
	if (!d)
		fail_msg("step %u: opendir %s: %s", r->step, path,
			 sdx_strerror_detail());
	while ((de = sdx_readdir(d)) != NULL) {
		struct node *x;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		x = child(dir, de->d_name);
		if (!x)
			fail_msg("step %u: %s/%s is not in the model", r->step,
				 path, de->d_name);
		assert_int_equal(de->d_type, x->target ? DT_LNK :
				 x->is_dir ? DT_DIR : DT_REG);
		seen++;
	}
	sdx_closedir(d);
	assert_int_equal(seen, dir->nkids);
	for (size_t i = 0; i < dir->nkids; i++) {
		struct node *x = dir->kids[i];
		char p[4096];

		path_of(x, p, sizeof(p));
		assert_int_equal(sdx_lstat(r->fs, p, &st), 0);
		assert_int_equal(S_ISDIR(st.st_mode), x->is_dir);
		if (x->target) {
			char t[4096];
			ssize_t n = sdx_readlink(r->fs, p, t, sizeof(t));

			assert_true(S_ISLNK(st.st_mode));
			assert_int_equal(n, (ssize_t)strlen(x->target));
			assert_memory_equal(t, x->target, (size_t)n);
		} else if (x->is_dir) {
			check_tree(r, x);
		} else {
			assert_int_equal(st.st_size, (off_t)x->size);
			for (size_t off = 0; off < x->size; off += 2 * MIB)
				check_file(r, x, off, 2 * MIB);
		}
	}
}

/* ---- operations ---- */

static struct node *pick_dir(struct run *r)
{
	return r->dirs[below(r, r->ndirs)];
}

static void pick_name(struct run *r, char *name)
{
	sprintf(name, "n%u", (unsigned)below(r, NAMES));
}

static void op_create(struct run *r, struct node *dir, const char *name)
{
	char path[4096];
	struct node *x = child(dir, name);
	int fd;

	path_of(dir, path, sizeof(path));
	strcat(path, dir->parent ? "/" : "");
	strcat(path, name);
	trace(r, "create %s", path);
	fd = sdx_open(r->fs, path, O_CREAT | O_EXCL | O_RDWR, 0644);
	if (x) {
		expect_ret(r, path, fd, -1, EEXIST);
		return;
	}
	expect_ret(r, path, fd >= 0 ? 0 : -1, 0, 0);
	assert_int_equal(sdx_close(r->fs, fd), 0);
	new_node(r, dir, name, false);
}

static void op_mkdir(struct run *r, struct node *dir, const char *name)
{
	char path[4096];
	bool exists = child(dir, name) != NULL;

	path_of(dir, path, sizeof(path));
	strcat(path, dir->parent ? "/" : "");
	strcat(path, name);
	trace(r, "mkdir %s", path);
	expect_ret(r, path, sdx_mkdir(r->fs, path, 0755), exists ? -1 : 0,
		   EEXIST);
	if (!exists)
		new_node(r, dir, name, true);
}

static void op_symlink(struct run *r, struct node *dir, const char *name)
{
	char path[4096], target[512];
	size_t len = below(r, 2) ? 1 + below(r, 59) : 60 + below(r, 400);
	struct node *x;
	bool exists = child(dir, name) != NULL;

	for (size_t i = 0; i < len; i++)
		target[i] = (char)('a' + (r->step + i) % 26);
	target[len] = '\0';
	path_of(dir, path, sizeof(path));
	strcat(path, dir->parent ? "/" : "");
	strcat(path, name);
	trace(r, "symlink %s (%zu bytes)", path, len);
	expect_ret(r, path, sdx_symlink(r->fs, target, path), exists ? -1 : 0,
		   EEXIST);
	if (exists)
		return;
	x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->target = strdup(target);
	attach(dir, x, name);
	list_add(&r->links, &r->nlinks, &r->caplinks, x);
}

static void op_write(struct run *r, struct node *f)
{
	char path[4096];
	uint64_t kind = below(r, 100), off, len;
	int fd;

	if (kind < 70)
		off = below(r, f->size + 65536);
	else if (kind < 95)
		off = below(r, 8 * MIB);
	else
		off = below(r, MAX_FILE);
	len = kind % 20 == 0 ? 1 + below(r, 2 * MIB) : 1 + below(r, 65536);
	if (off + len > MAX_FILE)
		len = MAX_FILE - off;
	if (r->total + off + len > MODEL_BUDGET + f->size)
		return;
	for (uint64_t i = 0; i < len; i++)
		r->buf[i] = (uint8_t)(r->step + i * 13 + (i >> 12));
	path_of(f, path, sizeof(path));
	trace(r, "write %s %llu+%llu", path, (unsigned long long)off,
	      (unsigned long long)len);
	fd = sdx_open(r->fs, path, O_RDWR, 0);
	expect_ret(r, path, fd >= 0 ? 0 : -1, 0, 0);
	expect_ret(r, "pwrite", sdx_pwrite(r->fs, fd, r->buf, len, (off_t)off),
		   (long)len, 0);
	assert_int_equal(sdx_close(r->fs, fd), 0);
	if (off + len > f->size)
		set_size(r, f, off + len);
	memcpy(f->data + off, r->buf, len);
	check_file(r, f, off > 100 ? off - 100 : 0, len + 200);
}

static void op_truncate(struct run *r, struct node *f)
{
	uint64_t size = below(r, 4) ? below(r, f->size + 100000) :
			below(r, MAX_FILE);
	char path[4096];
	int fd;

	if (r->total - f->size + size > MODEL_BUDGET)
		size = below(r, f->size + 1);
	path_of(f, path, sizeof(path));
	trace(r, "truncate %s %llu", path, (unsigned long long)size);
	fd = sdx_open(r->fs, path, O_WRONLY, 0);
	expect_ret(r, "ftruncate", sdx_ftruncate(r->fs, fd, (off_t)size), 0,
		   0);
	assert_int_equal(sdx_close(r->fs, fd), 0);
	set_size(r, f, size);
	if (size)
		check_file(r, f, size - 1 - below(r, size < 9000 ? size :
							 9000), 20000);
}

static void op_fallocate(struct run *r, struct node *f, int mode)
{
	uint64_t off = below(r, f->size + 1), len = 1 + below(r, 300000);
	char path[4096];
	int fd;

	if (off + len > f->size)
		len = f->size > off ? f->size - off : 0;
	if (len == 0)
		return;
	path_of(f, path, sizeof(path));
	trace(r, "fallocate 0x%x %s %llu+%llu", mode, path,
	      (unsigned long long)off, (unsigned long long)len);
	fd = sdx_open(r->fs, path, O_RDWR, 0);
	expect_ret(r, "fallocate", sdx_fallocate(r->fs, fd, mode, (off_t)off,
						 (off_t)len), 0, 0);
	assert_int_equal(sdx_close(r->fs, fd), 0);
	memset(f->data + off, 0, len);
	check_file(r, f, off > 5000 ? off - 5000 : 0, len + 10000);
}

/* COLLAPSE_RANGE or INSERT_RANGE of whole blocks inside the file. */
static void op_shift(struct run *r, struct node *f, bool is_insert)
{
	uint64_t blocks = f->size / 4096, off, len;
	char path[4096];
	int fd;

	if (blocks < 2)
		return;
	off = below(r, blocks - 1) * 4096;
	len = (1 + below(r, is_insert ? 64 : blocks - off / 4096 - 1)) * 4096;
	if (!is_insert && off + len >= f->size)
		return;
	if (is_insert && (f->size + len > MAX_FILE ||
			  r->total + len > MODEL_BUDGET))
		return;
	path_of(f, path, sizeof(path));
	trace(r, "%s %s %llu+%llu", is_insert ? "insert" : "collapse", path,
	      (unsigned long long)off, (unsigned long long)len);
	fd = sdx_open(r->fs, path, O_RDWR, 0);
	expect_ret(r, "shift", sdx_fallocate(r->fs, fd, is_insert ?
					     FALLOC_FL_INSERT_RANGE :
					     FALLOC_FL_COLLAPSE_RANGE,
					     (off_t)off, (off_t)len), 0, 0);
	assert_int_equal(sdx_close(r->fs, fd), 0);
	if (is_insert) {
		size_t old = f->size;

		set_size(r, f, old + len);
		memmove(f->data + off + len, f->data + off, old - off);
		memset(f->data + off, 0, len);
	} else {
		memmove(f->data + off, f->data + off + len,
			f->size - off - len);
		set_size(r, f, f->size - len);
	}
	check_file(r, f, off > 8192 ? off - 8192 : 0, len + 16384);
}

static void op_unlink(struct run *r, struct node *f)
{
	char path[4096];

	path_of(f, path, sizeof(path));
	trace(r, "unlink %s", path);
	expect_ret(r, path, sdx_unlink(r->fs, path), 0, 0);
	detach(f);
	free_node(r, f);
}

static void op_rmdir(struct run *r, struct node *d)
{
	char path[4096];

	if (d == r->root || d == r->bigdir || d == r->lpf)
		return;
	path_of(d, path, sizeof(path));
	trace(r, "rmdir %s", path);
	expect_ret(r, path, sdx_rmdir(r->fs, path), d->nkids ? -1 : 0,
		   ENOTEMPTY);
	if (d->nkids == 0) {
		detach(d);
		free_node(r, d);
	}
}

/* The errno rename must give, or 0. */
static int rename_outcome(struct node *src, struct node *dst,
			  struct node *to_dir)
{
	if (src->is_dir && is_under(to_dir, src))
		return EINVAL;
	if (!dst || dst == src)
		return 0;
	if (src->is_dir && !dst->is_dir)
		return ENOTDIR;
	if (!src->is_dir && dst->is_dir)
		return EISDIR;
	if (dst->is_dir && dst->nkids)
		return ENOTEMPTY;
	return 0;
}

static void op_rename(struct run *r, struct node *src)
{
	struct node *to_dir = pick_dir(r), *dst;
	char from[4096], to[4096], name[16];
	int want;

	if (src == r->root || src == r->bigdir || src == r->lpf)
		return;
	pick_name(r, name);
	dst = child(to_dir, name);
	want = rename_outcome(src, dst, to_dir);
	path_of(src, from, sizeof(from));
	path_of(to_dir, to, sizeof(to));
	strcat(to, to_dir->parent ? "/" : "");
	strcat(to, name);
	trace(r, "rename %s %s", from, to);
	expect_ret(r, "rename", sdx_rename(r->fs, from, to), want ? -1 : 0,
		   want);
	if (want || dst == src)
		return;
	if (dst) {
		detach(dst);
		free_node(r, dst);
	}
	detach(src);
	attach(to_dir, src, name);
}

static void op_bigdir(struct run *r)
{
	char name[32];

	if (r->bigdir->nkids >= BIGDIR_MAX || below(r, 5) == 0) {
		struct node *x = r->bigdir->nkids ?
				 r->bigdir->kids[below(r, r->bigdir->nkids)] :
				 NULL;

		if (x && !x->is_dir)
			op_unlink(r, x);
		return;
	}
	snprintf(name, sizeof(name), "entry_with_a_longer_name_%05u",
		 r->big_next++);
	op_create(r, r->bigdir, name);
}

static void one_op(struct run *r)
{
	uint64_t k = below(r, 100);
	char name[16];
	struct node *f = r->nfiles ? r->files[below(r, r->nfiles)] : NULL;

	pick_name(r, name);
	if (k < 30)
		op_bigdir(r);
	else if (k < 40 || !f)
		op_create(r, pick_dir(r), name);
	else if (k < 60)
		op_write(r, f);
	else if (k < 66)
		op_truncate(r, f);
	else if (k < 70)
		op_fallocate(r, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
	else if (k < 74)
		op_fallocate(r, f, FALLOC_FL_ZERO_RANGE);
	else if (k < 76)
		op_shift(r, f, k % 2);
	else if (k < 80)
		check_file(r, f, below(r, f->size + 10), below(r, 2 * MIB));
	else if (k < 86)
		op_rename(r, below(r, 3) ? f : pick_dir(r));
	else if (k < 90)
		op_unlink(r, f);
	else if (k < 93)
		op_mkdir(r, pick_dir(r), name);
	else if (k < 96)
		op_rmdir(r, pick_dir(r));
	else if (k < 98 || !r->nlinks)
		op_symlink(r, pick_dir(r), name);
	else if (k < 99)
		op_rename(r, r->links[below(r, r->nlinks)]);
	else
		op_unlink(r, r->links[below(r, r->nlinks)]);
}

static unsigned env_or(const char *name, unsigned dflt)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)strtoul(v, NULL, 0) : dflt;
}

static void free_tree(struct run *r, struct node *d)
{
	while (d->nkids) {
		struct node *x = d->kids[d->nkids - 1];

		if (x->is_dir)
			free_tree(r, x);
		detach(x);
		free_node(r, x);
	}
}

static void run_seed(uint64_t seed, unsigned ops)
{
	struct run r = { .rng = seed };

	tu_mkfs(dev, 512 * MIB);
	r.fs = sdx_mount(dev, 0);
	assert_non_null(r.fs);
	r.buf = malloc(2 * MIB + 1);
	r.root = calloc(1, sizeof(*r.root));
	r.root->is_dir = true;
	list_add(&r.dirs, &r.ndirs, &r.capdirs, r.root);
	assert_int_equal(sdx_mkdir(r.fs, "/big", 0755), 0);
	r.bigdir = new_node(&r, r.root, "big", true);
	r.lpf = new_node(&r, r.root, "lost+found", true);
	while (r.big_next < BIGDIR_START)
		op_bigdir(&r);
	for (r.step = 0; r.step < ops; r.step++) {
		one_op(&r);
		if (r.step % 500 == 499)
			check_tree(&r, r.root);
		if (r.step % 1000 == 999) {	/* persistence mid-run */
			assert_int_equal(sdx_unmount(r.fs), 0);
			if (!tu_fsck_clean(dev))
				fail_msg("seed %llu step %u: e2fsck -fn found "
					 "errors", (unsigned long long)seed,
					 r.step);
			r.fs = sdx_mount(dev, 0);
			assert_non_null(r.fs);
		}
	}
	check_tree(&r, r.root);
	assert_int_equal(sdx_unmount(r.fs), 0);
	if (!tu_fsck_clean(dev))
		fail_msg("seed %llu: e2fsck -fn found errors",
			 (unsigned long long)seed);
	r.fs = sdx_mount(dev, SDX_MOUNT_RDONLY);
	assert_non_null(r.fs);
	check_tree(&r, r.root);
	printf("# seed %llu: %u ops, %zu files, %zu dirs, %zu in /big, "
	       "%zu MiB\n", (unsigned long long)seed, ops, r.nfiles, r.ndirs,
	       r.bigdir->nkids, r.total >> 20);
	assert_int_equal(sdx_unmount(r.fs), 0);
	free_tree(&r, r.root);
	free(r.root->kids);
	free(r.root);
	free(r.files);
	free(r.dirs);
	free(r.links);
	free(r.buf);
}

static void test_random_ops_match_model_and_fsck_clean(void **state)
{
	unsigned seeds = env_or("SDX_RANDOM_SEEDS", 3);
	unsigned ops = env_or("SDX_RANDOM_OPS", 2500);
	unsigned first = env_or("SDX_RANDOM_SEED", 1);

	(void)state;
	for (unsigned s = first; s < first + seeds; s++)
		run_seed(s, ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_ops_match_model_and_fsck_clean),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
