/*
 * crash_workloads.c - the workloads of `syncdax crashtest` and the side
 * channel they write (the format is in crash_harness.h).
 *
 * A workload is a sequence of operations, each ONE state-changing call of
 * the public API (create, write, truncate, fsync, rename, ...), run through
 * do_op(), which logs "S k" before and "E k D" after the call and, in the
 * oracle run, the whole file-system state after it.  Records stored through
 * a mapping are no operations: they are acknowledged with an "R" line once
 * sdx_persist() has returned (msync for a plain shared mapping, fsync for
 * records written with pwrite).
 *
 * Every workload starts with the canary prelude: a file full of canary
 * bytes is made durable and unlinked, so that the blocks it frees are
 * handed out again by what follows; the checker then requires that no
 * canary byte is visible in any file.
 *
 * Invariants:
 *   (1) An operation is marked durable only where syncdax promises the
 *       whole prefix durable: fsync/fdatasync of a file the workload has
 *       just changed (the commit takes the running transaction, which holds
 *       every earlier operation), and the final unmount.
 *   (2) Records are never stored twice at one offset: an acknowledged
 *       record stays where it is until an "F" line forgets it.
 *   (3) A workload's choices depend only on its scale and seed, so every
 *       run of it makes the same calls in the same order (the threads
 *       workload interleaves its two threads differently from run to run).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "syncdax.h"
#include "crash_harness.h"

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

#define CANARY_MAGIC "SDXCANRY"
#define CANARY_SIZE (64u << 10)
#define MAP_FILE_SIZE (256u << 10)

uint64_t crash_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* FNV-1a, 32 bits. */
uint32_t crash_path_hash(const char *path)
{
	uint32_t h = 2166136261u;

	for (; *path; path++)
		h = (h ^ (uint8_t)*path) * 16777619u;
	return h;
}

void crash_record_fill(uint8_t *buf, size_t len, const char *path,
		       uint64_t off, uint64_t tag)
{
	uint32_t hash = crash_path_hash(path);
	uint64_t state = ((uint64_t)hash << 32) ^ tag ^ (off << 7);
	size_t i;

	for (i = 0; i < len; i += 8) {
		uint64_t word = crash_random(&state);

		memcpy(buf + i, &word, len - i < 8 ? len - i : 8);
	}
	memcpy(buf, "SDXR", len < 4 ? len : 4);
	if (len >= 16) {
		memcpy(buf + 4, &hash, 4);
		memcpy(buf + 8, &tag, 8);
	}
}

/* Plain file data: a function of the file offset only (no magic). */
static void data_fill(uint8_t *buf, size_t len, uint64_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)((off + i) * 131u + ((off + i) >> 12) + 7u);
}

static void log_line(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Append one line to the side channel (one write: atomic with O_APPEND). */
static void log_line(int fd, const char *fmt, ...)
{
	char line[600];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && write(fd, line, (size_t)n) != n)
		_exit(3);	/* a harness without its side channel is blind */
}

/* A path built from a format (a ring of buffers; the calling thread only). */
static const char *pathf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static const char *pathf(const char *fmt, ...)
{
	static char ring[8][128];
	static unsigned next;
	char *p = ring[next++ % 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, sizeof(ring[0]), fmt, ap);
	va_end(ap);
	return p;
}

/* ---- operations ---- */

enum op_kind {
	OP_CREATE, OP_WRITE, OP_TRUNCATE, OP_FSYNC, OP_FDATASYNC, OP_MKDIR,
	OP_RMDIR, OP_UNLINK, OP_RENAME, OP_SYMLINK, OP_FALLOCATE, OP_SETFLAGS,
	OP_DEFRAG, OP_SETXATTR, OP_REMOVEXATTR, OP_CHMOD,
};

static const char *const op_names[] = {
	[OP_CREATE] = "create", [OP_WRITE] = "write",
	[OP_TRUNCATE] = "truncate", [OP_FSYNC] = "fsync",
	[OP_FDATASYNC] = "fdatasync", [OP_MKDIR] = "mkdir",
	[OP_RMDIR] = "rmdir", [OP_UNLINK] = "unlink",
	[OP_RENAME] = "rename", [OP_SYMLINK] = "symlink",
	[OP_FALLOCATE] = "fallocate", [OP_SETFLAGS] = "setflags",
	[OP_DEFRAG] = "defrag", [OP_SETXATTR] = "setxattr",
	[OP_REMOVEXATTR] = "removexattr", [OP_CHMOD] = "chmod",
};

struct op {
	enum op_kind kind;
	const char *path;
	const char *path2;	/* rename: the new name; symlink: the target */
	uint64_t off, len;	/* write, truncate (len), fallocate;
				 * setxattr: the value's size (len) */
	uint64_t tag;		/* write: 0 data, else one record of this tag */
	int mode;		/* fallocate mode; setflags: flags to add;
				 * setxattr: XATTR_CREATE/REPLACE; chmod */
	bool is_canary;		/* write: canary bytes */
	const char *name;	/* setxattr, removexattr: the attribute */
	const void *value;	/* setxattr */
};

#define DO(r, KIND, PATH, ...) \
	do_op((r), &(struct op){ .kind = (KIND), .path = (PATH), __VA_ARGS__ })

