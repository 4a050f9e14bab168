/*
 * crash_check.c - one crash point of `syncdax crashtest`: crash a run of a
 * workload at a drain, then judge what survived.
 *
 * A point goes through these steps (each in its own process where the
 * library runs, so that a crash or hang of the library on a bad image is
 * reported as a violation rather than taking the harness down):
 *
 *   copy fresh image -> DEV --crash child: arm at drain N, run workload-->
 *   MEDIA + LOG --(1) e2fsck -fy on a copy of MEDIA: only journal replay
 *               --(2) check child: sdx_mount(MEDIA) (replay), state, scan,
 *                     records, sdx_unmount
 *               --(3) e2fsck -fn on MEDIA: clean
 *
 * The planted bug (--plant lost-drain) composes the media of three runs
 * crashed at drains N-1, N and N+1: the lines drain N wrote, put over what
 * survived before drain N-1.  That is the media of a device that lost the
 * lines of drain N-1 but kept those of drain N: a missing fence.  The run
 * believed both drains done (its log is that of the N+1 run).  The three
 * runs make the same calls, but the library stamps times: when a second
 * turns between them, lines that differ only in a timestamp get mixed too,
 * so such a report may not reproduce; a lost record always does.
 *
 * What e2fsck may print on the un-replayed image ("only journal replay"):
 * its banner, "recovering journal", the five pass headers, the summary
 * line, "FILE SYSTEM WAS MODIFIED", and the processing of the orphan list
 * ("Clearing/Truncating orphaned inode"), which is the other half of ext4
 * recovery (the kernel does the same at mount); in evict and tear mode
 * also "Journal transaction N was corrupt, replay was aborted" (a torn
 * commit block, which jbd2's checksums exist to catch).  Anything else is
 * a correction and a violation.
 *
 * The format limit.  Persistent memory is failure-atomic per 8 bytes, the
 * ext4 and jbd2 superblocks are 1 KiB with their checksums in their last
 * cache line: a crash while one is written in place (through a shadow
 * copy at byte 2048 of its block: src/fs/super.c, journal_super.c; or, for
 * the ext4 one, when the journal checkpoints block 0, whose copy stays in
 * the log) can leave a superblock that fails its checksum beside a whole
 * shadow.  syncdax restores it at mount; e2fsck and Linux, which do not
 * know the shadow, cannot open such an image or journal, as on any
 * persistent memory without sector atomicity.  When check (1) fails and
 * passes on a copy with the shadows put home, the point is reported as a
 * format limit, not a violation; checks (2) and (3) still bind.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncdax.h"
#include "crash_harness.h"
#include "fs/fs.h"
#include "journal/jbd2.h"

#define CHILD_TIMEOUT 300	/* seconds a crash or check child may take */
#define MAX_RECORD (1u << 20)	/* bytes of one record in the side channel */

extern char **environ;

const char *crash_mode_name(enum sdx_crash_mode mode)
{
	static const char *const names[] = { "strict", "evict", "tear" };

	return names[mode];
}

uint64_t crash_point_seed(uint64_t seed, uint64_t point)
{
	uint64_t state = seed ^ (point * 0xd1b54a32d192ed03ull);

	return crash_random(&state);
}

/*
 * Copy in place: only the pages that differ are written, so the pages of a
 * scratch image on tmpfs are reused from point to point rather than freed
 * and allocated again (which is most of the cost of a copy).
 */
int crash_copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, err = 0;
	uint8_t *a = MAP_FAILED, *b = MAP_FAILED;
	struct stat sb, db;
	size_t size = 0, off;

	if (in < 0 || fstat(in, &sb) < 0)
		goto out_errno;
	size = (size_t)sb.st_size;
	out = open(dst, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (out < 0 || fstat(out, &db) < 0 ||
	    (db.st_size != sb.st_size && ftruncate(out, sb.st_size) < 0))
		goto out_errno;
	if (size == 0)
		goto out_close;
	a = mmap(NULL, size, PROT_READ, MAP_SHARED, in, 0);
	b = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, out, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		goto out_errno;
	for (off = 0; off < size; off += SDX_PAGE_SIZE) {
		size_t n = size - off < SDX_PAGE_SIZE ? size - off
						       : SDX_PAGE_SIZE;

		if (memcmp(a + off, b + off, n) != 0)
			memcpy(b + off, a + off, n);
	}
	goto out_close;
out_errno:
	err = -errno;
out_close:
	if (a != MAP_FAILED)
		munmap(a, size);
	if (b != MAP_FAILED)
		munmap(b, size);
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	return err;
}

