/*
 * dev.c - opening a persistent-memory device: telling its kind, locking it,
 * mapping it, and the process-wide registry of open devices and of the
 * other mappings of them (aliases) that sdx_dev_lookup() and the crash
 * simulation search.
 *
 * sdx_dev_open() decides the kind once, in this order:
 *
 *   character device, /sys/dev/char/M:m/subsystem is "dax" -> DEVDAX
 *   regular file on tmpfs, or SDX_DEV_EMULATE             -> EMULATED
 *   regular file, mmap(MAP_SHARED_VALIDATE|MAP_SYNC) works -> FSDAX
 *   any other regular file                                 -> FILE (msync)
 *   anything else (directory, other character device, ...) -> -EINVAL
 *
 * Invariants:
 *   (1) Every device between open and close is in `devices`; every alias
 *       in `aliases` names a device in `devices` (close drops its aliases).
 *   (2) `aliases` is sorted by va and its ranges never overlap: a new alias
 *       trims or replaces the ones it covers (a remap of the same VA).
 *   (3) registry_lock (read for lookups, write for changes) is a leaf
 *       lock: nothing else is taken while it is held.
 *   (4) Adding or removing an alias never calls malloc or free: it runs in
 *       the fault handler (see alias_reserve).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lib/err.h"
#include "pmem/pmem.h"

#define DEVDAX_DEFAULT_ALIGN (2u << 20)

struct alias {
	uintptr_t va;
	uintptr_t end;
	uint64_t off;		/* device offset of va */
	struct sdx_dev *dev;
};

static pthread_rwlock_t registry_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct sdx_dev **devices;
static size_t nr_devices, max_devices;
static struct alias *aliases;
static size_t nr_aliases, max_aliases;

const char *sdx_dev_kind_name(enum sdx_dev_kind kind)
{
	switch (kind) {
	case SDX_DEV_DEVDAX:
		return "devdax";
	case SDX_DEV_FSDAX:
		return "fsdax";
	case SDX_DEV_EMULATED:
		return "emulated";
	case SDX_DEV_FILE:
		return "file";
	}
	return "unknown";
}

int sdx_array_reserve(void **arr, size_t *max, size_t need, size_t elem)
{
	size_t n = *max ? *max : 8;
	void *p;

	if (need <= *max)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*max = n;
	return 0;
}