/* Record why the call @call failed (errno and the library's detail). */
static int call_failed(struct crash_run *r, const char *call)
{
	int err = errno;

	snprintf(r->error, sizeof(r->error), "%s: %s (%s)", call,
		 strerror(err), sdx_strerror_detail());
	errno = err;
	return -1;
}

static int write_op(struct crash_run *r, int fd, const struct op *op)
{
	uint8_t *buf = malloc(op->len ? op->len : 1);
	uint64_t i;
	ssize_t n;

	if (!buf)
		return call_failed(r, "malloc");
	if (op->is_canary)
		for (i = 0; i < op->len; i += 8)
			memcpy(buf + i, CANARY_MAGIC,
			       op->len - i < 8 ? op->len - i : 8);
	else if (op->tag)
		crash_record_fill(buf, op->len, op->path, op->off, op->tag);
	else
		data_fill(buf, op->len, op->off);
	n = sdx_pwrite(r->fs, fd, buf, op->len, (off_t)op->off);
	free(buf);
	if (n < 0)
		return call_failed(r, "sdx_pwrite");
	if ((uint64_t)n != op->len) {
		snprintf(r->error, sizeof(r->error), "sdx_pwrite: wrote %zd "
			 "of %llu bytes", n, (unsigned long long)op->len);
		return -1;
	}
	return 0;
}

/* The operations on an open file: open, call, close. */
static int fd_op(struct crash_run *r, const struct op *op)
{
	int flags = op->kind == OP_CREATE ? O_CREAT | O_EXCL | O_RDWR : O_RDWR;
	int fd = sdx_open(r->fs, op->path, flags, 0644), ret = 0;
	unsigned fl;

	if (fd < 0)
		return call_failed(r, "sdx_open");
	switch (op->kind) {
	case OP_WRITE:
		ret = write_op(r, fd, op);
		break;
	case OP_TRUNCATE:
		if (sdx_ftruncate(r->fs, fd, (off_t)op->len) < 0)
			ret = call_failed(r, "sdx_ftruncate");
		break;
	case OP_FSYNC:
		if (sdx_fsync(r->fs, fd) < 0)
			ret = call_failed(r, "sdx_fsync");
		break;
	case OP_FDATASYNC:
		if (sdx_fdatasync(r->fs, fd) < 0)
			ret = call_failed(r, "sdx_fdatasync");
		break;
	case OP_FALLOCATE:
		if (sdx_fallocate(r->fs, fd, op->mode, (off_t)op->off,
				  (off_t)op->len) < 0)
			ret = call_failed(r, "sdx_fallocate");
		break;
	case OP_SETFLAGS:
		if (sdx_getflags(r->fs, fd, &fl) < 0 ||
		    sdx_setflags(r->fs, fd, fl | (unsigned)op->mode) < 0)
			ret = call_failed(r, "sdx_setflags");
		break;
	case OP_DEFRAG:
		if (sdx_defrag(r->fs, fd, NULL, NULL) < 0)
			ret = call_failed(r, "sdx_defrag");
		break;
	default:
		break;
	}
	if (sdx_close(r->fs, fd) < 0 && ret == 0)
		ret = call_failed(r, "sdx_close");
	return ret;
}

static int exec_op(struct crash_run *r, const struct op *op)
{
	switch (op->kind) {
	case OP_MKDIR:
		return sdx_mkdir(r->fs, op->path, 0755) < 0 ?
		       call_failed(r, "sdx_mkdir") : 0;
	case OP_RMDIR:
		return sdx_rmdir(r->fs, op->path) < 0 ?
		       call_failed(r, "sdx_rmdir") : 0;
	case OP_UNLINK:
		return sdx_unlink(r->fs, op->path) < 0 ?
		       call_failed(r, "sdx_unlink") : 0;
	case OP_RENAME:
		return sdx_rename(r->fs, op->path, op->path2) < 0 ?
		       call_failed(r, "sdx_rename") : 0;
	case OP_SYMLINK:
		return sdx_symlink(r->fs, op->path2, op->path) < 0 ?
		       call_failed(r, "sdx_symlink") : 0;
	case OP_SETXATTR:
		return sdx_setxattr(r->fs, op->path, op->name, op->value,
				    op->len, op->mode) < 0 ?
		       call_failed(r, "sdx_setxattr") : 0;
	case OP_REMOVEXATTR:
		return sdx_removexattr(r->fs, op->path, op->name) < 0 ?
		       call_failed(r, "sdx_removexattr") : 0;
	case OP_CHMOD:
		return sdx_chmod(r->fs, op->path, (mode_t)op->mode) < 0 ?
		       call_failed(r, "sdx_chmod") : 0;
	default:
		return fd_op(r, op);
	}
}

/* The oracle run: log the state after operation @k (0: after mount). */
static int log_state(struct crash_run *r, unsigned k)
{
	struct crash_state st = { 0 };
	char why[300];
	int ret = 0;

	if (crash_state_take(r->fs, &st, NULL, why, sizeof(why)) < 0) {
		snprintf(r->error, sizeof(r->error), "state after op %u: %s",
			 k, why);
		ret = -1;
	} else if (crash_state_log(r->log_fd, k, &st) < 0) {
		ret = call_failed(r, "oracle log");
	}
	crash_state_free(&st);
	return ret;
}

/* "E k D", and in the oracle run the state after operation @k. */
static int op_done(struct crash_run *r, unsigned k, bool is_durable)
{
	log_line(r->log_fd, "E %u %d\n", k, is_durable);
	return r->is_oracle ? log_state(r, k) : 0;
}

