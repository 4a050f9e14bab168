/*
 * kvlog.c - a persistent key-value log on syncdax: an example of the
 * synchronous mapping (MAP_SHARED_VALIDATE|MAP_SYNC) and sdx_persist().
 *
 *   kvlog DEVICE put KEY VALUE   append a record; "ack" once it is durable
 *   kvlog DEVICE get KEY         the newest value of KEY (status 1: none)
 *   kvlog DEVICE dump            every record in order, "KEY VALUE"
 *   kvlog DEVICE stream COUNT    append COUNT records k<n> = value-<n>...,
 *                                printing "KEY VALUE" as each is durable
 *
 * The log is the file /kvlog on DEVICE (made with `syncdax mkfs`), mapped
 * whole.  Appending is two stores and two persists, with no system call:
 *
 *   1. the record's lengths, key, value and padding, then sdx_persist();
 *   2. the record's 8-byte check word (an FNV-1a hash of 1.), then
 *      sdx_persist().  An aligned 8-byte store is never torn.
 *
 * A record is in the log iff its check word matches its contents; the
 * first one that does not ends the log.  Because the mapping is
 * synchronous, a page is writable only once the blocks behind it are
 * committed in the file system's journal, so what sdx_persist() made
 * durable is in the file after kill -9 or a power failure: the next mount
 * replays the journal and the log reads back to the last acknowledged
 * record (tests/interop/test_example.sh kills it with -9 mid-stream).
 *
 * Everything read from the device is checked: a damaged log ends early, it
 * never makes kvlog read outside the mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "syncdax.h"

#define KV_PATH		"/kvlog"
#define KV_MAGIC	0x31474f4c564b5853ull	/* "SXKVLOG1" */
#define KV_CAPACITY	(8u << 20)		/* a new log's file size */
#define KV_MAX_SIZE	(1ull << 30)		/* largest file we map */
#define KV_HEADER	64u			/* magic, then records */
#define KV_MAX_KEY	255u
#define KV_MAX_VALUE	4096u

struct kv_record {
	uint64_t check;		/* written last; 0 or a mismatch ends the log */
	uint32_t klen;
	uint32_t vlen;
	char data[];		/* key, value, zeroes up to 8-byte alignment */
};

struct kvlog {
	struct sdx_fs *fs;
	int fd;
	uint8_t *base;		/* the whole file, MAP_SYNC */
	size_t size;
	size_t end;		/* offset of the next record */
	uint64_t count;		/* records in the log */
};

static size_t record_size(uint32_t klen, uint32_t vlen)
{
	return (sizeof(struct kv_record) + klen + vlen + 7) & ~(size_t)7;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h;
}

/* The check word of a record: never 0, which marks the end of the log. */
static uint64_t record_check(const struct kv_record *r)
{
	uint64_t h = fnv1a(0xcbf29ce484222325ull, &r->klen, sizeof(r->klen));

	h = fnv1a(h, &r->vlen, sizeof(r->vlen));
	return fnv1a(h, r->data, (size_t)r->klen + r->vlen) | 1;
}

/* The record at @off, or NULL where the log ends. */
static const struct kv_record *record_at(const struct kvlog *log, size_t off)
{
	const struct kv_record *r = (const void *)(log->base + off);
	uint64_t check;

	if (off + sizeof(*r) > log->size)
		return NULL;
	check = __atomic_load_n(&r->check, __ATOMIC_ACQUIRE);
	if (check == 0 || r->klen > KV_MAX_KEY || r->vlen > KV_MAX_VALUE ||
	    off + record_size(r->klen, r->vlen) > log->size)
		return NULL;
	return check == record_check(r) ? r : NULL;
}

/*
 * Append KEY=VALUE and make it durable: contents, persist, check word,
 * persist.  Return: 0, or -ENOSPC when the log is full.
 */
static int kv_append(struct kvlog *log, const char *key, const char *value)
{
	uint32_t klen = (uint32_t)strlen(key), vlen = (uint32_t)strlen(value);
	size_t size = record_size(klen, vlen);
	struct kv_record *r = (void *)(log->base + log->end);

	if (klen > KV_MAX_KEY || vlen > KV_MAX_VALUE)
		return -EINVAL;
	if (log->end + size > log->size)
		return -ENOSPC;
	r->klen = klen;
	r->vlen = vlen;
	memcpy(r->data, key, klen);
	memcpy(r->data + klen, value, vlen);
	memset(r->data + klen + vlen, 0,
	       size - sizeof(*r) - klen - vlen);
	sdx_persist(&r->klen, size - sizeof(r->check));
	__atomic_store_n(&r->check, record_check(r), __ATOMIC_RELEASE);
	sdx_persist(&r->check, sizeof(r->check));
	log->end += size;
	log->count++;
	return 0;
}

/* Print "syncdax's errno and sentence" for @what and return 1. */
static int fail(const char *what)
{
	const char *detail = sdx_strerror_detail();

	fprintf(stderr, "kvlog: %s: %s%s%s\n", what, strerror(errno),
		detail && *detail ? ": " : "", detail ? detail : "");
	return 1;
}

/*
 * Mount @device, open (or create) the log file and map it synchronously;
 * find the end of the log.  Return: 0, or 1 after printing why.
 */