/* First alias whose end lies above @va (registry_lock held). */
static size_t alias_search(uintptr_t va)
{
	size_t lo = 0, hi = nr_aliases;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (aliases[mid].end <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void alias_remove_at(size_t i)
{
	memmove(&aliases[i], &aliases[i + 1],
		(nr_aliases - i - 1) * sizeof(*aliases));
	nr_aliases--;
}

static void alias_insert_at(size_t i, const struct alias *a)
{
	memmove(&aliases[i + 1], &aliases[i],
		(nr_aliases - i) * sizeof(*aliases));
	aliases[i] = *a;
	nr_aliases++;
}

/*
 * Room for @need aliases (registry_lock held exclusive).  The array lives
 * in an anonymous mapping grown with mremap, not realloc: the fault path,
 * which runs in a SIGSEGV handler, registers aliases and must not call
 * malloc (the interrupted code may be inside it).
 */
static int alias_reserve(size_t need)
{
	size_t n = max_aliases ? max_aliases : 4096 / sizeof(*aliases);
	void *p;

	if (need <= max_aliases)
		return 0;
	while (n < need)
		n *= 2;
	if (max_aliases)
		p = mremap(aliases, max_aliases * sizeof(*aliases),
			   n * sizeof(*aliases), MREMAP_MAYMOVE);
	else
		p = mmap(NULL, n * sizeof(*aliases), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	aliases = p;
	max_aliases = n;
	return 0;
}

/* Insert @a, trimming what it overlaps (invariant 2; registry_lock held). */
static int alias_add(const struct alias *a)
{
	size_t i;

	if (alias_reserve(nr_aliases + 2))
		return -ENOMEM;
	i = alias_search(a->va);
	while (i < nr_aliases && aliases[i].va < a->end) {
		struct alias *e = &aliases[i];

		if (e->va < a->va && e->end > a->end) {
			struct alias right = { a->end, e->end,
					       e->off + (a->end - e->va),
					       e->dev };

			e->end = a->va;
			alias_insert_at(++i, &right);
			break;
		}
		if (e->va < a->va) {
			e->end = a->va;
			i++;
		} else if (e->end > a->end) {
			e->off += a->end - e->va;
			e->va = a->end;
			break;
		} else {
			alias_remove_at(i);
		}
	}
	alias_insert_at(i, a);
	return 0;
}

void sdx_dev_alias(struct sdx_dev *dev, void *va, size_t len, uint64_t off)
{
	struct alias a = { (uintptr_t)va, (uintptr_t)va + len, off, dev };
	size_t i;

	if (len && (len > dev->size || off > dev->size - len || a.end < a.va))
		return;		/* outside the device: nothing to attribute */
	pthread_rwlock_wrlock(&registry_lock);
	if (len == 0) {
		i = alias_search(a.va);
		if (i < nr_aliases && aliases[i].va == a.va &&
		    aliases[i].dev == dev)
			alias_remove_at(i);
	} else {
		/* Without memory the alias is dropped: flushes through it
		 * then use the CPU's best instruction, as for any address. */
		(void)alias_add(&a);
	}
	pthread_rwlock_unlock(&registry_lock);
}

static bool in_base(const struct sdx_dev *dev, uintptr_t p)
{
	return p >= (uintptr_t)dev->base && p - (uintptr_t)dev->base <
	       dev->size;
}

bool sdx_dev_translate(struct sdx_dev *dev, const void *addr, uint64_t *off,
		       uint64_t *span)
{
	uintptr_t p = (uintptr_t)addr;
	bool found = false;
	size_t i;

	if (in_base(dev, p)) {
		*off = p - (uintptr_t)dev->base;
		*span = dev->size - *off;
		return true;
	}
	pthread_rwlock_rdlock(&registry_lock);
	i = alias_search(p);
	if (i < nr_aliases && aliases[i].va <= p && aliases[i].dev == dev) {
		*off = aliases[i].off + (p - aliases[i].va);
		*span = aliases[i].end - p;
		found = true;
	}
	pthread_rwlock_unlock(&registry_lock);
	return found;
}

struct sdx_dev *sdx_dev_lookup(const void *addr)
{
	uintptr_t p = (uintptr_t)addr;
	struct sdx_dev *dev = NULL;
	size_t i;

	pthread_rwlock_rdlock(&registry_lock);
	for (i = 0; i < nr_devices && !dev; i++)
		if (in_base(devices[i], p))
			dev = devices[i];
	if (!dev) {
		i = alias_search(p);
		if (i < nr_aliases && aliases[i].va <= p)
			dev = aliases[i].dev;
	}
	pthread_rwlock_unlock(&registry_lock);
	return dev;
}

static int registry_add(struct sdx_dev *dev)
{
	int err;

	pthread_rwlock_wrlock(&registry_lock);
	err = sdx_array_reserve((void **)&devices, &max_devices, nr_devices + 1,
		      sizeof(*devices));
	if (!err)
		devices[nr_devices++] = dev;
	pthread_rwlock_unlock(&registry_lock);
	return err ? sdx_err(err, "%s: out of memory", dev->path) : 0;
}

static void registry_remove(struct sdx_dev *dev)
{
	size_t i, kept = 0;

	pthread_rwlock_wrlock(&registry_lock);
	for (i = 0; i < nr_devices; i++)
		if (devices[i] != dev)
			devices[kept++] = devices[i];
	nr_devices = kept;
	for (i = 0, kept = 0; i < nr_aliases; i++)
		if (aliases[i].dev != dev)
			aliases[kept++] = aliases[i];
	nr_aliases = kept;
	pthread_rwlock_unlock(&registry_lock);
}

/* Is the file @st already open as a device of this process? */
static bool is_open_here(const struct stat *st)
{
	struct stat o;
	bool found = false;
	size_t i;

	pthread_rwlock_rdlock(&registry_lock);
	for (i = 0; i < nr_devices && !found; i++)
		found = fstat(devices[i]->fd, &o) == 0 &&
			o.st_dev == st->st_dev && o.st_ino == st->st_ino;
	pthread_rwlock_unlock(&registry_lock);
	return found;
}

/* Read one unsigned number from a sysfs file; 0 or -errno. */
static int read_sysfs_u64(const char *file, uint64_t *val)
{
	char buf[64], *end;
	ssize_t n;
	int fd;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	errno = 0;
	*val = strtoull(buf, &end, 0);
	if (errno || end == buf)
		return -EIO;
	return 0;
}

/* Is the character device @rdev a device-DAX instance? */
static bool is_devdax(dev_t rdev, char *sys, size_t syslen)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(sys, syslen, "/sys/dev/char/%u:%u", major(rdev),
		 minor(rdev));
	snprintf(link, sizeof(link), "%s/subsystem", sys);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	base = strrchr(target, '/');
	return strcmp(base ? base + 1 : target, "dax") == 0;
}

/* Size and mapping alignment of a device-DAX instance from sysfs. */
static int devdax_geometry(struct sdx_dev *dev, const char *sys,
			   uint64_t *align)
{
	static const char *const align_files[] = {
		"align",		/* Linux >= 5.10, per instance */
		"device/dax_region/align",	/* older: the region's */
	};
	char file[PATH_MAX];
	size_t i;

	snprintf(file, sizeof(file), "%s/size", sys);
	if (read_sysfs_u64(file, &dev->size))
		return sdx_err(-EINVAL, "%s: cannot read the device-DAX size "
			       "from %s", dev->path, file);
	*align = DEVDAX_DEFAULT_ALIGN;
	for (i = 0; i < sizeof(align_files) / sizeof(align_files[0]); i++) {
		snprintf(file, sizeof(file), "%s/%s", sys, align_files[i]);
		if (read_sysfs_u64(file, align) == 0)
			break;
	}
	if (*align == 0 || (*align & (*align - 1)) != 0)
		return sdx_err(-EINVAL, "%s: device-DAX alignment %" PRIu64
			       " is not a power of two", dev->path, *align);
	return 0;
}

/* Map the device at an address aligned to @align (device-DAX demands it). */
static int map_aligned(struct sdx_dev *dev, int prot, uint64_t align)
{
	size_t span = dev->size + align;
	uint8_t *res, *at;

	res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		   MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return sdx_err(-errno, "%s: cannot reserve %zu bytes of "
			       "address space: %s", dev->path, span,
			       strerror(errno));
	at = (uint8_t *)(((uintptr_t)res + align - 1) & ~(uintptr_t)(align - 1));
	if (mmap(at, dev->size, prot, MAP_SHARED | MAP_FIXED, dev->fd, 0) ==
	    MAP_FAILED) {
		int err = -errno;

		munmap(res, span);
		return sdx_err(err, "%s: cannot map: %s", dev->path,
			       strerror(-err));
	}
	if (at > res)
		munmap(res, (size_t)(at - res));
	if (at + dev->size < res + span)
		munmap(at + dev->size, (size_t)(res + span - at - dev->size));
	dev->base = at;
	return 0;
}

static int check_size(const struct sdx_dev *dev)
{
	if (dev->size == 0)
		return sdx_err(-EINVAL, "%s: empty device (size 0)", dev->path);
	if (dev->size % SDX_PAGE_SIZE)
		return sdx_err(-EINVAL, "%s: size %" PRIu64 " is not a multiple "
			       "of 4 KiB", dev->path, dev->size);
	if (dev->size > SIZE_MAX / 2)
		return sdx_err(-EFBIG, "%s: size %" PRIu64 " does not fit the "
			       "address space", dev->path, dev->size);
	return 0;
}

/*
 * SDX_DEV_POPULATE=1: an emulated device's pages are allocated and mapped
 * at open, as the memory of a real device exists.  Otherwise the first use
 * of each block pays a tmpfs page allocation and a minor fault, inside the
 * page fault that zeroes it and the commit that first writes each journal
 * block (syncdax demo, fresh 64 MiB image, minimum first-write fault: plain
 * 11.7 -> 9.0 us, MAP_SYNC 17 -> 13.6 us; with sync-ahead the average
 * 4..31 -> 2.1 us).  Costs the device's size in memory and the
 * population at every open (tens of ms per 64 MiB), so it is not the
 * default: tests open small devices thousands of times.
 */
static bool wants_populate(void)
{
	const char *v = getenv("SDX_DEV_POPULATE");

	return v && strcmp(v, "1") == 0;
}

/* Kind, size and mapping of a regular file (EMULATED, FSDAX or FILE). */
static int open_file(struct sdx_dev *dev, unsigned flags, int prot)
{
	struct statfs sfs;
	void *p;

	if (fstatfs(dev->fd, &sfs) < 0)
		return sdx_err(-errno, "%s: statfs: %s", dev->path,
			       strerror(errno));
	if ((flags & SDX_DEV_EMULATE) || sfs.f_type == TMPFS_MAGIC) {
		dev->kind = SDX_DEV_EMULATED;
	} else {
		p = mmap(NULL, dev->size, prot, MAP_SHARED_VALIDATE | MAP_SYNC,
			 dev->fd, 0);
		if (p != MAP_FAILED) {
			dev->kind = SDX_DEV_FSDAX;
			dev->base = p;
			return 0;
		}
		dev->kind = SDX_DEV_FILE;
	}
	p = mmap(NULL, dev->size, prot, MAP_SHARED |
		 (dev->kind == SDX_DEV_EMULATED && wants_populate() ?
		  MAP_POPULATE : 0), dev->fd, 0);
	if (p == MAP_FAILED)
		return sdx_err(-errno, "%s: cannot map %" PRIu64 " bytes: %s",
			       dev->path, dev->size, strerror(errno));
	dev->base = p;
	return 0;
}

/* What a path that is no device is, in words. */
static const char *mode_name(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISBLK(mode))
		return "a block device (use its device-DAX or a file on a "
		       "-o dax mount)";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a regular file";
}

int sdx_dev_open(const char *path, unsigned flags, struct sdx_dev **out)
{
	char sys[64];
	struct sdx_dev *dev;
	struct stat st, fst;
	uint64_t align = 0;
	int err = 0, prot;

	if (!path || !*path)
		return sdx_err(-EINVAL, "no device path given");
	if (flags & ~(SDX_DEV_EMULATE | SDX_DEV_RDONLY))
		return sdx_err(-EINVAL, "%s: unknown open flags 0x%x", path,
			       flags & ~(SDX_DEV_EMULATE | SDX_DEV_RDONLY));
	if (stat(path, &st) < 0)
		return sdx_err(-errno, "%s: %s", path, strerror(errno));
	if (S_ISCHR(st.st_mode) && !is_devdax(st.st_rdev, sys, sizeof(sys)))
		return sdx_err(-EINVAL, "%s: character device %u:%u is not a "
			       "device-DAX device", path, major(st.st_rdev),
			       minor(st.st_rdev));
	if (!S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode))
		return sdx_err(-EINVAL, "%s: %s, not a device", path,
			       mode_name(st.st_mode));

	dev = calloc(1, sizeof(*dev));
	if (!dev || !(dev->path = strdup(path))) {
		err = sdx_err(-ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	dev->is_rdonly = flags & SDX_DEV_RDONLY;
	prot = PROT_READ | (dev->is_rdonly ? 0 : PROT_WRITE);
	if (S_ISCHR(st.st_mode)) {
		dev->kind = SDX_DEV_DEVDAX;
		err = devdax_geometry(dev, sys, &align);
	} else {
		dev->size = (uint64_t)st.st_size;
	}
	err = err ? err : check_size(dev);
	if (err)
		goto out_free;

	dev->fd = open(path, (dev->is_rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (dev->fd < 0) {
		err = sdx_err(-errno, "%s: %s", path, strerror(errno));
		goto out_free;
	}
	if (fstat(dev->fd, &fst) < 0 || fst.st_ino != st.st_ino ||
	    fst.st_dev != st.st_dev || fst.st_size != st.st_size) {
		err = sdx_err(-EAGAIN, "%s: changed while being opened", path);
		goto out_close;
	}
	if (flock(dev->fd, (dev->is_rdonly ? LOCK_SH : LOCK_EX) | LOCK_NB)) {
		if (errno != EWOULDBLOCK)
			err = sdx_err(-errno, "%s: cannot lock: %s", path,
				      strerror(errno));
		else if (is_open_here(&st))
			err = sdx_err(-EBUSY, "%s: already open in this "
				      "process", path);
		else
			err = sdx_err(-EBUSY, "%s: in use by another process",
				      path);
		goto out_close;
	}
	err = S_ISCHR(st.st_mode) ? map_aligned(dev, prot, align) :
				    open_file(dev, flags, prot);
	if (err)
		goto out_close;
	dev->is_persistent = dev->kind != SDX_DEV_FILE;
	dev->flush = dev->is_persistent ? sdx_cpu_best_flush() :
					  SDX_FLUSH_MSYNC;
	err = sdx_crashsim_attach(dev);
	if (err)
		goto out_unmap;
	err = registry_add(dev);
	if (err)
		goto out_detach;
	*out = dev;
	return 0;

out_detach:
	sdx_crashsim_detach(dev);
out_unmap:
	munmap(dev->base, dev->size);
out_close:
	close(dev->fd);
out_free:
	if (dev)
		free(dev->path);
	free(dev);
	return err;
}

void sdx_dev_close(struct sdx_dev *dev)
{
	if (!dev)
		return;
	registry_remove(dev);
	sdx_crashsim_detach(dev);
	munmap(dev->base, dev->size);
	close(dev->fd);
	free(dev->path);
	free(dev);
}