static int do_op(struct crash_run *r, const struct op *op)
{
	char desc[320], detail[512];
	unsigned k = ++r->next_op;
	int n;

	n = snprintf(desc, sizeof(desc), "%s %s", op_names[op->kind],
		     op->path);
	if (op->path2)
		snprintf(desc + n, sizeof(desc) - (size_t)n, " %s", op->path2);
	else if (op->kind == OP_WRITE || op->kind == OP_FALLOCATE)
		snprintf(desc + n, sizeof(desc) - (size_t)n, " %llu+%llu%s",
			 (unsigned long long)op->off,
			 (unsigned long long)op->len,
			 op->is_canary ? " canary" : op->tag ? " record" : "");
	else if (op->kind == OP_TRUNCATE)
		snprintf(desc + n, sizeof(desc) - (size_t)n, " %llu",
			 (unsigned long long)op->len);
	else if (op->kind == OP_SETXATTR)
		snprintf(desc + n, sizeof(desc) - (size_t)n, " %s %llu%s",
			 op->name, (unsigned long long)op->len,
			 op->mode == XATTR_CREATE ? " create" :
			 op->mode == XATTR_REPLACE ? " replace" : "");
	else if (op->kind == OP_REMOVEXATTR)
		snprintf(desc + n, sizeof(desc) - (size_t)n, " %s", op->name);
	else if (op->kind == OP_CHMOD)
		snprintf(desc + n, sizeof(desc) - (size_t)n, " 0%o", op->mode);
	log_line(r->log_fd, "S %u %s\n", k, desc);
	if (exec_op(r, op) < 0) {
		snprintf(detail, sizeof(detail), "%s", r->error);
		snprintf(r->error, sizeof(r->error), "op %u (%.200s): %.280s", k, desc,
			 detail);
		return -1;
	}
	return op_done(r, k, op->kind == OP_FSYNC ||
			     op->kind == OP_FDATASYNC);
}

/* ---- records through a mapping ---- */

/* Acknowledge a record durable ("R"). */
static void ack_record(int log_fd, const char *path, uint64_t off,
		       uint64_t len, uint64_t tag)
{
	log_line(log_fd, "R %llu %llu %llu %s\n", (unsigned long long)off,
		 (unsigned long long)len, (unsigned long long)tag, path);
}

/* Store record @tag at @off of @path's mapping @map (not yet durable). */
static void store_record(uint8_t *map, const char *path, uint64_t off,
			 uint64_t tag)
{
	uint8_t rec[CRASH_RECORD_SIZE];

	crash_record_fill(rec, sizeof(rec), path, off, tag);
	memcpy(map + off, rec, sizeof(rec));
}

/* Store a record through a synchronous mapping, persist, acknowledge. */
static void map_record(int log_fd, uint8_t *map, const char *path,
		       uint64_t off, uint64_t tag)
{
	store_record(map, path, off, tag);
	sdx_persist(map + off, CRASH_RECORD_SIZE);
	ack_record(log_fd, path, off, CRASH_RECORD_SIZE, tag);
}

/* Open @path and map @len bytes of it read-write with @flags. */
static int map_open(struct crash_run *r, const char *path, size_t len,
		    int flags, int *fd, uint8_t **map)
{
	void *p;

	*fd = sdx_open(r->fs, path, O_RDWR, 0);
	if (*fd < 0)
		return call_failed(r, "sdx_open");
	p = sdx_mmap(r->fs, NULL, len, PROT_READ | PROT_WRITE, flags, *fd, 0);
	if (p == NULL || p == MAP_FAILED) {
		call_failed(r, "sdx_mmap");
		sdx_close(r->fs, *fd);
		return -1;
	}
	*map = p;
	return 0;
}

static int map_close(struct crash_run *r, int fd, uint8_t *map, size_t len)
{
	int ret = 0;

	if (sdx_munmap(map, len) < 0)
		ret = call_failed(r, "sdx_munmap");
	if (sdx_close(r->fs, fd) < 0 && ret == 0)
		ret = call_failed(r, "sdx_close");
	return ret;
}

/*
 * The offset of record @i of a @size-byte file: a permutation of the
 * record slots (an odd stride over a power-of-two count) that moves to
 * another page at nearly every step, so records fault in page after page.
 */
static uint64_t record_slot(uint64_t seed, uint64_t i, uint64_t size)
{
	uint64_t nr_slots = size / CRASH_RECORD_SIZE;

	return (seed + i * 67) % nr_slots * CRASH_RECORD_SIZE;
}

/* ---- the workloads ---- */

/* A canary file made durable and deleted: its blocks are free again. */
static int canary_prelude(struct crash_run *r)
{
	if (DO(r, OP_CREATE, "/canary") || DO(r, OP_WRITE, "/canary",
	       .len = CANARY_SIZE, .is_canary = true) ||
	    DO(r, OP_FSYNC, "/canary") || DO(r, OP_UNLINK, "/canary"))
		return -1;
	return 0;
}

