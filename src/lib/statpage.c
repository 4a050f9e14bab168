/*
 * statpage.c - the published statistics page of a mount: create, remove,
 * and the reader another process uses (see statpage.h for the life of a
 * page and its invariants).
 *
 * This process's pages are kept in a short list (one per mount) that
 * holds, for each page, the descriptor whose lock makes it LIVE and its
 * name, for the unpublish.  The mapping engine counts into the page of
 * the mapping's own mount (sdx_fs_statpage), never into one found by the
 * device: a second mount of the device has none.  A process's first publish sweeps the directory
 * of STALE pages (flock LOCK_EX|LOCK_NB succeeds: no owner) so pages of
 * killed owners whose devices are gone do not pile up.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/statpage.h"

#define NAME_MAX_LEN 512

struct published {
	struct sdx_statpage *page;
	int fd;				/* holds the LOCK_EX (invariant 2) */
	char name[NAME_MAX_LEN];
	struct published *next;
};

static pthread_mutex_t published_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t sweep_once = PTHREAD_ONCE_INIT;
static struct published *published_list;

#define PREFIX "syncdax-stats-"

static const char *stats_dir(void)
{
	const char *dir = getenv("SDX_STATS_DIR");

	return dir && *dir ? dir : "/dev/shm";
}

void sdx_statpage_name(uint64_t dev, uint64_t ino, char *buf, size_t n)
{
	snprintf(buf, n, "%s/" PREFIX "%" PRIx64 "-%" PRIu64, stats_dir(),
		 dev, ino);
}

/* A STALE page: remove it if @name still is the file open on @fd (a new
 * owner may have renamed its page over it meanwhile). */
static void remove_stale(const char *name, int fd)
{
	struct stat open_st, name_st;

	if (fstat(fd, &open_st) == 0 && stat(name, &name_st) == 0 &&
	    open_st.st_dev == name_st.st_dev &&
	    open_st.st_ino == name_st.st_ino)
		unlink(name);
}

/*
 * Remove every STALE page in the directory: owners killed with their
 * device since deleted (test devices, crashed demos) would otherwise leave
 * them for ever.  Pages being created (".tmp", locked a moment after they
 * appear) are left alone.
 */
static void sweep_stale(void)
{
	DIR *d = opendir(stats_dir());
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char name[NAME_MAX_LEN];
		int fd;

		if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) ||
		    strstr(e->d_name, ".tmp"))
			continue;
		snprintf(name, sizeof(name), "%s/%s", stats_dir(), e->d_name);
		fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			remove_stale(name, fd);
		close(fd);
	}
	closedir(d);
}

/* Is the page at @name LIVE (its lock held by somebody)?  A missing or
 * unopenable page is not. */
static bool is_live(const char *name)
{
	int fd = open(name, O_RDONLY | O_CLOEXEC);
	bool live;

	if (fd < 0)
		return false;
	live = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return live;
}

static void fill_header(struct sdx_statpage *page, const struct stat *st,
			const char *device_path, unsigned mode)
{
	page->magic = SDX_STATPAGE_MAGIC;
	page->version = SDX_STATPAGE_VERSION;
	page->size = sizeof(*page);
	page->pid = getpid();
	page->mount_time = time(NULL);
	page->device_dev = st->st_dev;
	page->device_ino = st->st_ino;
	page->mode = mode;
	snprintf(page->device, sizeof(page->device), "%s", device_path);
}

