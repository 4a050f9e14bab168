/*
 * crash_state.c - the file-system state as crashtest compares it, taken
 * through the public API: one entry per path (type and permission bits,
 * size, and a hash of the content or the link target), sorted by path.
 * Timestamps, link counts and block placement are not part of it.
 *
 * The content of a ".rec" file is not hashed (crash_harness.h says why);
 * the walk still reads it when it scans for canary and foreign record
 * bytes, which it does for every regular file.
 *
 * Every entry also carries its extended attributes (llistxattr, then
 * lgetxattr of each name: POSIX ACLs in Linux's xattr form), sorted by
 * name and compared exactly, values included; the oracle log spells each
 * value in hex.
 */
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
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
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	if (!e->path)
		return -1;
	e->mode = mode;
	e->size = size;
	e->hash = hash;
	st->nr++;
	return 0;
}

/* Append a copy of attribute @name (@len bytes of @value) to @e. */
static int add_xattr(struct crash_entry *e, const char *name,
		     const uint8_t *value, size_t len)
{
	struct crash_xattr *grown, *x;

	grown = realloc(e->xattrs, (e->nr_xattrs + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	e->xattrs = grown;
	x = &grown[e->nr_xattrs];
	x->name = strdup(name);
	x->value = malloc(len ? len : 1);
	if (!x->name || !x->value) {
		free(x->name);
		free(x->value);
		return -1;
	}
	memcpy(x->value, value, len);
	x->len = len;
	e->nr_xattrs++;
	return 0;
}

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct crash_xattr *)a)->name,
		      ((const struct crash_xattr *)b)->name);
}

/* The extended attributes of @path into @e, sorted by name. */
static int read_xattrs(struct walk *w, const char *path, struct crash_entry *e)
{
	char *list = NULL, *name;
	uint8_t *value = NULL;
	ssize_t n, len;
	int ret = 0;

	n = sdx_llistxattr(w->fs, path, NULL, 0);
	if (n <= 0)
		return n < 0 ? walk_failed(w, "sdx_llistxattr", path) : 0;
	list = malloc((size_t)n + 1);
	if (!list) {
		errno = ENOMEM;
		return walk_failed(w, "sdx_llistxattr", path);
	}
	n = sdx_llistxattr(w->fs, path, list, (size_t)n);
	if (n < 0)
		ret = walk_failed(w, "sdx_llistxattr", path);
	else
		list[n] = 0;	/* a list not ended by its NUL stays bounded */
	for (name = list; ret == 0 && name < list + n;
	     name += strlen(name) + 1) {
		len = sdx_lgetxattr(w->fs, path, name, NULL, 0);
		value = len < 0 ? NULL : malloc((size_t)len + 1);
		if (len >= 0 && !value)
			errno = ENOMEM;
		if (!value || sdx_lgetxattr(w->fs, path, name, value,
					    (size_t)len) != len ||
		    add_xattr(e, name, value, (size_t)len) < 0) {
			snprintf(w->why, w->why_len, "sdx_lgetxattr %s %s: %s "
				 "(%s)", path, name, strerror(errno),
				 sdx_strerror_detail());
			ret = -1;
		}
		free(value);
	}
	free(list);
	if (ret == 0)
		qsort(e->xattrs, e->nr_xattrs, sizeof(*e->xattrs), xattr_cmp);
	return ret;
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
	if (read_xattrs(w, path, &w->st->entries[w->st->nr - 1]) < 0)
		return -1;
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
	size_t i, j;

	for (i = 0; i < st->nr; i++) {
		for (j = 0; j < st->entries[i].nr_xattrs; j++) {
			free(st->entries[i].xattrs[j].name);
			free(st->entries[i].xattrs[j].value);
		}
		free(st->entries[i].xattrs);
		free(st->entries[i].path);
	}
	free(st->entries);
	memset(st, 0, sizeof(*st));
}