static int wl_metadata(struct crash_run *r)
{
	unsigned i, n = 3 * r->scale;
	int err = canary_prelude(r);

	err = err ? err : DO(r, OP_CREATE, "/sync");
	for (i = 0; i < n && !err; i++) {
		err = DO(r, OP_MKDIR, pathf("/d%u", i)) ||
		      DO(r, OP_CREATE, pathf("/d%u/a", i)) ||
		      DO(r, OP_WRITE, pathf("/d%u/a", i),
			 .len = 5000 + 8 * i) ||
		      DO(r, OP_RENAME, pathf("/d%u/a", i),
			 .path2 = pathf("/d%u/b", i)) ||
		      DO(r, OP_SYMLINK, pathf("/l%u", i),
			 .path2 = pathf("d%u/b", i)) ||
		      DO(r, OP_CREATE, pathf("/f%u", i)) ||
		      DO(r, OP_TRUNCATE, pathf("/f%u", i), .len = 20000) ||
		      DO(r, OP_WRITE, pathf("/f%u", i), .off = 20000,
			 .len = 3000);
		if (!err && i > 1)
			err = DO(r, OP_UNLINK, pathf("/d%u/c%u", i - 1, i - 2));
		if (!err && i > 0)
			err = DO(r, OP_RENAME, pathf("/d%u/b", i - 1),
				 .path2 = pathf("/d%u/c%u", i, i - 1)) ||
			      DO(r, OP_RMDIR, pathf("/d%u", i - 1)) ||
			      DO(r, OP_UNLINK, pathf("/l%u", i - 1)) ||
			      DO(r, OP_TRUNCATE, pathf("/f%u", i - 1),
				 .len = 100);
		if (!err && i % 2)
			err = DO(r, OP_UNLINK, pathf("/f%u", i - 1));
		err = err ? err : DO(r, OP_WRITE, "/sync", .off = 64 * i,
				     .len = 64);
		err = err ? err : DO(r, i % 2 ? OP_FDATASYNC : OP_FSYNC,
				     "/sync");
	}
	return err ? -1 : 0;
}

/* Records appended with pwrite; acknowledged after fsync/fdatasync. */
static int wl_append(struct crash_run *r)
{
	uint64_t state = r->seed, off = 0, acked = 0, i, n = 8 * r->scale;
	uint64_t lens[64], first = 0;
	int err = canary_prelude(r);

	err = err ? err : DO(r, OP_CREATE, "/log");
	for (i = 0; i < n && !err; i++) {
		lens[i % 64] = 64 + 8 * (crash_random(&state) % 120);
		err = DO(r, OP_WRITE, "/log", .off = off, .len = lens[i % 64],
			 .tag = i + 1);
		off += lens[i % 64];
		if (err || i % 3 == 2)
			continue;	/* not synced yet: not acknowledged */
		err = DO(r, i % 2 ? OP_FDATASYNC : OP_FSYNC, "/log");
		for (; !err && first <= i; first++) {
			ack_record(r->log_fd, "/log", acked, lens[first % 64],
				   first + 1);
			acked += lens[first % 64];
		}
	}
	return err ? -1 : 0;
}

enum map_setup { SETUP_SPARSE, SETUP_PREALLOC, SETUP_SYNCFLAG, SETUP_MSYNC };

#define MSYNC_BATCH 2	/* records per msync */

/*
 * Records stored through a mapping of a prepared file: a synchronous one
 * (each record acknowledged after sdx_persist), or for SETUP_MSYNC a plain
 * MAP_SHARED one (records acknowledged in batches after msync MS_SYNC).
 */
static int map_records(struct crash_run *r, const char *path,
		       enum map_setup setup)
{
	int flags = MAP_SHARED_VALIDATE | MAP_SYNC, fd, err;
	uint64_t i, j, n = 32 * r->scale;
	uint8_t *map;

	err = canary_prelude(r) || DO(r, OP_CREATE, path);
	if (!err && setup == SETUP_SYNCFLAG)
		err = DO(r, OP_SETFLAGS, path, .mode = FS_SYNC_FL);
	if (setup == SETUP_SYNCFLAG || setup == SETUP_MSYNC)
		flags = MAP_SHARED;	/* synchronous by the flag, or not */
	if (!err && setup == SETUP_PREALLOC)
		err = DO(r, OP_FALLOCATE, path, .len = MAP_FILE_SIZE);
	else if (!err)
		err = DO(r, OP_TRUNCATE, path, .len = MAP_FILE_SIZE);
	err = err ? err : DO(r, OP_FSYNC, path);
	if (err || map_open(r, path, MAP_FILE_SIZE, flags, &fd, &map))
		return -1;
	for (i = 0; i < n && setup != SETUP_MSYNC; i++)
		map_record(r->log_fd, map, path,
			   record_slot(r->seed, i, MAP_FILE_SIZE), i + 1);
	for (i = 0; i < n && setup == SETUP_MSYNC; i += MSYNC_BATCH) {
		for (j = i; j < i + MSYNC_BATCH && j < n; j++)
			store_record(map, path, record_slot(r->seed, j,
							    MAP_FILE_SIZE),
				     j + 1);
		if (sdx_msync(map, MAP_FILE_SIZE, MS_SYNC) < 0) {
			call_failed(r, "sdx_msync");
			map_close(r, fd, map, MAP_FILE_SIZE);
			return -1;
		}
		for (j = i; j < i + MSYNC_BATCH && j < n; j++)
			ack_record(r->log_fd, path, record_slot(r->seed, j,
								MAP_FILE_SIZE),
				   CRASH_RECORD_SIZE, j + 1);
	}
	return map_close(r, fd, map, MAP_FILE_SIZE);
}

