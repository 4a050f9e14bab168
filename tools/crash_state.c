/*
 * crash_state.c - the file-system state as crashtest compares it, taken
 * through the public API: one entry per path (type and permission bits,
 * size, and a hash of the content or the link target), sorted by path.
 * Timestamps, link counts and block placement are not part of it.
 *
 * The content of a ".rec" file is not hashed (crash_harness.h says why);
 * the walk still reads it when it scans for canary and foreign record
 * bytes, which it does for every regular file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "syncdax.h"
#include "crash_harness.h"

#define CHUNK (64u << 10)

struct walk {
	struct sdx_fs *fs;
	struct crash_state *st;
	struct crash_scan *scan;
	char *why;
	size_t why_len;
	uint8_t *buf;			/* CHUNK bytes */
};

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < n; i += 8) {
		w = 0;
		memcpy(&w, p + i, n - i < 8 ? n - i : 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 32;
	}
	return h ^ n;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_canary_file(const char *path)
{
	const char *base = strrchr(path, '/');

	return strncmp(base ? base + 1 : path, "canary", 6) == 0;
}

static int walk_failed(struct walk *w, const char *call, const char *path)
{
	int err = errno;

	snprintf(w->why, w->why_len, "%s %s: %s (%s)", call, path,
		 strerror(err), sdx_strerror_detail());
	errno = err;
	return -1;
}

int crash_array_grow(void *arr, size_t *max, size_t need, size_t elem)
{
	void **p = arr, *grown;
	size_t n = *max ? *max : 64;

	if (need <= *max)
		return 0;
	while (n < need)
		n *= 2;
	grown = realloc(*p, n * elem);
	if (!grown)
		return -1;
	*p = grown;
	*max = n;
	return 0;
}

static int add_entry(struct crash_state *st, const char *path, uint32_t mode,
		     uint64_t size, uint64_t hash)
{
	struct crash_entry *e;

	if (crash_array_grow(&st->entries, &st->max, st->nr + 1, sizeof(*e)))
		return -1;
	e = &st->entries[st->nr];
	e->path = strdup(path);
	if (!e->path)
		return -1;
	e->mode = mode;
	e->size = size;
	e->hash = hash;
	st->nr++;
	return 0;
}

/* Look at one chunk of @path (at file offset @off) for foreign bytes. */
static void scan_chunk(struct crash_scan *scan, const char *path,
		       const uint8_t *p, size_t n, uint64_t off)
{
	uint32_t own = crash_path_hash(path), hash;
	const char *what = NULL;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		if (memcmp(p + i, "SDXCANRY", 8) == 0 && !is_canary_file(path))
			what = "canary bytes of a deleted file";
		else if (memcmp(p + i, "SDXR", 4) == 0 &&
			 (memcpy(&hash, p + i + 4, 4), hash != own))
			what = "a record header of another file";
		else
			continue;
		if (scan->nr_findings++ == 0)
			snprintf(scan->finding, sizeof(scan->finding),
				 "%s at offset %llu shows %s", path,
				 (unsigned long long)(off + i), what);
	}
}

/* Read the whole regular file @path: hash it, scan it. */
static int read_file(struct walk *w, const char *path, uint64_t size,
		     uint64_t *hash)
{
	bool is_hashed = !has_suffix(path, ".rec");
	uint64_t off = 0, h = 0xcbf29ce484222325ull;
	int fd, ret = 0;
	ssize_t n;

	*hash = 0;
	if (!is_hashed && !w->scan)
		return 0;
	fd = sdx_open(w->fs, path, O_RDONLY, 0);
	if (fd < 0)
		return walk_failed(w, "sdx_open", path);
	while (off < size) {
		n = sdx_pread(w->fs, fd, w->buf, CHUNK, (off_t)off);
		if (n <= 0) {
			if (n == 0)
				errno = ENODATA;
			ret = walk_failed(w, "sdx_pread (short file)", path);
			break;
		}
		h = hash_bytes(h, w->buf, (size_t)n);
		if (w->scan)
			scan_chunk(w->scan, path, w->buf, (size_t)n, off);
		off += (uint64_t)n;
	}
	sdx_close(w->fs, fd);
	if (is_hashed)
		*hash = h;
	return ret;
}

/* The entry of @path (lstat'ed into @sb), then its children. */
static int walk_path(struct walk *w, const char *path, struct stat *sb);

static int walk_dir(struct walk *w, const char *dir)
{
	char **names = NULL, child[1024];
	size_t nr = 0, max = 0, i;
	struct sdx_dir *d;
	struct dirent *de;
	struct stat sb;
	int ret = 0;

	d = sdx_opendir(w->fs, dir);
	if (!d)
		return walk_failed(w, "sdx_opendir", dir);
	while ((de = sdx_readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (crash_array_grow(&names, &max, nr + 1, sizeof(*names)) ||
		    !(names[nr] = strdup(de->d_name))) {
			errno = ENOMEM;
			ret = walk_failed(w, "readdir", dir);
			break;
		}
		nr++;
	}
	sdx_closedir(d);
	for (i = 0; i < nr; i++) {
		snprintf(child, sizeof(child), "%s/%s",
			 strcmp(dir, "/") == 0 ? "" : dir, names[i]);
		if (ret == 0 && sdx_lstat(w->fs, child, &sb) < 0)
			ret = walk_failed(w, "sdx_lstat", child);
		if (ret == 0)
			ret = walk_path(w, child, &sb);
		free(names[i]);
	}
	free(names);
	return ret;
}

static int walk_path(struct walk *w, const char *path, struct stat *sb)
{
	uint64_t hash = 0;
	char target[4096];
	ssize_t n;

	if (S_ISREG(sb->st_mode)) {
		if (read_file(w, path, (uint64_t)sb->st_size, &hash) < 0)
			return -1;
	} else if (S_ISLNK(sb->st_mode)) {
		n = sdx_readlink(w->fs, path, target, sizeof(target));
		if (n < 0)
			return walk_failed(w, "sdx_readlink", path);
		hash = hash_bytes(1, (const uint8_t *)target, (size_t)n);
	}
	if (add_entry(w->st, path, sb->st_mode, (uint64_t)sb->st_size,
		      hash) < 0) {
		errno = ENOMEM;
		return walk_failed(w, "state", path);
	}
	return S_ISDIR(sb->st_mode) ? walk_dir(w, path) : 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct crash_entry *)a)->path,
		      ((const struct crash_entry *)b)->path);
}

