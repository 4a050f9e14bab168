/*
 * bench_durability.c - durability throughput: append 64-byte records to a
 * log, each durable before the next is written, and report records per
 * second and the p50/p99 latency of one record.  The ways compared:
 *
 *   syncdax-mapsync   syncdax file mapped MAP_SHARED_VALIDATE|MAP_SYNC,
 *                     store + sdx_persist (no system call; a page's first
 *                     store takes a synchronous fault that allocates)
 *   kernel-mapsync    the kernel's ext4 -o dax file mapped the same way,
 *                     store + CLWB/SFENCE (sdx_cpu_persist: the CPU's
 *                     best flush instruction, no syncdax device lookup)
 *   kernel-fdatasync  the same kernel file, pwrite + fdatasync
 *   disk-fdatasync    an ordinary disk file system, pwrite + fdatasync
 *   disk-msync        the same, mmap MAP_SHARED + msync(MS_SYNC)
 *
 *   bench_durability [--dir DAXDIR] [--disk DIR] [--records N]
 *
 * With --dir (an ext4 -o dax mount, as in the guest of bench/kernel/) the
 * syncdax device is a container file on that mount and the kernel-* ways
 * run there; without it syncdax uses an emulated device in /dev/shm and
 * the disk-* ways run in --disk (default /var/tmp).  Each way stops after
 * N records (default 20000) or 10 s.  Besides the table, one line per way
 * "data durability <way> rps=<x> p50=<us> p99=<us>" for scripts.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dax/dax.h"
#include "kernel/backend.h"
#include "pmem/pmem.h"
#include "syncdax.h"

#define RECORD 64u
#define DEVICE_BYTES (64ull << 20)
#define TIME_CAP_NS (10ull * 1000000000u)

enum way { SYNCDAX_MAPSYNC, KERNEL_MAPSYNC, KERNEL_FDATASYNC,
	   DISK_FDATASYNC, DISK_MSYNC };

static const char *const way_key[] = {
	"syncdax-mapsync", "kernel-mapsync", "kernel-fdatasync",
	"disk-fdatasync", "disk-msync",
};

static const char *const way_title[] = {
	"syncdax MAP_SYNC + sdx_persist",
	"kernel ext4-DAX MAP_SYNC + CLWB/SFENCE",
	"kernel ext4-DAX write + fdatasync",
	"disk write + fdatasync",
	"disk mmap + msync",
};

struct log {
	enum way way;
	struct sdx_fs *fs;	/* SYNCDAX_MAPSYNC */
	int fd;
	uint8_t *map;		/* the mapping ways */
	size_t bytes;		/* of the log file */
};

/* Make record @i durable at its place in the log; 0 or -errno. */
static int append(struct log *log, uint64_t i)
{
	uint8_t rec[RECORD];
	off_t off = (off_t)(i * RECORD);

	memset(rec, (int)(i & 0xff), sizeof(rec));
	memcpy(rec, &i, sizeof(i));
	switch (log->way) {
	case SYNCDAX_MAPSYNC:
		memcpy(log->map + off, rec, RECORD);
		sdx_persist(log->map + off, RECORD);
		return 0;
	case KERNEL_MAPSYNC:
		memcpy(log->map + off, rec, RECORD);
		sdx_cpu_persist(log->map + off, RECORD);
		return 0;
	case DISK_MSYNC:
		memcpy(log->map + off, rec, RECORD);
		return msync(log->map + (off & ~(off_t)(SDX_PAGE_SIZE - 1)),
			     SDX_PAGE_SIZE, MS_SYNC) ? -errno : 0;
	case KERNEL_FDATASYNC:
	case DISK_FDATASYNC:
		if (pwrite(log->fd, rec, RECORD, off) != RECORD)
			return -EIO;
		return fdatasync(log->fd) ? -errno : 0;
	}
	return -EINVAL;
}

/* Create the log of @log->way in @dir (or @fs) for @records records. */
static int open_log(struct log *log, const char *dir, uint64_t records)
{
	char path[4096];
	int flags = MAP_SHARED_VALIDATE | MAP_SYNC;

	log->bytes = (records * RECORD + (2u << 20) - 1) & ~((2ull << 20) - 1);
	if (log->way == SYNCDAX_MAPSYNC) {
		log->fd = sdx_open(log->fs, "/log", O_RDWR | O_CREAT | O_TRUNC,
				   0644);
		if (log->fd < 0 || sdx_ftruncate(log->fs, log->fd,
						 (off_t)log->bytes) ||
		    sdx_fsync(log->fs, log->fd))
			return -errno;
		log->map = sdx_mmap(log->fs, NULL, log->bytes,
				    PROT_READ | PROT_WRITE, flags, log->fd, 0);
		return log->map == MAP_FAILED ? -errno : 0;
	}
	snprintf(path, sizeof(path), "%s/durability-%d.log", dir,
		 (int)getpid());
	log->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (log->fd < 0)
		return -errno;
	unlink(path);
	if (ftruncate(log->fd, (off_t)log->bytes) || fsync(log->fd))
		return -errno;
	if (log->way == KERNEL_FDATASYNC || log->way == DISK_FDATASYNC)
		return 0;
	if (log->way == DISK_MSYNC)
		flags = MAP_SHARED;
	log->map = mmap(NULL, log->bytes, PROT_READ | PROT_WRITE, flags,
			log->fd, 0);
	return log->map == MAP_FAILED ? -errno : 0;
}