static int wl_mapsync(struct crash_run *r)
{
	return map_records(r, "/m.rec", SETUP_SPARSE);
}

static int wl_prealloc(struct crash_run *r)
{
	return map_records(r, "/p.rec", SETUP_PREALLOC);
}

static int wl_syncflag(struct crash_run *r)
{
	return map_records(r, "/s.rec", SETUP_SYNCFLAG);
}

static int wl_msync(struct crash_run *r)
{
	return map_records(r, "/n.rec", SETUP_MSYNC);
}

#define PUNCH_PAGES 16u
#define PUNCH_SIZE (PUNCH_PAGES * SDX_PAGE_SIZE)

/*
 * Records into pages [from, to) at slot @slot of each page; from round 16
 * on the slots of round 0 come again, so the record there is forgotten
 * first (invariant 2).
 */
static void page_records(struct crash_run *r, uint8_t *map, unsigned from,
			 unsigned to, unsigned slot, bool is_reused,
			 uint64_t *tag)
{
	uint64_t off;
	unsigned p;

	for (p = from; p < to; p++) {
		off = p * SDX_PAGE_SIZE + slot * CRASH_RECORD_SIZE;
		if (is_reused)
			log_line(r->log_fd, "F %llu %u /h.rec\n",
				 (unsigned long long)off, CRASH_RECORD_SIZE);
		map_record(r->log_fd, map, "/h.rec", off, ++*tag);
	}
}

/* Punch, zero and collapse ranges of a file while it is mapped. */
static int wl_punch(struct crash_run *r)
{
	const char *path = "/h.rec";
	uint64_t tag = 0;
	unsigned round, slot;
	bool is_reused;
	uint8_t *map;
	int fd, err;

	err = canary_prelude(r) || DO(r, OP_CREATE, path) ||
	      DO(r, OP_TRUNCATE, path, .len = PUNCH_SIZE) ||
	      DO(r, OP_FSYNC, path);
	if (err || map_open(r, path, PUNCH_SIZE, MAP_SHARED_VALIDATE |
			    MAP_SYNC, &fd, &map))
		return -1;
	for (round = 0; round < r->scale && !err; round++) {
		slot = 4 * (round % 16);
		is_reused = round >= 16;
		page_records(r, map, 0, PUNCH_PAGES, slot, is_reused, &tag);
		log_line(r->log_fd, "F %u %u %s\n", 2 * SDX_PAGE_SIZE,
			 2 * SDX_PAGE_SIZE, path);
		err = DO(r, OP_FALLOCATE, path, .off = 2 * SDX_PAGE_SIZE,
			 .len = 2 * SDX_PAGE_SIZE,
			 .mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) ||
		      DO(r, OP_FSYNC, path);
		if (err)
			break;
		page_records(r, map, 2, 4, slot + 1, is_reused, &tag);
		log_line(r->log_fd, "F %u %u %s\n", 5 * SDX_PAGE_SIZE,
			 SDX_PAGE_SIZE, path);
		err = DO(r, OP_FALLOCATE, path, .off = 5 * SDX_PAGE_SIZE,
			 .len = SDX_PAGE_SIZE,
			 .mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE) ||
		      DO(r, OP_FSYNC, path);
		if (err)
			break;
		page_records(r, map, 5, 6, slot + 2, is_reused, &tag);
		log_line(r->log_fd, "F %u 0 %s\n", 8 * SDX_PAGE_SIZE, path);
		err = DO(r, OP_FALLOCATE, path, .off = 8 * SDX_PAGE_SIZE,
			 .len = SDX_PAGE_SIZE,
			 .mode = FALLOC_FL_COLLAPSE_RANGE) ||
		      DO(r, OP_TRUNCATE, path, .len = PUNCH_SIZE) ||
		      DO(r, OP_FSYNC, path);
		if (err)
			break;
		page_records(r, map, 8, PUNCH_PAGES, slot + 3, is_reused,
			     &tag);
	}
	return map_close(r, fd, map, PUNCH_SIZE) || err ? -1 : 0;
}

struct recorder {
	int log_fd;
	uint8_t *map;
	uint64_t seed, n;
};

static void *record_thread(void *arg)
{
	struct recorder *rc = arg;
	uint64_t i;

	for (i = 0; i < rc->n; i++)
		map_record(rc->log_fd, rc->map, "/t.rec",
			   record_slot(rc->seed, i, MAP_FILE_SIZE), i + 1);
	return NULL;
}

