/*
 * bench_pmem.c - what making stores durable costs on an emulated device:
 * persist (flush + drain) of 64 B, 4 KiB and 2 MiB of dirty lines with
 * each flush instruction this CPU has, beside plain memcpy and
 * sdx_dev_memcpy_persist (non-temporal stores from 256 B) of the same
 * sizes.  One table, nanoseconds per operation (median of the repeats)
 * and GB/s.
 *
 * Each measurement times a batch of operations on consecutive ranges of a
 * 256 KiB window (one operation for 2 MiB), so the clock's own cost stays
 * out of the 64-byte figures; the lines are dirtied before the batch,
 * untimed, so every flush has something to write back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernel/backend.h"
#include "pmem/pmem.h"

#define DEV_SIZE (8u << 20)
#define WINDOW (256u << 10)
#define REPEATS 21

enum op { OP_MEMCPY, OP_MEMCPY_PERSIST, OP_PERSIST };

static const size_t sizes[] = { 64, 4096, 2u << 20 };

/* Median nanoseconds of one @op of @size bytes. */
static double measure(struct sdx_dev *dev, const uint8_t *src, enum op op,
		      size_t size)
{
	size_t batch = size < WINDOW ? WINDOW / size : 1, i;
	uint64_t t[REPEATS], start;
	uint8_t *dst = dev->base + DEV_SIZE / 2;
	unsigned r;

	for (r = 0; r < REPEATS; r++) {
		memset(dst, (int)r, batch * size);	/* dirty, untimed */
		start = bench_now_ns();
		for (i = 0; i < batch; i++) {
			uint8_t *d = dst + i * size;

			switch (op) {
			case OP_MEMCPY:
				memcpy(d, src, size);
				break;
			case OP_MEMCPY_PERSIST:
				sdx_dev_memcpy_persist(dev, d, src, size);
				break;
			case OP_PERSIST:
				sdx_dev_persist(dev, d, size);
				break;
			}
		}
		t[r] = bench_now_ns() - start;
	}
	qsort(t, REPEATS, sizeof(t[0]), bench_cmp_u64);
	return (double)t[REPEATS / 2] / (double)batch;
}

static void row(struct sdx_dev *dev, const uint8_t *src, const char *name,
		enum op op)
{
	unsigned i;

	printf("%-22s", name);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		double ns = measure(dev, src, op, sizes[i]);

		printf(" %11.1f %6.2f", ns, (double)sizes[i] / ns);
	}
	printf("\n");
}

int main(void)
{
	static const enum sdx_flush_kind kinds[] = {
		SDX_FLUSH_CLWB, SDX_FLUSH_CLFLUSHOPT, SDX_FLUSH_CLFLUSH,
	};
	char path[64], name[32];
	struct sdx_dev *dev;
	enum sdx_flush_kind best;
	uint8_t *src;
	unsigned i;
	int fd, err;

	snprintf(path, sizeof(path), "/dev/shm/sdxbench-%d.img", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, DEV_SIZE) != 0) {
		perror(path);
		return 1;
	}
	close(fd);
	err = sdx_dev_open(path, 0, &dev);
	unlink(path);
	if (err) {
		fprintf(stderr, "bench_pmem: %s: %s\n", path, strerror(-err));
		return 1;
	}
	src = malloc(sizes[2]);
	if (!src)
		return 1;
	memset(src, 0x5a, sizes[2]);
	best = dev->flush;
	printf("# emulated device %s (%s), %u MiB; best flush: %s; "
	       "ns per op, median of %d; GB/s\n", path,
	       sdx_dev_kind_name(dev->kind), DEV_SIZE >> 20,
	       sdx_flush_kind_name(best), REPEATS);
	printf("%-22s %18s %18s %18s\n", "operation", "64 B", "4 KiB",
	       "2 MiB");
	printf("%-22s %11s %6s %11s %6s %11s %6s\n", "", "ns", "GB/s", "ns",
	       "GB/s", "ns", "GB/s");
	row(dev, src, "memcpy", OP_MEMCPY);
	row(dev, src, "memcpy_persist", OP_MEMCPY_PERSIST);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (sdx_dev_set_flush(dev, kinds[i]) == -ENOTSUP) {
			printf("%-22s (this CPU has no %s)\n", "persist",
			       sdx_flush_kind_name(kinds[i]));
			continue;
		}
		snprintf(name, sizeof(name), "persist %s",
			 sdx_flush_kind_name(kinds[i]));
		row(dev, src, name, OP_PERSIST);
	}
	sdx_dev_close(dev);
	free(src);
	return 0;
}