static void close_log(struct log *log)
{
	if (log->way == SYNCDAX_MAPSYNC) {
		if (log->map && log->map != MAP_FAILED)
			sdx_munmap(log->map, log->bytes);
		if (log->fd >= 0)
			sdx_close(log->fs, log->fd);
		sdx_unlink(log->fs, "/log");
		return;
	}
	if (log->map && log->map != MAP_FAILED)
		munmap(log->map, log->bytes);
	if (log->fd >= 0)
		close(log->fd);
}

/* Append up to @records records the @way way and print its row. */
static int run_way(enum way way, struct sdx_fs *fs, const char *dir,
		   uint64_t records, const char *where)
{
	struct log log = { .way = way, .fs = fs, .fd = -1 };
	uint64_t *ns = calloc(records, sizeof(*ns)), t0, n = 0, total = 0;
	double rps;
	int err;

	if (!ns)
		return -ENOMEM;
	err = open_log(&log, dir, records);
	if (err)
		goto out;
	sdx_dax_reset_stats();
	t0 = bench_now_ns();
	while (n < records && total < TIME_CAP_NS) {
		uint64_t t = bench_now_ns();

		err = append(&log, n);
		if (err)
			goto out;
		ns[n++] = bench_now_ns() - t;
		total = bench_now_ns() - t0;
	}
	rps = total ? (double)n * 1e9 / (double)total : 0;
	qsort(ns, n, sizeof(*ns), bench_cmp_u64);
	printf("%-42s %-22s %8llu %11.0f %9.2f %9.2f\n", way_title[way], where,
	       (unsigned long long)n, rps, bench_percentile(ns, n, 50) / 1e3,
	       bench_percentile(ns, n, 99) / 1e3);
	if (way == SYNCDAX_MAPSYNC) {
		struct sdx_dax_stats st;

		sdx_dax_get_stats(&st);
		printf("%-42s (%llu write faults, %llu journal commits, %llu "
		       "pages mapped)\n", "", (unsigned long long)
		       (st.faults_write + st.faults_mkwrite),
		       (unsigned long long)st.commits,
		       (unsigned long long)st.pages_mapped);
	}
	printf("data durability %s rps=%.0f p50=%.2f p99=%.2f\n",
	       way_key[way], rps, bench_percentile(ns, n, 50) / 1e3,
	       bench_percentile(ns, n, 99) / 1e3);
out:
	if (err)
		fprintf(stderr, "bench_durability: %s in %s: %s (%s)\n",
			way_title[way], where, strerror(-err),
			way == SYNCDAX_MAPSYNC ? sdx_strerror_detail() : "");
	close_log(&log);
	free(ns);
	return err;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_durability [--dir DAXDIR] [--disk DIR]"
		" [--records N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "disk", required_argument, NULL, 'k' },
		{ "records", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dax = NULL, *disk = NULL;
	unsigned long long records = 20000;
	char dev[4096];
	struct sdx_fs *fs;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			dax = optarg;
		else if (c == 'k')
			disk = optarg;
		else if (c == 'n')
			records = strtoull(optarg, NULL, 10);
		else
			usage();
	}
	if (optind != argc || records == 0 || records > (1ull << 24))
		usage();
	if (!dax && !disk)
		disk = "/var/tmp";
	snprintf(dev, sizeof(dev), "%s/sdxdurability-%d.img",
		 dax ? dax : "/dev/shm", (int)getpid());
	err = bench_make_device(dev, DEVICE_BYTES);
	fs = err ? NULL : sdx_mount(dev, 0);
	if (!fs) {
		fprintf(stderr, "bench_durability: %s: %s (%s)\n", dev,
			strerror(err ? -err : errno), sdx_strerror_detail());
		unlink(dev);
		return 1;
	}
	printf("%llu 64-byte records appended, each durable before the next "
	       "(or 10 s per way); latency in us\n\n%-42s %-22s %8s %11s %9s "
	       "%9s\n", records, "way", "where", "records", "records/s",
	       "p50", "p99");
	err = run_way(SYNCDAX_MAPSYNC, fs, NULL, records,
		      dax ? "container on DAX ext4" : "emulated, /dev/shm");
	if (dax && !err)
		err = run_way(KERNEL_MAPSYNC, NULL, dax, records, dax);
	if (dax && !err)
		err = run_way(KERNEL_FDATASYNC, NULL, dax, records, dax);
	if (disk && !err)
		err = run_way(DISK_FDATASYNC, NULL, disk, records, disk);
	if (disk && !err)
		err = run_way(DISK_MSYNC, NULL, disk, records, disk);
	sdx_unmount(fs);
	unlink(dev);
	return err ? 1 : 0;
}