/* Faults through a synchronous mapping in one thread, metadata in another. */
static int wl_threads(struct crash_run *r)
{
	struct recorder rc = { r->log_fd, NULL, r->seed, 16 * r->scale };
	unsigned j, n = 4 * r->scale;
	pthread_t thread;
	int fd, err;

	err = canary_prelude(r) || DO(r, OP_CREATE, "/t.rec") ||
	      DO(r, OP_TRUNCATE, "/t.rec", .len = MAP_FILE_SIZE) ||
	      DO(r, OP_FSYNC, "/t.rec") || DO(r, OP_MKDIR, "/d") ||
	      DO(r, OP_CREATE, "/d/s");
	if (err || map_open(r, "/t.rec", MAP_FILE_SIZE, MAP_SHARED_VALIDATE |
			    MAP_SYNC, &fd, &rc.map))
		return -1;
	if (pthread_create(&thread, NULL, record_thread, &rc) != 0) {
		snprintf(r->error, sizeof(r->error), "pthread_create failed");
		map_close(r, fd, rc.map, MAP_FILE_SIZE);
		return -1;
	}
	for (j = 0; j < n && !err; j++) {
		err = DO(r, OP_CREATE, pathf("/d/x%u", j)) ||
		      DO(r, OP_WRITE, pathf("/d/x%u", j),
			 .len = 4096 + 512 * j) ||
		      DO(r, OP_RENAME, pathf("/d/x%u", j),
			 .path2 = pathf("/d/y%u", j));
		if (!err && j > 0)
			err = DO(r, OP_UNLINK, pathf("/d/y%u", j - 1));
		err = err ? err : DO(r, OP_WRITE, "/d/s", .off = 64 * j,
				     .len = 64);
		err = err ? err : DO(r, OP_FSYNC, "/d/s");
	}
	pthread_join(thread, NULL);
	return map_close(r, fd, rc.map, MAP_FILE_SIZE) || err ? -1 : 0;
}

#define DEFRAG_PAGES 8u

/*
 * Defragment a file while it is mapped and written through the mapping:
 * written interleaved with another file (fragments), then each round
 * stores records, punches a page and faults it in again (a new fragment
 * elsewhere) and defragments.
 */
static int wl_defrag(struct crash_run *r)
{
	const char *path = "/a.rec";
	uint64_t size = 2 * DEFRAG_PAGES * SDX_PAGE_SIZE, tag, q;
	unsigned p, round;
	uint8_t *map;
	int fd, err;

	err = canary_prelude(r) || DO(r, OP_CREATE, path) ||
	      DO(r, OP_CREATE, "/b");
	for (p = 0; p < DEFRAG_PAGES && !err; p++)	/* interleaved */
		err = DO(r, OP_WRITE, path, .off = p * SDX_PAGE_SIZE,
			 .len = SDX_PAGE_SIZE, .tag = p + 1) ||
		      DO(r, OP_WRITE, "/b", .off = p * SDX_PAGE_SIZE,
			 .len = SDX_PAGE_SIZE);
	err = err ? err : DO(r, OP_TRUNCATE, path, .len = size) ||
			  DO(r, OP_FSYNC, path);
	for (p = 0; p < DEFRAG_PAGES && !err; p++)
		ack_record(r->log_fd, path, p * SDX_PAGE_SIZE, SDX_PAGE_SIZE,
			   p + 1);
	tag = DEFRAG_PAGES;
	if (err || map_open(r, path, size, MAP_SHARED_VALIDATE | MAP_SYNC,
			    &fd, &map))
		return -1;
	for (round = 0; round < r->scale && !err; round++) {
		for (p = DEFRAG_PAGES; p < 2 * DEFRAG_PAGES; p++)
			map_record(r->log_fd, map, path, p * SDX_PAGE_SIZE +
				   round * CRASH_RECORD_SIZE, ++tag);
		q = (round % DEFRAG_PAGES) * SDX_PAGE_SIZE;
		log_line(r->log_fd, "F %llu %u %s\n", (unsigned long long)q,
			 SDX_PAGE_SIZE, path);
		err = DO(r, OP_FALLOCATE, path, .off = q, .len = SDX_PAGE_SIZE,
			 .mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) ||
		      DO(r, OP_FSYNC, path);
		if (err)
			break;
		map_record(r->log_fd, map, path, q + round * CRASH_RECORD_SIZE,
			   ++tag);
		err = DO(r, OP_DEFRAG, path) || DO(r, OP_FSYNC, path);
	}
	return map_close(r, fd, map, size) || err ? -1 : 0;
}

#define SHIFT_PAGES 24u

/*
 * Insert and collapse ranges of a fragmented file (one-block extents,
 * interleaved with another file's, so the extent tree has a leaf below
 * the root): each call shifts the extents in one transaction, so a crash
 * leaves the file as it was before the call or after it, never between.
 */
static int wl_shift(struct crash_run *r)
{
	const char *path = "/shift";
	uint64_t p, at;
	unsigned round;
	int err;

	err = canary_prelude(r) || DO(r, OP_CREATE, path) ||
	      DO(r, OP_CREATE, "/other");
	for (p = 0; p < SHIFT_PAGES && !err; p += 2)	/* interleaved */
		err = DO(r, OP_WRITE, path, .off = p * SDX_PAGE_SIZE,
			 .len = SDX_PAGE_SIZE) ||
		      DO(r, OP_WRITE, "/other", .off = p * SDX_PAGE_SIZE,
			 .len = SDX_PAGE_SIZE);
	err = err ? err : DO(r, OP_TRUNCATE, path,
			     .len = SHIFT_PAGES * SDX_PAGE_SIZE) ||
			  DO(r, OP_FSYNC, path);
	for (round = 0; round < r->scale && !err; round++) {
		at = 1 + round % 5;
		err = DO(r, OP_FALLOCATE, path, .off = at * SDX_PAGE_SIZE,
			 .len = 2 * SDX_PAGE_SIZE,
			 .mode = FALLOC_FL_INSERT_RANGE) ||
		      DO(r, OP_WRITE, path, .off = at * SDX_PAGE_SIZE + 100,
			 .len = SDX_PAGE_SIZE) ||
		      DO(r, OP_FALLOCATE, path,
			 .off = (at + 4) * SDX_PAGE_SIZE,
			 .len = 2 * SDX_PAGE_SIZE,
			 .mode = FALLOC_FL_COLLAPSE_RANGE) ||
		      DO(r, round % 2 ? OP_FDATASYNC : OP_FSYNC, path);
	}
	return err ? -1 : 0;
}