static int kv_open(struct kvlog *log, const char *device)
{
	struct stat st;
	uint64_t *magic;

	memset(log, 0, sizeof(*log));
	log->fd = -1;
	log->fs = sdx_mount(device, 0);
	if (!log->fs)
		return fail(device);
	log->fd = sdx_open(log->fs, KV_PATH, O_RDWR | O_CREAT, 0644);
	if (log->fd < 0 || sdx_fstat(log->fs, log->fd, &st))
		return fail(KV_PATH);
	if (st.st_size == 0) {
		if (sdx_ftruncate(log->fs, log->fd, KV_CAPACITY) ||
		    sdx_fsync(log->fs, log->fd))
			return fail(KV_PATH);
		st.st_size = KV_CAPACITY;
	}
	if (st.st_size < KV_HEADER || (uint64_t)st.st_size > KV_MAX_SIZE) {
		fprintf(stderr, "kvlog: %s: size %lld is no log\n", KV_PATH,
			(long long)st.st_size);
		return 1;
	}
	log->size = (size_t)st.st_size;
	log->base = sdx_mmap(log->fs, NULL, log->size, PROT_READ | PROT_WRITE,
			     MAP_SHARED_VALIDATE | MAP_SYNC, log->fd, 0);
	if (log->base == MAP_FAILED) {
		log->base = NULL;
		return fail("mmap MAP_SYNC");
	}
	magic = (uint64_t *)log->base;
	if (*magic == 0) {	/* new, or the creator died before this */
		__atomic_store_n(magic, KV_MAGIC, __ATOMIC_RELEASE);
		sdx_persist(magic, sizeof(*magic));
	} else if (*magic != KV_MAGIC) {
		fprintf(stderr, "kvlog: %s: not a kvlog (magic 0x%016" PRIx64
			")\n", KV_PATH, *magic);
		return 1;
	}
	log->end = KV_HEADER;
	for (const struct kv_record *r; (r = record_at(log, log->end));
	     log->count++)
		log->end += record_size(r->klen, r->vlen);
	return 0;
}

/* Unmap, close, unmount.  Return: 0, or 1 after printing why. */
static int kv_close(struct kvlog *log)
{
	int status = 0;

	if (log->base && sdx_munmap(log->base, log->size))
		status = fail("munmap");
	if (log->fd >= 0 && sdx_close(log->fs, log->fd))
		status = fail("close");
	if (log->fs && sdx_unmount(log->fs))
		status = fail("unmount");
	return status;
}

/* Copy a record's key and value out of the mapping into C strings. */
static void record_strings(const struct kv_record *r, char *key, char *value)
{
	memcpy(key, r->data, r->klen);
	key[r->klen] = '\0';
	memcpy(value, r->data + r->klen, r->vlen);
	value[r->vlen] = '\0';
}

/* get (@want non-NULL: print its newest value) or dump (print all). */
static int kv_scan(const struct kvlog *log, const char *want)
{
	char key[KV_MAX_KEY + 1], value[KV_MAX_VALUE + 1];
	char found[KV_MAX_VALUE + 1];
	const struct kv_record *r;
	bool is_found = false;

	for (size_t off = KV_HEADER; (r = record_at(log, off));
	     off += record_size(r->klen, r->vlen)) {
		record_strings(r, key, value);
		if (!want) {
			printf("%s %s\n", key, value);
		} else if (!strcmp(key, want)) {
			memcpy(found, value, sizeof(found));
			is_found = true;
		}
	}
	if (want && is_found)
		printf("%s\n", found);
	return want && !is_found ? 1 : 0;
}

/* Append @count records, acknowledging each on stdout once durable. */
static int kv_stream(struct kvlog *log, unsigned long count)
{
	char key[32], value[160];

	for (unsigned long i = 0; i < count; i++) {
		uint64_t n = log->count;
		int len = snprintf(value, sizeof(value), "value-%" PRIu64 "-",
				   n);

		memset(value + len, 'x', n % 100);
		value[len + n % 100] = '\0';
		snprintf(key, sizeof(key), "k%" PRIu64, n);
		if (kv_append(log, key, value) == -ENOSPC) {
			fprintf(stderr, "kvlog: the log is full after %" PRIu64
				" records\n", log->count);
			return 1;
		}
		printf("%s %s\n", key, value);
		fflush(stdout);
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: kvlog DEVICE put KEY VALUE\n"
		"       kvlog DEVICE get KEY\n"
		"       kvlog DEVICE dump\n"
		"       kvlog DEVICE stream COUNT\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct kvlog log;
	const char *cmd = argc > 2 ? argv[2] : "";
	unsigned long count = 0;
	char *end;
	int status;

	if (!strcmp(cmd, "put") && argc == 5) {
		if (!argv[3][0] || strlen(argv[3]) > KV_MAX_KEY ||
		    strchr(argv[3], ' ') ||
		    strlen(argv[4]) > KV_MAX_VALUE) {
			fprintf(stderr, "kvlog: a key is 1 to %u characters "
				"without spaces, a value up to %u\n",
				KV_MAX_KEY, KV_MAX_VALUE);
			return 2;
		}
	} else if (!strcmp(cmd, "stream") && argc == 4) {
		count = strtoul(argv[3], &end, 10);
		if (*end || end == argv[3])
			return usage();
	} else if (!((!strcmp(cmd, "get") && argc == 4) ||
		     (!strcmp(cmd, "dump") && argc == 3))) {
		return usage();
	}
	status = kv_open(&log, argv[1]);
	if (status == 0) {
		if (!strcmp(cmd, "put")) {
			status = kv_append(&log, argv[3], argv[4]) ? 1 : 0;
			if (status)
				fprintf(stderr, "kvlog: the log is full\n");
			else
				puts("ack");
		} else if (!strcmp(cmd, "stream")) {
			status = kv_stream(&log, count);
		} else {
			status = kv_scan(&log, !strcmp(cmd, "get") ? argv[3]
								   : NULL);
		}
	}
	return kv_close(&log) ? 1 : status;
}