/* ---- the side channel ---- */

static int add_record(struct crash_log *log, const char *path, uint64_t off,
		      uint64_t len, uint64_t tag)
{
	struct crash_record *rec;

	if (crash_array_grow(&log->records, &log->max_records,
			     log->nr_records + 1, sizeof(*rec)))
		return -1;
	rec = &log->records[log->nr_records++];
	snprintf(rec->path, sizeof(rec->path), "%s", path);
	rec->off = off;
	rec->len = len;
	rec->tag = tag;
	return 0;
}

/* "F": forget the records of @path that start in [off, off+len). */
static void forget_records(struct crash_log *log, const char *path,
			   uint64_t off, uint64_t len)
{
	size_t i, kept = 0;

	for (i = 0; i < log->nr_records; i++) {
		struct crash_record *rec = &log->records[i];

		if (strcmp(rec->path, path) == 0 && rec->off >= off &&
		    (len == 0 || rec->off < off + len))
			continue;
		log->records[kept++] = *rec;
	}
	log->nr_records = kept;
}

int crash_log_read(const char *path, struct crash_log *log, char *why,
		   size_t why_len)
{
	unsigned long long a, b, c;
	char *line = NULL, name[128];
	FILE *f = fopen(path, "re");
	size_t cap = 0;
	unsigned k;
	int d, ret = 0;

	memset(log, 0, sizeof(*log));
	if (!f) {
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (ret == 0 && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "S %u", &k) == 1)
			log->started = k > log->started ? k : log->started;
		else if (sscanf(line, "E %u %d", &k, &d) == 2) {
			log->ended = k > log->ended ? k : log->ended;
			if (d)
				log->durable = k > log->durable ? k
								: log->durable;
		}
		else if (sscanf(line, "R %llu %llu %llu %127s", &a, &b, &c,
				name) == 4)
			ret = b == 0 || b > MAX_RECORD ? -1 :
			      add_record(log, name, a, b, c);
		else if (sscanf(line, "F %llu %llu %127s", &a, &b, name) == 3)
			forget_records(log, name, a, b);
		else if (line[0] == 'N')
			log->is_finished = true;
		else if (line[0] == 'X')
			snprintf(log->error, sizeof(log->error), "%s",
				 line + 2);
	}
	if (ret)
		snprintf(why, why_len, "%s: a record of 0 or more than %u "
			 "bytes, or out of memory", path, MAX_RECORD);
	free(line);
	fclose(f);
	return ret;
}

void crash_log_free(struct crash_log *log)
{
	free(log->records);
	memset(log, 0, sizeof(*log));
}