/* posix_acl_xattr (Linux's xattr form of a POSIX ACL, version 2). */
#define ACL_XATTR_VERSION	2u
#define ACL_USER_OBJ		0x01u
#define ACL_USER		0x02u
#define ACL_GROUP_OBJ		0x04u
#define ACL_MASK		0x10u
#define ACL_OTHER		0x20u
#define ACL_UNDEFINED_ID	0xffffffffu
#define ACL_XATTR_SIZE		(4u + 5u * 8u)

/* An ACL of five entries (in posix_acl_valid's order) in @buf: owner,
 * user @uid, group, mask, other, with the permissions @perms gives one
 * octal digit each, in that order (064450: rw- r-- r-- r-x ---). */
static void acl_fill(uint8_t *buf, uint32_t uid, unsigned perms)
{
	static const uint16_t tags[] = { ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ,
					 ACL_MASK, ACL_OTHER };
	uint32_t word = htole32(ACL_XATTR_VERSION), id;
	uint16_t half;
	unsigned i;

	memcpy(buf, &word, 4);
	for (i = 0; i < 5; i++) {
		half = htole16(tags[i]);
		memcpy(buf + 4 + 8 * i, &half, 2);
		half = htole16((uint16_t)(perms >> (3 * (4 - i)) & 7));
		memcpy(buf + 6 + 8 * i, &half, 2);
		id = htole32(tags[i] == ACL_USER ? uid : ACL_UNDEFINED_ID);
		memcpy(buf + 8 + 8 * i, &id, 4);
	}
}

#define XATTR_BIG 3000u		/* fits no inode: lives in the block */
#define XATTR_SMALL_BLOCK 600u	/* beside a big one in the block */

/* setxattr of @name on @path: @text, or @len bytes of data_fill(@seed). */
static int set_xattr(struct crash_run *r, const char *path, const char *name,
		     const char *text, uint64_t len, uint64_t seed, int flags)
{
	uint8_t big[XATTR_BIG];

	if (text)
		return DO(r, OP_SETXATTR, path, .name = name, .value = text,
			  .len = strlen(text), .mode = flags);
	data_fill(big, len, seed);
	return DO(r, OP_SETXATTR, path, .name = name, .value = big,
		  .len = len, .mode = flags);
}

/*
 * Extended attributes where ext4 keeps them: small values in the inode,
 * one grown past the inode's room into the attribute block and shrunk
 * back (the emptied block freed), a block rewritten in place (a value
 * added, one replaced, one removed, then the last: the block freed),
 * replaced and removed ones in the inode, a POSIX
 * access ACL (which sets the mode too) and chmod under it, a directory's
 * default ACL that new files and a subdirectory inherit, and a file whose
 * attributes live in a block unlinked or renamed over (the block freed
 * with it, the free committed), then a new file's first data block: the
 * freed one (jbd2's revoke keeps replay from putting the old attribute
 * block over it).
 */