int sdx_statpage_publish(int device_fd, const char *device_path,
			 unsigned mode, struct sdx_statpage **out)
{
	char tmp[NAME_MAX_LEN + 32];
	struct published *p;
	struct stat st;
	void *map;
	int err;

	if (fstat(device_fd, &st) < 0)
		return -errno;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	sdx_statpage_name(st.st_dev, st.st_ino, p->name, sizeof(p->name));
	pthread_once(&sweep_once, sweep_stale);
	if (is_live(p->name)) {
		err = -EBUSY;
		goto out_free;
	}
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", p->name, (int)getpid());
	p->fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (p->fd < 0) {
		err = -errno;
		goto out_free;
	}
	if (flock(p->fd, LOCK_EX | LOCK_NB) < 0 ||
	    ftruncate(p->fd, sizeof(struct sdx_statpage)) < 0) {
		err = -errno;
		goto out_unlink;
	}
	map = mmap(NULL, sizeof(struct sdx_statpage), PROT_READ | PROT_WRITE,
		   MAP_SHARED, p->fd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		goto out_unlink;
	}
	p->page = map;
	fill_header(p->page, &st, device_path, mode);
	if (rename(tmp, p->name) < 0) {
		err = -errno;
		munmap(map, sizeof(struct sdx_statpage));
		goto out_unlink;
	}
	pthread_mutex_lock(&published_lock);
	p->next = published_list;
	published_list = p;
	pthread_mutex_unlock(&published_lock);
	*out = p->page;
	return 0;
out_unlink:
	unlink(tmp);
	close(p->fd);
out_free:
	free(p);
	return err;
}

void sdx_statpage_unpublish(struct sdx_statpage *page)
{
	struct published **pp, *p = NULL;

	if (!page)
		return;
	pthread_mutex_lock(&published_lock);
	for (pp = &published_list; *pp; pp = &(*pp)->next) {
		if ((*pp)->page == page) {
			p = *pp;
			*pp = p->next;
			break;
		}
	}
	pthread_mutex_unlock(&published_lock);
	if (!p)
		return;
	/* Unlink while the lock is held: no reader sees it STALE. */
	unlink(p->name);
	munmap(p->page, sizeof(struct sdx_statpage));
	close(p->fd);
	free(p);
}

/* Copy and check the mapped page @map of @name. */
static int copy_page(const char *name, const void *map, const struct stat *dev,
		     struct sdx_statpage *out)
{
	const uint64_t *src = map;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	if (out->magic != SDX_STATPAGE_MAGIC)
		return sdx_err(-EUCLEAN, "statistics page %s: magic 0x%016"
			       PRIx64 ", expected 0x%016llx", name, out->magic,
			       SDX_STATPAGE_MAGIC);
	if (out->version != SDX_STATPAGE_VERSION ||
	    out->size != sizeof(*out))
		return sdx_err(-EUCLEAN, "statistics page %s: version %u of "
			       "%u bytes, this syncdax reads version %u of %zu",
			       name, out->version, out->size,
			       SDX_STATPAGE_VERSION, sizeof(*out));
	if (out->device_dev != (uint64_t)dev->st_dev ||
	    out->device_ino != (uint64_t)dev->st_ino)
		return sdx_err(-EUCLEAN, "statistics page %s names another "
			       "device (%" PRIx64 ":%" PRIu64 ")", name,
			       out->device_dev, out->device_ino);
	out->device[sizeof(out->device) - 1] = '\0';
	return 0;
}

int sdx_statpage_read(const char *device, struct sdx_statpage *out)
{
	char name[NAME_MAX_LEN];
	struct stat dev_st, st;
	void *map;
	int fd, err;

	if (stat(device, &dev_st) < 0)
		return sdx_err(-errno, "%s", strerror(errno));
	sdx_statpage_name(dev_st.st_dev, dev_st.st_ino, name, sizeof(name));
	fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			return sdx_err(err, "no syncdax process has it mounted");
		return sdx_err(err, "statistics page %s: %s", name,
			       strerror(-err));
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		remove_stale(name, fd);
		err = sdx_err(-ENOENT, "no syncdax process has it mounted "
			      "(its last owner died; stale statistics page "
			      "removed)");
		goto out_close;
	}
	if (errno != EWOULDBLOCK) {
		err = sdx_err(-errno, "statistics page %s: lock: %s", name,
			      strerror(errno));
		goto out_close;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out_close;
	}
	if (st.st_size != (off_t)sizeof(*out)) {
		err = sdx_err(-EUCLEAN, "statistics page %s: %lld bytes, "
			      "expected %zu", name, (long long)st.st_size,
			      sizeof(*out));
		goto out_close;
	}
	map = mmap(NULL, sizeof(*out), PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		goto out_close;
	}
	err = copy_page(name, map, &dev_st, out);
	munmap(map, sizeof(*out));
out_close:
	close(fd);
	return err;
}