int crash_state_log(int fd, unsigned k, const struct crash_state *st)
{
	char *text = NULL;
	size_t len = 0, done = 0, i, j, b;
	FILE *mem = open_memstream(&text, &len);
	const struct crash_xattr *x;
	ssize_t n;

	if (!mem)
		return -1;
	fprintf(mem, "O %u\n", k);
	for (i = 0; i < st->nr; i++) {
		fprintf(mem, "e %o %llu %016llx %s\n", st->entries[i].mode,
			(unsigned long long)st->entries[i].size,
			(unsigned long long)st->entries[i].hash,
			st->entries[i].path);
		for (j = 0; j < st->entries[i].nr_xattrs; j++) {
			x = &st->entries[i].xattrs[j];
			fprintf(mem, "x %zu %s", x->len, x->len ? "" : "-");
			for (b = 0; b < x->len; b++)
				fprintf(mem, "%02x", x->value[b]);
			fprintf(mem, " %s\n", x->name);
		}
	}
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

/* The hex digit @c's value, or -1. */
static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * The rest of an "x LEN HEX NAME" line, @line after "x LEN ", into the
 * last entry of @st.  Return: 0, or -1 when malformed or out of memory.
 */
static int parse_xattr(struct crash_state *st, const char *line, size_t len)
{
	size_t digits = len ? 2 * len : 1, i;
	uint8_t *value;
	int hi, lo, ret = -1;

	if (st->nr == 0 || len > SIZE_MAX / 2 - 1 ||
	    strnlen(line, digits + 2) != digits + 2 || line[digits] != ' ' ||
	    (!len && line[0] != '-'))
		return -1;
	value = malloc(len ? len : 1);
	if (!value)
		return -1;
	for (i = 0; i < len; i++) {
		hi = hex_digit(line[2 * i]);
		lo = hex_digit(line[2 * i + 1]);
		if (hi < 0 || lo < 0)
			goto out_free;
		value[i] = (uint8_t)(hi << 4 | lo);
	}
	ret = add_xattr(&st->entries[st->nr - 1], line + digits + 1, value,
			len);
out_free:
	free(value);
	return ret;
}

int crash_state_parse(FILE *f, struct crash_state *st)
{
	unsigned long long size, hash;
	char *line = NULL, *path;
	size_t cap = 0, len;
	unsigned mode;
	int at, ret = -1;

	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		if (strcmp(line, ".") == 0) {
			ret = 0;
			break;
		}
		if (sscanf(line, "x %zu %n", &len, &at) == 1) {
			if (parse_xattr(st, line + at, len) < 0)
				break;
			continue;
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

/* Are the attributes of @g and @w the same, names and values? */
static bool is_same_xattrs(const struct crash_entry *g,
			   const struct crash_entry *w)
{
	size_t i;

	if (g->nr_xattrs != w->nr_xattrs)
		return false;
	for (i = 0; i < g->nr_xattrs; i++)
		if (strcmp(g->xattrs[i].name, w->xattrs[i].name) ||
		    g->xattrs[i].len != w->xattrs[i].len ||
		    memcmp(g->xattrs[i].value, w->xattrs[i].value,
			   g->xattrs[i].len))
			return false;
	return true;
}

#define SHOWN_BYTES 16u	/* of a value printed in hex */

/*
 * A POSIX ACL's value (posix_acl_xattr: le32 version 2, then le16 tag,
 * le16 perm, le32 id per entry) as getfacl spells it, comma-separated.
 * Return: false when @x is no ACL of that form or does not fit @out.
 */
static bool acl_text(char *out, size_t out_len, const struct crash_xattr *x)
{
	static const char kinds[] = "uuggmo";	/* by the tag's one bit */
	char *text = NULL;
	size_t len = 0, i;
	uint16_t tag, perm;
	uint32_t word, id;
	bool is_acl = true;
	FILE *f;

	if (strncmp(x->name, "system.posix_acl_", 17) || x->len < 4 ||
	    (x->len - 4) % 8 || (memcpy(&word, x->value, 4),
				 le32toh(word) != 2))
		return false;
	f = open_memstream(&text, &len);
	if (!f)
		return false;
	for (i = 4; i < x->len && is_acl; i += 8) {
		memcpy(&tag, x->value + i, 2);
		memcpy(&perm, x->value + i + 2, 2);
		memcpy(&id, x->value + i + 4, 4);
		tag = le16toh(tag);
		perm = le16toh(perm);
		is_acl = tag && tag <= 0x20 && !(tag & (tag - 1));
		if (!is_acl)
			break;
		fprintf(f, "%s%c:", i > 4 ? "," : "",
			kinds[__builtin_ctz(tag)]);
		if (tag == 0x02 || tag == 0x08)	/* ACL_USER, ACL_GROUP */
			fprintf(f, "%u", le32toh(id));
		fprintf(f, ":%c%c%c", perm & 4 ? 'r' : '-',
			perm & 2 ? 'w' : '-', perm & 1 ? 'x' : '-');
	}
	if (fclose(f) != 0 || len >= out_len)
		is_acl = false;
	if (is_acl)
		memcpy(out, text, len + 1);
	free(text);
	return is_acl;
}

/* @x's value in words: an ACL as getfacl spells it, 'text' when short and
 * printable, else its first bytes in hex.  Return: true when in hex. */
static bool value_text(char *out, size_t out_len, const struct crash_xattr *x)
{
	bool is_text = x->len <= 2 * SHOWN_BYTES;
	size_t i, n = 0;

	if (acl_text(out, out_len, x))
		return false;
	for (i = 0; i < x->len && is_text; i++)
		is_text = isprint(x->value[i]);
	if (is_text) {
		snprintf(out, out_len, "'%.*s'", (int)x->len,
			 (const char *)x->value);
		return false;
	}
	n = (size_t)snprintf(out, out_len, "%zu bytes 0x", x->len);
	for (i = 0; i < x->len && i < SHOWN_BYTES && n < out_len; i++)
		n += (size_t)snprintf(out + n, out_len - n, "%02x",
				      x->value[i]);
	if (x->len > SHOWN_BYTES && n < out_len)
		snprintf(out + n, out_len - n, "...");
	return true;
}

/* The first attribute in which @g and @w differ, in words. */
static void tell_xattr_difference(const struct crash_entry *g,
				  const struct crash_entry *w, char *diff,
				  size_t diff_len)
{
	const struct crash_xattr *a, *b;
	char got[160], want[160];
	size_t i, at;
	bool is_hex;
	int c;

	/* both sorted: the first unequal pair tells */
	for (i = 0; i < g->nr_xattrs || i < w->nr_xattrs; i++) {
		a = i < g->nr_xattrs ? &g->xattrs[i] : NULL;
		b = i < w->nr_xattrs ? &w->xattrs[i] : NULL;
		c = !a ? 1 : !b ? -1 : strcmp(a->name, b->name);
		if (c < 0) {
			snprintf(diff, diff_len, "%s: xattr %s exists, it "
				 "should not", g->path, a->name);
			return;
		}
		if (c > 0) {
			snprintf(diff, diff_len, "%s: xattr %s is missing",
				 g->path, b->name);
			return;
		}
		if (a->len == b->len && !memcmp(a->value, b->value, a->len))
			continue;
		for (at = 0; at < a->len && at < b->len &&
		     a->value[at] == b->value[at]; at++)
			;
		is_hex = value_text(got, sizeof(got), a);
		is_hex |= value_text(want, sizeof(want), b);
		snprintf(diff, diff_len, "%s: xattr %s: %s != %s", g->path,
			 a->name, got, want);
		if (is_hex && at >= SHOWN_BYTES && strlen(diff) + 1 < diff_len)
			snprintf(diff + strlen(diff), diff_len - strlen(diff),
				 " (first difference at byte %zu)", at);
		return;
	}
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
	else if (g->hash != w->hash)
		snprintf(diff, diff_len, "%s: content differs (hash %016llx, "
			 "expected %016llx)", g->path,
			 (unsigned long long)g->hash,
			 (unsigned long long)w->hash);
	else
		tell_xattr_difference(g, w, diff, diff_len);
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
		       g->size <= loose->max_size && is_same_xattrs(g, w);
	return g->mode == w->mode && g->size == w->size &&
	       g->hash == w->hash && is_same_xattrs(g, w);
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