static int wl_xattr(struct crash_run *r)
{
	uint8_t acl[ACL_XATTR_SIZE], dacl[ACL_XATTR_SIZE];
	unsigned round;
	int err;

	err = canary_prelude(r) || DO(r, OP_CREATE, "/a") ||
	      DO(r, OP_CREATE, "/b") || DO(r, OP_MKDIR, "/d");
	for (round = 0; round < r->scale && !err; round++) {
		acl_fill(acl, 1000 + round, 064450 | (round & 7));
		acl_fill(dacl, 2000 + round, round % 2 ? 076770 : 074540);
		err = set_xattr(r, "/a", "user.small", pathf("a%u", round), 0,
				0, round % 2 ? XATTR_REPLACE : XATTR_CREATE) ||
		      set_xattr(r, "/d", "user.dir", pathf("dir%u", round), 0,
				0, 0) ||
		      set_xattr(r, "/a", "user.grow", pathf("g%u", round), 0,
				0, round ? XATTR_REPLACE : XATTR_CREATE) ||
		      DO(r, OP_FSYNC, "/a") ||
		      set_xattr(r, "/a", "user.grow", NULL, XATTR_BIG - round,
				round, XATTR_REPLACE) ||
		      set_xattr(r, "/b", "user.block", NULL, XATTR_BIG, round,
				XATTR_CREATE) ||
		      set_xattr(r, "/b", "user.b", pathf("b%u", round), 0, 0,
				0) ||
		      DO(r, OP_FSYNC, "/b") ||
		      set_xattr(r, "/b", "user.block2", NULL, XATTR_SMALL_BLOCK,
				round, XATTR_CREATE) ||
		      set_xattr(r, "/b", "user.block", NULL, XATTR_BIG,
				round + 1, XATTR_REPLACE) ||
		      DO(r, OP_FSYNC, "/b") ||
		      DO(r, OP_REMOVEXATTR, "/b", .name = "user.block") ||
		      DO(r, OP_FSYNC, "/b") ||
		      DO(r, OP_REMOVEXATTR, "/b", .name = "user.block2") ||
		      DO(r, OP_SETXATTR, "/b", .name = "system.posix_acl_access",
			 .value = acl, .len = sizeof(acl)) ||
		      DO(r, OP_FSYNC, "/b") ||
		      DO(r, OP_SETXATTR, "/d",
			 .name = "system.posix_acl_default", .value = dacl,
			 .len = sizeof(dacl)) ||
		      DO(r, OP_CREATE, pathf("/d/c%u", round)) ||
		      DO(r, OP_CHMOD, "/b", .mode = round % 2 ? 0604 : 0660) ||
		      DO(r, OP_FSYNC, pathf("/d/c%u", round));
		if (!err && round == 0)
			err = DO(r, OP_MKDIR, "/d/sub");
		err = err ? err : DO(r, OP_CREATE, pathf("/e%u", round)) ||
		      set_xattr(r, pathf("/e%u", round), "user.e", NULL,
				XATTR_BIG, round + 1, 0) ||
		      set_xattr(r, pathf("/e%u", round), "user.f", "f", 0, 0,
				0) ||
		      DO(r, OP_FSYNC, pathf("/e%u", round));
		if (!err && round % 2)	/* renamed over: dropped the same */
			err = DO(r, OP_CREATE, pathf("/r%u", round)) ||
			      DO(r, OP_RENAME, pathf("/r%u", round),
				 .path2 = pathf("/e%u", round));
		else if (!err)
			err = DO(r, OP_UNLINK, pathf("/e%u", round));
		err = err ? err : DO(r, OP_CREATE, pathf("/w%u", round)) ||
		      DO(r, OP_FSYNC, pathf("/w%u", round)) ||
		      DO(r, OP_WRITE, pathf("/w%u", round),
			 .len = SDX_PAGE_SIZE) ||
		      DO(r, OP_FSYNC, pathf("/w%u", round)) ||
		      set_xattr(r, "/a", "user.grow", pathf("s%u", round), 0,
				0, XATTR_REPLACE);
		if (!err && round % 2)
			err = DO(r, OP_REMOVEXATTR, "/a", .name = "user.small");
		err = err ? err : DO(r, OP_FSYNC, "/a");
	}
	return err ? -1 : 0;
}

const struct crash_workload crash_workloads[] = {
	{ "metadata", "create, write, rename, symlink, truncate, unlink, "
	  "mkdir, rmdir; fsync/fdatasync barriers", 20, wl_metadata },
	{ "append", "records appended with pwrite, acknowledged after "
	  "fsync/fdatasync", 32, wl_append },
	{ "mapsync", "records stored through MAP_SYNC on a sparse file",
	  64, wl_mapsync },
	{ "prealloc", "records stored through MAP_SYNC on a fallocated file",
	  64, wl_prealloc },
	{ "syncflag", "records stored through MAP_SHARED on a FS_SYNC_FL file",
	  64, wl_syncflag },
	{ "msync", "records stored through plain MAP_SHARED, acknowledged "
	  "after msync", 64, wl_msync },
	{ "punch", "punch hole, zero range, collapse range under a live "
	  "MAP_SYNC mapping", 32, wl_punch },
	{ "threads", "one thread faults MAP_SYNC records, another does "
	  "metadata", 16, wl_threads },
	{ "defrag", "defragment a file under a live MAP_SYNC mapping", 16,
	  wl_defrag },
	{ "shift", "insert and collapse ranges of a fragmented file", 6,
	  wl_shift },
	{ "xattr", "extended attributes in the inode and its block, POSIX "
	  "ACLs, chmod, inheritance", 8, wl_xattr },
};
const size_t crash_nr_workloads =
	sizeof(crash_workloads) / sizeof(crash_workloads[0]);

const struct crash_workload *crash_workload_find(const char *name)
{
	size_t i;

	for (i = 0; i < crash_nr_workloads; i++)
		if (strcmp(crash_workloads[i].name, name) == 0)
			return &crash_workloads[i];
	return NULL;
}

int crash_workload_exec(const struct crash_workload *wl, struct crash_run *r)
{
	struct crash_state last = { 0 };
	char why[300];
	unsigned k;
	int ret = -1;

	r->fs = sdx_mount(r->device, SDX_MOUNT_EMULATE);
	if (!r->fs)
		return call_failed(r, "sdx_mount");
	if (r->is_oracle && log_state(r, 0) < 0)
		return -1;
	if (wl->run(r) < 0)
		return -1;
	k = ++r->next_op;
	log_line(r->log_fd, "S %u unmount\n", k);
	if (r->is_oracle &&
	    crash_state_take(r->fs, &last, NULL, why, sizeof(why)) < 0) {
		snprintf(r->error, sizeof(r->error), "state before unmount: %s",
			 why);
		goto out_free;
	}
	if (sdx_unmount(r->fs) < 0) {
		call_failed(r, "sdx_unmount");
		goto out_free;
	}
	r->fs = NULL;
	log_line(r->log_fd, "E %u 1\n", k);
	if (r->is_oracle && crash_state_log(r->log_fd, k, &last) < 0) {
		call_failed(r, "oracle log");
		goto out_free;
	}
	log_line(r->log_fd, "N %llu\n",
		 (unsigned long long)sdx_crashsim_drains());
	ret = 0;
out_free:
	crash_state_free(&last);
	return ret;
}