int crash_oracle_read(const char *path, struct crash_oracle *o, char *why,
		      size_t why_len)
{
	char *line = NULL;
	unsigned long long n;
	FILE *f = fopen(path, "re");
	size_t cap = 0;
	unsigned k, i;
	int at, ret = 0;

	if (!f) {
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (ret == 0 && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "S %u %n", &k, &at) == 1 && k == o->nr_ops + 1) {
			char **descs = realloc(o->descs, (k + 1) *
					       sizeof(*descs));
			struct crash_state *states = realloc(o->states,
				(k + 1) * sizeof(*states));

			o->descs = descs ? descs : o->descs;
			o->states = states ? states : o->states;
			if (!descs || !states)
				ret = -1;
			else {
				memset(&states[k], 0, sizeof(states[k]));
				descs[k] = strdup(line + at);
				descs[0] = NULL;
				o->nr_ops = k;
			}
		} else if (sscanf(line, "O %u", &k) == 1) {
			if (k == 0 && !o->states) {
				o->states = calloc(1, sizeof(*o->states));
				o->descs = calloc(1, sizeof(*o->descs));
			}
			if (!o->states || k > o->nr_ops ||
			    crash_state_parse(f, &o->states[k]) < 0)
				ret = -1;
		} else if (sscanf(line, "N %llu", &n) == 1) {
			o->nr_drains = n;
		} else if (line[0] == 'X') {
			snprintf(why, why_len, "%s", line + 2);
			ret = -2;
		}
	}
	free(line);
	fclose(f);
	if (ret == -1)
		snprintf(why, why_len, "%s: malformed oracle log", path);
	if (ret == 0 && o->nr_drains == 0) {
		snprintf(why, why_len, "%s: the oracle run did not finish",
			 path);
		ret = -1;
	}
	for (i = 0; ret == 0 && i <= o->nr_ops; i++)
		if (o->states[i].nr == 0) {
			snprintf(why, why_len, "%s: no state after op %u", path,
				 i);
			ret = -1;
		}
	return ret < 0 ? -1 : 0;
}

void crash_oracle_free(struct crash_oracle *o)
{
	unsigned k;

	for (k = 0; o->states && k <= o->nr_ops; k++) {
		crash_state_free(&o->states[k]);
		if (o->descs)
			free(o->descs[k]);
	}
	free(o->states);
	free(o->descs);
	o->states = NULL;
	o->descs = NULL;
	o->nr_ops = 0;
}

/* ---- processes ---- */