int crash_state_take(struct sdx_fs *fs, struct crash_state *st,
		     struct crash_scan *scan, char *why, size_t why_len)
{
	struct walk w = { fs, st, scan, why, why_len, malloc(CHUNK) };
	struct stat sb;
	int ret;

	if (!w.buf) {
		errno = ENOMEM;
		return walk_failed(&w, "state", "/");
	}
	ret = sdx_lstat(fs, "/", &sb) < 0 ? walk_failed(&w, "sdx_lstat", "/")
					  : walk_path(&w, "/", &sb);
	free(w.buf);
	if (ret == 0)
		qsort(st->entries, st->nr, sizeof(*st->entries), entry_cmp);
	return ret;
}

void crash_state_free(struct crash_state *st)
{
	size_t i;

	for (i = 0; i < st->nr; i++)
		free(st->entries[i].path);
	free(st->entries);
	memset(st, 0, sizeof(*st));
}

int crash_state_log(int fd, unsigned k, const struct crash_state *st)
{
	char *text = NULL;
	size_t len = 0, done = 0, i;
	FILE *mem = open_memstream(&text, &len);
	ssize_t n;

	if (!mem)
		return -1;
	fprintf(mem, "O %u\n", k);
	for (i = 0; i < st->nr; i++)
		fprintf(mem, "e %o %llu %016llx %s\n", st->entries[i].mode,
			(unsigned long long)st->entries[i].size,
			(unsigned long long)st->entries[i].hash,
			st->entries[i].path);
	fputs(".\n", mem);
	if (fclose(mem) != 0)
		return -1;
	for (; done < len; done += (size_t)n) {
		n = write(fd, text + done, len - done);
		if (n <= 0)
			break;
	}
	free(text);
	return done == len ? 0 : -1;
}

int crash_state_parse(FILE *f, struct crash_state *st)
{
	unsigned long long size, hash;
	char *line = NULL, *path;
	size_t cap = 0;
	unsigned mode;
	int at, ret = -1;

	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		if (strcmp(line, ".") == 0) {
			ret = 0;
			break;
		}
		if (sscanf(line, "e %o %llu %llx %n", &mode, &size, &hash,
			   &at) != 3)
			break;
		path = line + at;
		if (add_entry(st, path, mode, size, hash) < 0)
			break;
	}
	free(line);
	return ret;
}

/* The difference between @g and @w (@c: strcmp of their paths) in words. */
static void tell_difference(const struct crash_entry *g,
			    const struct crash_entry *w, int c, char *diff,
			    size_t diff_len)
{
	if (c < 0)
		snprintf(diff, diff_len, "%s exists, it should not", g->path);
	else if (c > 0)
		snprintf(diff, diff_len, "%s is missing", w->path);
	else if (g->mode != w->mode || g->size != w->size)
		snprintf(diff, diff_len, "%s: mode 0%o size %llu, expected "
			 "mode 0%o size %llu", g->path, g->mode,
			 (unsigned long long)g->size, w->mode,
			 (unsigned long long)w->size);
	else
		snprintf(diff, diff_len, "%s: content differs (hash %016llx, "
			 "expected %016llx)", g->path,
			 (unsigned long long)g->hash,
			 (unsigned long long)w->hash);
}

const struct crash_entry *crash_state_find(const struct crash_state *st,
					   const char *path)
{
	const struct crash_entry key = { .path = (char *)path };

	return bsearch(&key, st->entries, st->nr, sizeof(key), entry_cmp);
}

static bool is_same(const struct crash_entry *g, const struct crash_entry *w,
		    const struct crash_loose *loose)
{
	if (loose && strcmp(g->path, loose->path) == 0)
		return g->mode == w->mode && g->size >= loose->min_size &&
		       g->size <= loose->max_size;
	return g->mode == w->mode && g->size == w->size && g->hash == w->hash;
}

size_t crash_state_diff(const struct crash_state *got,
			const struct crash_state *want,
			const struct crash_loose *loose, char *diff,
			size_t diff_len)
{
	size_t i = 0, j = 0, nr = 0;
	int c;

	while (i < got->nr || j < want->nr) {
		const struct crash_entry *g = i < got->nr ? &got->entries[i]
							  : NULL;
		const struct crash_entry *w = j < want->nr ? &want->entries[j]
							   : NULL;

		c = !g ? 1 : !w ? -1 : strcmp(g->path, w->path);
		if (c == 0 && is_same(g, w, loose)) {
			i++;
			j++;
			continue;
		}
		if (nr++ == 0)
			tell_difference(g, w, c, diff, diff_len);
		i += c <= 0;
		j += c >= 0;
	}
	if (nr == 0 && diff_len)
		diff[0] = 0;
	return nr;
}
