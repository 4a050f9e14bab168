/*
 * crash_harness.h - what the files of `syncdax crashtest` share: the
 * workloads (crash_workloads.c), the file-system state and its oracle
 * (crash_state.c), the check of one recovered crash image (crash_check.c)
 * and the driver (cmd_crashtest.c).
 *
 * The side channel.  A workload appends one line per event with write(2)
 * to a log file in /dev/shm, so the log survives the simulated crash (which
 * _exit()s the process):
 *
 *   S k DESC          operation k (1-based) starts; DESC says what it does
 *   E k D             operation k returned; D = 1 when everything up to and
 *                     including k is durable (fsync, fdatasync, msync, or a
 *                     store made durable through a synchronous mapping)
 *   R OFF LEN TAG PATH  a record is acknowledged durable at OFF of PATH
 *   F OFF LEN PATH    records of PATH in [OFF, OFF+LEN) (LEN 0: to the end)
 *                     may move or vanish from here on (punch, collapse)
 *   O k               (oracle run only) the state after operation k follows,
 *                     one "e MODE SIZE HASH PATH" line per file, each
 *                     followed by one "x LEN HEX NAME" line per extended
 *                     attribute (HEX: the value, "-" when empty), then "."
 *   N N               the workload finished after N drains
 *   X TEXT            the workload stopped: an operation failed (TEXT)
 *
 * Declared not prefix-ordered: the content of a file whose name ends in
 * ".rec" (it is written in place through a mapping, where a crash may keep
 * any subset of unpersisted stores).  Its type, mode and size are compared
 * like any file's; its content is checked through its acknowledged records.
 *
 * Byte patterns the checker recognises anywhere: a canary (8-byte units
 * "SDXCANRY", written only to files named canary*) and a record header
 * ("SDXR", the 32-bit hash of the record file's path, the tag).
 */
#ifndef SDX_CRASH_HARNESS_H
#define SDX_CRASH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "pmem/pmem.h"

struct sdx_fs;
struct crash_run;
struct crash_record;

/* ---- crash_workloads.c ---- */

#define CRASH_RECORD_SIZE 64u		/* one cache line */
#define CRASH_MAX_SCALE 64u		/* record slots suffice up to this */

struct crash_workload {
	const char *name;
	const char *what;		/* one line for --help */
	unsigned scale;			/* the default size (--scale) */
	int (*run)(struct crash_run *r);
};

/* One execution of a workload (oracle or crash run), in its own process. */
struct crash_run {
	struct sdx_fs *fs;
	const char *device;
	int log_fd;
	bool is_oracle;			/* log the state after every op */
	unsigned scale;
	uint64_t seed;
	unsigned next_op;
	char error[512];		/* why the workload stopped, if it did */
};

extern const struct crash_workload crash_workloads[];
extern const size_t crash_nr_workloads;
const struct crash_workload *crash_workload_find(const char *name);

/*
 * crash_workload_exec - mount @r->device, run @wl, unmount, log "N"
 * Return: 0, or -1 with r->error set (an operation failed).
 */
int crash_workload_exec(const struct crash_workload *wl, struct crash_run *r);

/* Fill @buf with record @tag of @path at @off (header + payload). */
void crash_record_fill(uint8_t *buf, size_t len, const char *path,
		       uint64_t off, uint64_t tag);
uint32_t crash_path_hash(const char *path);
/* splitmix64: the harness's deterministic PRNG (state advanced). */
uint64_t crash_random(uint64_t *state);

/* ---- crash_state.c ---- */

/* One extended attribute of an entry (lgetxattr's value, exactly). */
struct crash_xattr {
	char *name;
	uint8_t *value;
	size_t len;
};

struct crash_entry {
	char *path;
	uint32_t mode;			/* st_mode */
	uint64_t size;
	uint64_t hash;			/* content or link target; 0: not compared */
	struct crash_xattr *xattrs;	/* sorted by name */
	size_t nr_xattrs;
};

struct crash_state {
	struct crash_entry *entries;	/* sorted by path */
	size_t nr, max;
};

/* What the walk found besides the state: canary or foreign record bytes. */
struct crash_scan {
	char finding[512];		/* first one, empty when none */
	unsigned nr_findings;
};

/*
 * crash_state_take - walk the whole file system through the public API
 * @scan: if not NULL, scan every file's content for canaries and foreign
 *        records (reads .rec files too)
 * Return: 0, or -1 with errno and @why set.
 */