/* Run @argv with stdout and stderr into *@out; its exit status or 128+sig. */
static int run_capture(char *const argv[], char **out)
{
	posix_spawn_file_actions_t fa;
	size_t len = 0;
	FILE *mem = open_memstream(out, &len);
	char buf[4096];
	int pipefd[2], status, err;
	pid_t pid;
	ssize_t n;

	if (!mem || pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	while (err == 0 && (n = read(pipefd[0], buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, mem);
	close(pipefd[0]);
	fclose(mem);
	if (err)
		return -1;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status)
				 : 128 + WTERMSIG(status);
}

/*
 * Is @line one e2fsck prints for recovery alone?  A torn commit block of
 * the last transaction (evict and tear modes only: a strict crash never
 * leaves a partly written block) makes e2fsck abort that transaction's
 * replay, which is what its checksum is for.
 */
static bool is_recovery_line(const char *line, enum sdx_crash_mode mode)
{
	unsigned tid;
	int end = 0;

	static const char *const prefixes[] = {
		"e2fsck ", "Pass 1: ", "Pass 2: ", "Pass 3: ", "Pass 4: ",
		"Pass 5: ", "Clearing orphaned inode ",
		"Truncating orphaned inode ",
		"***** FILE SYSTEM WAS MODIFIED *****",
	};
	size_t i, n = strlen(line), m = strlen(": recovering journal");

	if (n == 0 || (n >= m && strcmp(line + n - m,
					": recovering journal") == 0))
		return true;
	if (strstr(line, " files (") && strstr(line, " blocks"))
		return true;	/* the summary line */
	if (mode != SDX_CRASH_STRICT &&
	    sscanf(line, "Journal transaction %u was corrupt, replay was "
		   "aborted.%n", &tid, &end) == 1 && end > 0 && !line[end])
		return true;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(line, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/* A growing report (a memstream). */
struct report {
	FILE *f;
	unsigned nr;			/* violations told */
};

static void tell(struct report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tell(struct report *rep, const char *fmt, ...)
{
	va_list ap;

	rep->nr++;
	fputs("  - ", rep->f);
	va_start(ap, fmt);
	vfprintf(rep->f, fmt, ap);
	va_end(ap);
	fputc('\n', rep->f);
}

/* Does e2fsck -fy on @image do recovery only?  If not, why in @why. */
static bool fsck_replays_only(const char *image, enum sdx_crash_mode mode,
			      char *why, size_t why_len)
{
	char *argv[] = { "e2fsck", "-fy", (char *)image, NULL };
	char *out = NULL, *line = NULL, *save = NULL;
	int status = run_capture(argv, &out);
	bool is_held = true;

	for (line = out ? strtok_r(out, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		if (!is_recovery_line(line, mode)) {
			snprintf(why, why_len, "e2fsck -fy on the crashed image "
				 "corrects more than the journal (status %d): "
				 "%s", status, line);
			is_held = false;
			break;
		}
	if (is_held && status != 0 && status != 1) {
		snprintf(why, why_len, "e2fsck -fy on the crashed image: status "
			 "%d", status);
		is_held = false;
	}
	free(out);
	return is_held;
}

#define SHADOW_OFFSET 2048	/* of each superblock's shadow in its block */
/* jbd2 superblock bytes no write changes: header, geometry; the uuid */
#define JSB_CONSTANT_END 0x18
#define JSB_UUID 0x30

/* The device block of the journal's block 0 in @image (debugfs), or 0. */
static uint64_t journal_block0(const char *image)
{
	char *argv[] = { "debugfs", "-R", "bmap <8> 0", (char *)image, NULL };
	char *out = NULL, *line, *save = NULL;
	unsigned long long block = 0;
	int end;

	if (run_capture(argv, &out) == 0 && out)
		for (line = strtok_r(out, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			if (sscanf(line, "%llu%n", &block, &end) == 1 &&
			    !line[end])
				break;
	free(out);
	return block;
}

/* Put home the jbd2 shadow of @image (open as @fd) when it differs from
 * the superblock and names the same journal; e2fsck then judges it. */
static bool restore_journal_shadow(const char *image, int fd)
{
	_Alignas(8) uint8_t block[SDX_BLOCK_SIZE];
	const uint8_t *shadow = block + SHADOW_OFFSET;
	uint64_t at = journal_block0(image);
	uint32_t magic;

	if (!at || pread(fd, block, sizeof(block), (off_t)(at * SDX_BLOCK_SIZE))
	    != sizeof(block))
		return false;
	memcpy(&magic, shadow, sizeof(magic));
	if (be32toh(magic) != JBD2_MAGIC_NUMBER ||
	    !memcmp(block, shadow, SHADOW_OFFSET / 2) ||
	    memcmp(block, shadow, JSB_CONSTANT_END) ||
	    memcmp(block + JSB_UUID, shadow + JSB_UUID, 16))
		return false;
	return pwrite(fd, shadow, SHADOW_OFFSET / 2,
		      (off_t)(at * SDX_BLOCK_SIZE)) == SHADOW_OFFSET / 2;
}

/*
 * Copy @media to @copy with the shadow superblocks put home, as syncdax's
 * mount does.  Return: false when neither superblock of @media is torn
 * beside a whole shadow (see top), or on error.
 */
static bool shadow_restored_copy(const char *media, const char *copy)
{
	_Alignas(8) uint8_t block0[SDX_BLOCK_SIZE];
	const struct ext4_super_block *shadow;
	bool is_restored = false;
	int fd;

	if (crash_copy_file(media, copy) < 0)
		return false;
	fd = open(copy, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (pread(fd, block0, sizeof(block0), 0) == sizeof(block0)) {
		shadow = sdx_super_shadow(block0);
		is_restored = shadow &&
			      pwrite(fd, shadow, sizeof(*shadow),
				     EXT4_SUPERBLOCK_OFFSET) ==
			      sizeof(*shadow);
	}
	if (restore_journal_shadow(copy, fd))
		is_restored = true;
	close(fd);
	return is_restored;
}

/* (1) e2fsck -fy on a copy of the un-replayed media: replay only, or
 * (*@is_format_limit) replay only once the torn superblock is restored. */
static void check_fsck_replay(struct report *rep, const char *media,
			      const char *copy, enum sdx_crash_mode mode,
			      bool *is_format_limit)
{
	char why[1024], why_restored[1024];

	if (crash_copy_file(media, copy) < 0) {
		tell(rep, "cannot copy %s to %s", media, copy);
		return;
	}
	if (fsck_replays_only(copy, mode, why, sizeof(why)))
		return;
	if (shadow_restored_copy(media, copy) &&
	    fsck_replays_only(copy, mode, why_restored, sizeof(why_restored))) {
		*is_format_limit = true;
		return;
	}
	tell(rep, "%s", why);
}

/* (3) e2fsck -fn after syncdax's own recovery and unmount: clean. */
static void check_fsck_clean(struct report *rep, const char *media)
{
	char *argv[] = { "e2fsck", "-fn", (char *)media, NULL };
	char *out = NULL, *line, *save = NULL;
	int status = run_capture(argv, &out);

	if (status != 0) {
		for (line = strtok_r(out, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			if (!is_recovery_line(line, SDX_CRASH_STRICT))
				break;
		tell(rep, "e2fsck -fn after syncdax's recovery: status %d: %s",
		     status, line ? line : "(nothing printed)");
	}
	free(out);
}

/* Every acknowledged record at its offset (in the check child). */
static void check_records(struct report *rep, struct sdx_fs *fs,
			  const struct crash_log *log)
{
	uint8_t *want = NULL, *got = NULL;
	size_t i, cap = 0, b;
	ssize_t n;
	int fd;

	for (i = 0; i < log->nr_records; i++) {
		const struct crash_record *rec = &log->records[i];

		if (rec->len > cap) {
			cap = rec->len;
			free(want);
			free(got);
			want = malloc(cap);
			got = malloc(cap);
			if (!want || !got) {
				tell(rep, "out of memory");
				break;
			}
		}
		crash_record_fill(want, rec->len, rec->path, rec->off,
				  rec->tag);
		fd = sdx_open(fs, rec->path, O_RDONLY, 0);
		if (fd < 0) {
			tell(rep, "record file %s is missing: %s", rec->path,
			     strerror(errno));
			break;
		}
		n = sdx_pread(fs, fd, got, rec->len, (off_t)rec->off);
		sdx_close(fs, fd);
		if (n < 0 || (uint64_t)n != rec->len) {
			tell(rep, "record %llu of %s at %llu (%llu bytes, "
			     "acknowledged): read %zd bytes",
			     (unsigned long long)rec->tag, rec->path,
			     (unsigned long long)rec->off,
			     (unsigned long long)rec->len, n);
			break;
		}
		if (memcmp(got, want, rec->len) == 0)
			continue;
		for (b = 0; got[b] == want[b]; b++)
			;
		tell(rep, "record %llu of %s at %llu (%llu bytes, "
		     "acknowledged) is lost: byte %zu is 0x%02x, expected "
		     "0x%02x", (unsigned long long)rec->tag, rec->path,
		     (unsigned long long)rec->off,
		     (unsigned long long)rec->len, b, got[b], want[b]);
		break;
	}
	free(want);
	free(got);
}

/*
 * A write in flight at the crash (started, not returned) is no atomic step
 * (POSIX does not make pwrite atomic across a crash, nor does ext4: a long
 * write commits in pieces when something else forces a commit), so the
 * state before it, with the written file at any size between its sizes
 * before and after and any content, is a prefix too.  Return: true and
 * *@loose when operation @k is such a write.
 */
static bool write_in_flight(const struct crash_oracle *o,
			    const struct crash_log *log, unsigned k,
			    struct crash_loose *loose)
{
	const struct crash_entry *before, *after;

	if (k == 0 || k > o->nr_ops || log->ended >= k ||
	    sscanf(o->descs[k], "write %127s", loose->path) != 1)
		return false;
	before = crash_state_find(&o->states[k - 1], loose->path);
	after = crash_state_find(&o->states[k], loose->path);
	if (!before || !after)
		return false;
	loose->min_size = before->size < after->size ? before->size
						     : after->size;
	loose->max_size = before->size < after->size ? after->size
						     : before->size;
	return true;
}

/* (2) the state: some prefix in [durable, started]. */
static void check_state(struct report *rep, const struct crash_oracle *o,
			const struct crash_log *log,
			const struct crash_state *got)
{
	unsigned lo = log->durable, hi = log->started, k, best = lo;
	size_t nr, best_nr = (size_t)-1;
	char diff[600], best_diff[600] = "";
	struct crash_loose loose;

	if (hi > o->nr_ops)
		hi = o->nr_ops;
	for (k = lo; k <= hi; k++) {
		nr = crash_state_diff(got, &o->states[k], NULL, diff,
				      sizeof(diff));
		if (nr == 0)
			return;
		if (nr <= best_nr) {
			best_nr = nr;
			best = k;
			snprintf(best_diff, sizeof(best_diff), "%s", diff);
		}
	}
	if (write_in_flight(o, log, hi, &loose) && hi - 1 >= lo &&
	    crash_state_diff(got, &o->states[hi - 1], &loose, diff,
			     sizeof(diff)) == 0)
		return;
	tell(rep, "the state is after no prefix of ops %u..%u (durable "
	     "through op %u); nearest: after op %u (%s), %zu differences, "
	     "first: %s", lo, hi, lo, best, best ? o->descs[best] : "mount",
	     best_nr, best_diff);
}

/*
 * The check child: mount @media (replay), compare, scan, read records,
 * unmount; the report goes to @fd.  Exits 0 when all held, 1 if not.
 */
__attribute__((noreturn))
static void check_child(const struct crash_oracle *o,
			const struct crash_log *log, const char *media, int fd)
{
	struct report rep = { 0 };
	struct crash_state got = { 0 };
	struct crash_scan scan = { 0 };
	char *text = NULL, why[300];
	size_t len = 0;
	struct sdx_fs *fs;

	alarm(CHILD_TIMEOUT);
	rep.f = open_memstream(&text, &len);
	if (!rep.f)
		_exit(4);
	fs = sdx_mount(media, SDX_MOUNT_EMULATE);
	if (!fs) {
		tell(&rep, "sdx_mount of the crashed image fails: %s (%s)",
		     strerror(errno), sdx_strerror_detail());
		goto out;
	}
	if (crash_state_take(fs, &got, &scan, why, sizeof(why)) < 0)
		tell(&rep, "walking the recovered file system fails: %s", why);
	else
		check_state(&rep, o, log, &got);
	if (scan.nr_findings)
		tell(&rep, "%u foreign byte patterns; first: %s",
		     scan.nr_findings, scan.finding);
	check_records(&rep, fs, log);
	if (sdx_unmount(fs) < 0)
		tell(&rep, "sdx_unmount after recovery fails: %s (%s)",
		     strerror(errno), sdx_strerror_detail());
out:
	fclose(rep.f);
	if (len && write(fd, text, len) < 0)
		_exit(4);
	_exit(rep.nr ? 1 : 0);
}

static void run_check_child(struct report *rep, const struct crash_oracle *o,
			    const struct crash_log *log, const char *media)
{
	char buf[4096];
	int pipefd[2], status;
	size_t told = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(pipefd, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		tell(rep, "cannot start the check: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(pipefd[0]);
		check_child(o, log, media, pipefd[1]);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, rep->f);
		told += (size_t)n;
	}
	close(pipefd[0]);
	if (told)
		rep->nr++;	/* the child's violations, as one */
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status))
		tell(rep, "recovery (mount, walk, unmount) died of signal %d%s",
		     WTERMSIG(status), WTERMSIG(status) == SIGALRM ?
		     " (it hung)" : "");
	else if (WEXITSTATUS(status) != 0 && rep->nr == 0)
		tell(rep, "the check stopped with status %d",
		     WEXITSTATUS(status));
}

/*
 * Run @o's workload in a child on a fresh copy of the image, armed to
 * crash at drain @at (0: never); its log goes to @log_path.  Return the
 * child's wait status, or -1.
 */
static int crash_child(const struct crash_opts *opt,
		       const struct crash_oracle *o, uint64_t at,
		       const char *dev, const char *media,
		       const char *log_path, bool is_oracle)
{
	struct sdx_crash_config cfg = { dev, media, at, opt->mode,
					crash_point_seed(opt->seed, at) };
	struct crash_run r = { .device = dev, .is_oracle = is_oracle,
			       .scale = o->scale, .seed = opt->seed };
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		alarm(CHILD_TIMEOUT);
		r.log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC |
				O_APPEND | O_CLOEXEC, 0644);
		if (r.log_fd < 0 || crash_copy_file(o->fresh, dev) < 0 ||
		    sdx_crashsim_arm(&cfg) < 0)
			_exit(4);
		if (crash_workload_exec(o->wl, &r) < 0) {
			dprintf(r.log_fd, "X %s\n", r.error);
			_exit(2);
		}
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return status;
}

/* What the crash child's wait @status says, when it is a violation. */
static void check_child_status(struct report *rep, int status,
			       const struct crash_log *log)
{
	if (status == -1)
		tell(rep, "cannot run the workload: %s", strerror(errno));
	else if (WIFSIGNALED(status))
		tell(rep, "the workload died of signal %d before the crash%s",
		     WTERMSIG(status), WTERMSIG(status) == SIGALRM ?
		     " (it hung)" : "");
	else if (WEXITSTATUS(status) == 2)
		tell(rep, "an operation failed before the crash: %s",
		     log->error);
	else if (WEXITSTATUS(status) != 0 &&
		 WEXITSTATUS(status) != SDX_CRASH_EXIT)
		tell(rep, "the workload stopped with status %d",
		     WEXITSTATUS(status));
}

/*
 * The planted bug: crash at @at-1, @at and @at+1, and make @media the image
 * that lost drain @at-1's lines but kept drain @at's.  Return the wait
 * status of the @at+1 run (whose log is at @log_path), or -1.
 */
static int lost_drain_media(const struct crash_opts *opt,
			    const struct crash_oracle *o, uint64_t at,
			    const char *dev, const char *media,
			    const char *log_path, const char *scratch)
{
	int status = -1, fd[3] = { -1, -1, -1 };
	uint8_t *img[3] = { NULL, NULL, NULL };
	const char *names[3];
	char other[2][320];
	uint64_t i, size = 0;
	struct stat sb;

	snprintf(other[0], sizeof(other[0]), "%s.lost-a", scratch);
	snprintf(other[1], sizeof(other[1]), "%s.lost-b", scratch);
	names[0] = media;	/* at-1, becomes the composed image */
	names[1] = other[0];	/* at */
	names[2] = other[1];	/* at+1 */
	for (i = 0; i < 3; i++) {
		status = crash_child(opt, o, at - 1 + i, dev, names[i],
				     log_path, false);
		if (status == -1)
			goto out;
	}
	for (i = 0; i < 3; i++) {
		fd[i] = open(names[i], O_RDWR | O_CLOEXEC);
		if (fd[i] < 0 || fstat(fd[i], &sb) < 0)
			goto out_fail;
		size = (uint64_t)sb.st_size;
		img[i] = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			      fd[i], 0);
		if (img[i] == MAP_FAILED) {
			img[i] = NULL;
			goto out_fail;
		}
	}
	for (i = 0; i < size; i += SDX_CACHELINE)
		if (memcmp(img[1] + i, img[2] + i, SDX_CACHELINE) != 0)
			memcpy(img[0] + i, img[2] + i, SDX_CACHELINE);
	goto out;
out_fail:
	status = -1;
out:
	for (i = 0; i < 3; i++) {
		if (img[i])
			munmap(img[i], size);
		if (fd[i] >= 0)
			close(fd[i]);
	}
	unlink(other[0]);
	unlink(other[1]);
	return status;
}

int crash_check_point(const struct crash_opts *opt,
		      const struct crash_oracle *o, uint64_t point,
		      unsigned slot, char *report, size_t report_len)
{
	char dev[300], media[300], copy[300], log_path[300], why[300];
	struct crash_log log = { 0 };
	struct report rep = { 0 };
	bool is_format_limit = false;
	char *text = NULL;
	size_t len = 0;
	int status;

	snprintf(dev, sizeof(dev), "%s/w%u-dev.img", opt->dir, slot);
	snprintf(media, sizeof(media), "%s/w%u-media.img", opt->dir, slot);
	snprintf(copy, sizeof(copy), "%s/w%u-fsck.img", opt->dir, slot);
	snprintf(log_path, sizeof(log_path), "%s/w%u.log", opt->dir, slot);
	if (opt->is_lost_drain && point >= 2)
		status = lost_drain_media(opt, o, point, dev, media, log_path,
					  dev);
	else
		status = crash_child(opt, o, point, dev, media, log_path,
				     false);
	if (crash_log_read(log_path, &log, why, sizeof(why)) < 0) {
		snprintf(report, report_len, "%s: point %llu: %s",
			 o->wl->name, (unsigned long long)point, why);
		return -1;
	}
	rep.f = open_memstream(&text, &len);
	if (!rep.f) {
		crash_log_free(&log);
		snprintf(report, report_len, "out of memory");
		return -1;
	}
	check_child_status(&rep, status, &log);
	snprintf(copy, sizeof(copy), "%s/w%u-crashed.img", opt->dir, slot);
	if (opt->is_keep && crash_copy_file(media, copy) < 0)
		tell(&rep, "cannot keep the crashed image as %s", copy);
	snprintf(copy, sizeof(copy), "%s/w%u-fsck.img", opt->dir, slot);
	if (rep.nr == 0) {
		check_fsck_replay(&rep, media, copy, opt->mode,
				  &is_format_limit);
		run_check_child(&rep, o, &log, media);
		check_fsck_clean(&rep, media);
	}
	if (is_format_limit)
		fputs("  - format limit: e2fsck cannot read a torn "
		      "superblock; with the shadows put home it only "
		      "replays the journal\n", rep.f);
	fclose(rep.f);
	snprintf(report, report_len, "%s: drain %llu of %llu (%s, seed %llu; "
		 "ops %u..%u of %u%s)\n  reproduce: syncdax crashtest "
		 "--workload %s --scale %u --size %llu --mode %s --seed %llu "
		 "--point %llu%s\n%s", o->wl->name, (unsigned long long)point,
		 (unsigned long long)o->nr_drains, crash_mode_name(opt->mode),
		 (unsigned long long)opt->seed, log.durable, log.started,
		 o->nr_ops, opt->is_lost_drain ? "; planted: drain N-1 lost"
		 : "", o->wl->name, o->scale, (unsigned long long)opt->size,
		 crash_mode_name(opt->mode), (unsigned long long)opt->seed,
		 (unsigned long long)point,
		 opt->is_lost_drain ? " --plant lost-drain" : "",
		 text ? text : "");
	free(text);
	crash_log_free(&log);
	if (rep.nr)
		return CRASH_VIOLATION;
	return is_format_limit ? CRASH_FORMAT_LIMIT : CRASH_HELD;
}

int crash_oracle_run(const struct crash_opts *opt, struct crash_oracle *o,
		     const char *log_path, char *why, size_t why_len)
{
	char dev[300], media[300];
	int status;

	snprintf(dev, sizeof(dev), "%s/oracle-dev.img", opt->dir);
	snprintf(media, sizeof(media), "%s/oracle-media.img", opt->dir);
	status = crash_child(opt, o, 0, dev, media, log_path, true);
	unlink(dev);
	unlink(media);
	if (status == -1 || !WIFEXITED(status) ||
	    (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 2)) {
		snprintf(why, why_len, "the oracle run of %s %s %d",
			 o->wl->name, status != -1 && WIFSIGNALED(status) ?
			 "died of signal" : "stopped with status",
			 status == -1 ? -1 : WIFSIGNALED(status) ?
			 WTERMSIG(status) : WEXITSTATUS(status));
		return -1;
	}
	return crash_oracle_read(log_path, o, why, why_len);
}
