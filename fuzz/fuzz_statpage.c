/*
 * fuzz_statpage.c - libFuzzer target: the statistics-page reader
 * (sdx_statpage_read, src/lib/statpage.c) on a mutated page file, as
 * `syncdax stats` reads a page another process wrote.
 *
 * The input is one byte of flags followed by the page file's content (any
 * size; fuzz/fuzz.sh's seeds are real pages copied from a `syncdax demo
 * --hold` mount).  The target writes the content where the reader looks
 * for the page of a scratch device (in a directory of its own,
 * $SDX_STATS_DIR), and
 *   - bit 0 set: stamps the scratch device's st_dev and st_ino into the
 *     page (when it is big enough), so mutations of a page from another
 *     device get past the "names another device" check;
 *   - bit 1 clear: holds the page's flock, as a LIVE owner does; set: no
 *     owner (STALE), which the reader must remove.
 * The answer must be 0 with a page whose magic, version and size are this
 * syncdax's and whose device name is NUL-ended, or a negative errno, and a
 * STALE page must be gone after the read; anything else (and any crash, sanitizer report or
 * leak) aborts as a finding.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/statpage.h"
#include "util.h"

#define STAMP_DEVICE	0x1u
#define NO_OWNER	0x2u

static char stats_dir[] = "/dev/shm/sdxfuzz-stats-XXXXXX";

static void die(const char *what)
{
	fprintf(stderr, "fuzz_statpage: %s: %s\n", what, strerror(errno));
	abort();
}

static void remove_stats_dir(void)
{
	rmdir(stats_dir);
}

/*
 * The pages go to a directory of this process's own: another process's
 * first mount sweeps /dev/shm for STALE pages, taking each one's flock a
 * moment, which would race with the page written here.
 */
static void make_stats_dir(void)
{
	if (!mkdtemp(stats_dir) || setenv("SDX_STATS_DIR", stats_dir, 1))
		die("stats directory");
	atexit(remove_stats_dir);
}

/* Check the reader's answer @err for the page it copied into *@page. */
static void check(int err, const struct sdx_statpage *page)
{
	if (err > 0 || err < -4095)
		die("sdx_statpage_read: neither 0 nor -errno");
	if (err == 0 &&
	    (page->magic != SDX_STATPAGE_MAGIC ||
	     page->version != SDX_STATPAGE_VERSION ||
	     page->size != sizeof(*page) ||
	     !memchr(page->device, '\0', sizeof(page->device))))
		die("sdx_statpage_read: 0 for a page it should refuse");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *device;
	static char name[512];
	struct sdx_statpage page;
	uint8_t *content;
	struct stat st;
	unsigned flags;
	int fd, err;

	if (size < 1 || size > 4 * sizeof(page))
		return 0;
	if (!device) {
		make_stats_dir();
		device = fz_device("statpage");
		fz_write_device(device, "", 0, 4096);
		if (stat(device, &st))
			die(device);
		sdx_statpage_name(st.st_dev, st.st_ino, name, sizeof(name));
	}
	flags = data[0];
	size--;
	content = malloc(size + 1);
	if (!content)
		die("malloc");
	memcpy(content, data + 1, size);
	if ((flags & STAMP_DEVICE) &&
	    size >= offsetof(struct sdx_statpage, device)) {
		struct sdx_statpage *p = (struct sdx_statpage *)content;

		if (stat(device, &st))
			die(device);
		p->device_dev = st.st_dev;
		p->device_ino = st.st_ino;
	}

	fd = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || pwrite(fd, content, size, 0) != (ssize_t)size)
		die(name);
	if (!(flags & NO_OWNER) && flock(fd, LOCK_EX | LOCK_NB))
		die("flock");
	memset(&page, 0xa5, sizeof(page));
	err = sdx_statpage_read(device, &page);
	check(err, &page);
	if ((flags & NO_OWNER) && access(name, F_OK) == 0)
		die("sdx_statpage_read left a STALE page");
	unlink(name);
	close(fd);
	free(content);
	return 0;
}