int crash_state_take(struct sdx_fs *fs, struct crash_state *st,
		     struct crash_scan *scan, char *why, size_t why_len);
void crash_state_free(struct crash_state *st);
/* Grow the array *@arr (of @elem-byte items, *@max of them) to hold @need
 * (doubling).  Return: 0, or -1 when out of memory (*@arr unchanged). */
int crash_array_grow(void *arr, size_t *max, size_t need, size_t elem);
/* Append @st to @fd as an "O k" block. */
int crash_state_log(int fd, unsigned k, const struct crash_state *st);
/* Read the entry lines that follow an "O" line, up to ".", into @st. */
int crash_state_parse(FILE *f, struct crash_state *st);
/* The entry of @path in @st, or NULL. */
const struct crash_entry *crash_state_find(const struct crash_state *st,
					   const char *path);

/* A file of no fixed size or content: the one a write in flight changes. */
struct crash_loose {
	char path[128];
	uint64_t min_size, max_size;
};

/*
 * crash_state_diff - compare a recovered state with an oracle state
 * @loose: if not NULL, its file matches with any size in its range and
 *         any content
 * Return: the number of differing entries; the first in words in @diff.
 */
size_t crash_state_diff(const struct crash_state *got,
			const struct crash_state *want,
			const struct crash_loose *loose, char *diff,
			size_t diff_len);

/* ---- crash_check.c ---- */

/* The oracle of one workload: its operations and the state after each. */
struct crash_oracle {
	const struct crash_workload *wl;
	unsigned scale;
	unsigned nr_ops;		/* operations, the final unmount included */
	char **descs;			/* [1..nr_ops] */
	struct crash_state *states;	/* [0..nr_ops] */
	uint64_t nr_drains;		/* crash points: 1..nr_drains */
	char fresh[256];		/* the freshly made image */
};

/* What the crash run logged before it stopped. */
struct crash_log {
	unsigned started, durable;	/* last op started, last durable op */
	unsigned ended;			/* last op that returned */
	bool is_finished;		/* "N" seen */
	char error[512];		/* "X": why the workload stopped */
	struct crash_record *records;
	size_t nr_records, max_records;
};

struct crash_record {
	char path[128];
	uint64_t off, len, tag;
};

int crash_log_read(const char *path, struct crash_log *log, char *why,
		   size_t why_len);
void crash_log_free(struct crash_log *log);
int crash_oracle_read(const char *path, struct crash_oracle *o, char *why,
		      size_t why_len);
void crash_oracle_free(struct crash_oracle *o);

/* Settings of one crashtest invocation. */
struct crash_opts {
	enum sdx_crash_mode mode;
	uint64_t seed;
	unsigned jobs;
	uint64_t points;		/* 0: all */
	uint64_t point;			/* 0: none; else only this point */
	unsigned scale;			/* 0: each workload's own */
	uint64_t size;			/* image bytes */
	bool is_lost_drain;		/* planted bug: lose one drain */
	bool is_keep;			/* keep the scratch files */
	bool is_verbose;
	char dir[200];			/* scratch directory */
};

/* "strict", "evict" or "tear". */
const char *crash_mode_name(enum sdx_crash_mode mode);
/* The per-point crash seed: reproducible from (seed, point). */
uint64_t crash_point_seed(uint64_t seed, uint64_t point);

/*
 * crash_check_point - crash a run of @o's workload at drain @point and
 * check what survives
 * @slot:   the worker's number (names its scratch files)
 * @report: the violation or format limit in words, when there is one
 * Return: CRASH_HELD when every check passed, CRASH_VIOLATION,
 *         CRASH_FORMAT_LIMIT when only e2fsck failed, on an ext4 or jbd2
 *         superblock torn beside a whole shadow (crash_check.c), or -1
 *         when the harness itself failed (report says why).
 */
enum { CRASH_HELD = 0, CRASH_VIOLATION = 1, CRASH_FORMAT_LIMIT = 2 };

int crash_check_point(const struct crash_opts *opt,
		      const struct crash_oracle *o, uint64_t point,
		      unsigned slot, char *report, size_t report_len);

/* Run @wl once uncrashed, writing its oracle log to @log_path. */
int crash_oracle_run(const struct crash_opts *opt, struct crash_oracle *o,
		     const char *log_path, char *why, size_t why_len);

/* Copy @src to @dst (created or truncated). 0 or -errno. */
int crash_copy_file(const char *src, const char *dst);

#endif /* SDX_CRASH_HARNESS_H */
