/*
 * flush.c - the persistence primitives of a device and the public
 * sdx_flush/sdx_drain/sdx_persist built on them.
 *
 * One flush kind per device, chosen at open (sdx_dev_set_flush may force
 * another for benchmarks and tests):
 *
 *   persistent memory (DEVDAX, FSDAX, EMULATED)
 *       flush = CLWB > CLFLUSHOPT > CLFLUSH of each 64-byte line, the best
 *               this CPU has (CPUID, probed once per process)
 *       drain = SFENCE
 *   ordinary file (FILE)
 *       flush = msync(MS_SYNC) of the 4 KiB pages covering the range
 *       drain = nothing left to wait for
 *
 * The copy helpers use non-temporal stores (MOVNTDQ) for the 64-byte lines
 * wholly inside a range of SDX_NT_MIN bytes or more and cached stores plus
 * a flush for the partial lines at both ends; both end drained.
 *
 * Invariant: every line a primitive makes durable on a simulated device is
 * also reported to the crash simulation (sdx_crashsim_record) before the
 * drain that publishes it, including lines written by non-temporal stores.
 */
#if !defined(__x86_64__)
#error "syncdax's persistence primitives are written for x86-64"
#endif

#include <cpuid.h>
#include <errno.h>
#include <immintrin.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "syncdax.h"
#include "lib/err.h"
#include "pmem/pmem.h"

#define SDX_NT_MIN 256u			/* non-temporal stores from here */
#define CPUID1_EDX_CLFSH (1u << 19)
#define CPUID7_EBX_CLFLUSHOPT (1u << 23)
#define CPUID7_EBX_CLWB (1u << 24)

static unsigned cpu_flushes;		/* 1 << enum sdx_flush_kind */
static enum sdx_flush_kind cpu_best;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void cpu_probe(void)
{
	unsigned a, b, c, d;

	cpu_flushes = 1u << SDX_FLUSH_MSYNC;
	if (__get_cpuid(1, &a, &b, &c, &d) && (d & CPUID1_EDX_CLFSH))
		cpu_flushes |= 1u << SDX_FLUSH_CLFLUSH;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
		if (b & CPUID7_EBX_CLFLUSHOPT)
			cpu_flushes |= 1u << SDX_FLUSH_CLFLUSHOPT;
		if (b & CPUID7_EBX_CLWB)
			cpu_flushes |= 1u << SDX_FLUSH_CLWB;
	}
	/* The enum lists the instructions best first. */
	for (cpu_best = SDX_FLUSH_CLWB; cpu_best < SDX_FLUSH_MSYNC; cpu_best++)
		if (cpu_flushes & (1u << cpu_best))
			break;
}

enum sdx_flush_kind sdx_cpu_best_flush(void)
{
	pthread_once(&cpu_once, cpu_probe);
	return cpu_best;
}

const char *sdx_flush_kind_name(enum sdx_flush_kind kind)
{
	switch (kind) {
	case SDX_FLUSH_CLWB:
		return "clwb";
	case SDX_FLUSH_CLFLUSHOPT:
		return "clflushopt";
	case SDX_FLUSH_CLFLUSH:
		return "clflush";
	case SDX_FLUSH_MSYNC:
		return "msync";
	}
	return "unknown";
}

__attribute__((target("clwb")))
static void lines_clwb(uintptr_t p, uintptr_t end)
{
	for (; p < end; p += SDX_CACHELINE)
		_mm_clwb((void *)p);
}

__attribute__((target("clflushopt")))
static void lines_clflushopt(uintptr_t p, uintptr_t end)
{
	for (; p < end; p += SDX_CACHELINE)
		_mm_clflushopt((void *)p);
}

static void lines_clflush(uintptr_t p, uintptr_t end)
{
	for (; p < end; p += SDX_CACHELINE)
		_mm_clflush((const void *)p);
}

/* Start write-back of every line (or page, for msync) of the range. */
static void flush_range(enum sdx_flush_kind kind, const void *addr,
			size_t len)
{
	uintptr_t p = (uintptr_t)addr & ~(uintptr_t)(SDX_CACHELINE - 1);
	uintptr_t end = (uintptr_t)addr + len;

	if (len == 0)
		return;
	switch (kind) {
	case SDX_FLUSH_CLWB:
		lines_clwb(p, end);
		break;
	case SDX_FLUSH_CLFLUSHOPT:
		lines_clflushopt(p, end);
		break;
	case SDX_FLUSH_CLFLUSH:
		lines_clflush(p, end);
		break;
	case SDX_FLUSH_MSYNC:
		p = (uintptr_t)addr & ~(uintptr_t)(SDX_PAGE_SIZE - 1);
		/* The caller asked for durability and has no error path;
		 * an msync failure (EIO) is the kernel's to report. */
		(void)msync((void *)p, end - p, MS_SYNC);
		break;
	}
}

void sdx_cpu_persist(const void *addr, size_t len)
{
	flush_range(sdx_cpu_best_flush(), addr, len);
	_mm_sfence();
}

int sdx_dev_set_flush(struct sdx_dev *dev, enum sdx_flush_kind kind)
{
	pthread_once(&cpu_once, cpu_probe);
	if ((unsigned)kind > SDX_FLUSH_MSYNC)
		return sdx_err(-EINVAL, "%s: unknown flush kind %d", dev->path,
			       (int)kind);
	if (!(cpu_flushes & (1u << kind)))
		return sdx_err(-ENOTSUP, "%s: this CPU has no %s instruction",
			       dev->path, sdx_flush_kind_name(kind));
	if (!dev->is_persistent && kind != SDX_FLUSH_MSYNC)
		return sdx_err(-EINVAL, "%s: a %s device is made durable by "
			       "msync only, %s would not persist it",
			       dev->path, sdx_dev_kind_name(dev->kind),
			       sdx_flush_kind_name(kind));
	dev->flush = kind;
	return 0;
}

void sdx_dev_flush(struct sdx_dev *dev, const void *addr, size_t len)
{
	flush_range(dev->flush, addr, len);
	if (dev->crash)
		sdx_crashsim_record(dev, addr, len);
}

void sdx_dev_drain(struct sdx_dev *dev)
{
	if (dev->flush != SDX_FLUSH_MSYNC)
		_mm_sfence();
	if (dev->crash)
		sdx_crashsim_drain(dev);
}

void sdx_dev_persist(struct sdx_dev *dev, const void *addr, size_t len)
{
	sdx_dev_flush(dev, addr, len);
	sdx_dev_drain(dev);
}

/*
 * Copy @src (or, when @src is NULL, fill with @c) to @dst and persist:
 * cached stores + flush for the partial lines at both ends, non-temporal
 * stores for the whole lines between them.
 */
static void persist_nt(struct sdx_dev *dev, uint8_t *dst, const uint8_t *src,
		       int c, size_t len)
{
	size_t head = (size_t)(-(uintptr_t)dst & (SDX_CACHELINE - 1));
	size_t body = (len - head) & ~(size_t)(SDX_CACHELINE - 1);
	size_t tail = len - head - body, i;
	__m128i fill = _mm_set1_epi8((char)c);
	uint8_t *d = dst + head;

	if (src)
		memcpy(dst, src, head);
	else
		memset(dst, c, head);
	sdx_dev_flush(dev, dst, head);
	for (i = 0; i < body; i += 16) {
		__m128i v = src ? _mm_loadu_si128((const __m128i *)
						  (src + head + i)) : fill;

		_mm_stream_si128((__m128i *)(d + i), v);
	}
	if (dev->crash)
		sdx_crashsim_record(dev, d, body);
	if (src)
		memcpy(d + body, src + head + body, tail);
	else
		memset(d + body, c, tail);
	sdx_dev_flush(dev, d + body, tail);
	sdx_dev_drain(dev);
}

void sdx_dev_memcpy_persist(struct sdx_dev *dev, void *dst, const void *src,
			    size_t len)
{
	if (len >= SDX_NT_MIN && dev->flush != SDX_FLUSH_MSYNC) {
		persist_nt(dev, dst, src, 0, len);
		return;
	}
	memcpy(dst, src, len);
	sdx_dev_persist(dev, dst, len);
}

void sdx_dev_memset_persist(struct sdx_dev *dev, void *dst, int c,
			    size_t len)
{
	if (len >= SDX_NT_MIN && dev->flush != SDX_FLUSH_MSYNC) {
		persist_nt(dev, dst, NULL, c, len);
		return;
	}
	memset(dst, c, len);
	sdx_dev_persist(dev, dst, len);
}

void sdx_flush(const void *addr, size_t len)
{
	struct sdx_dev *dev = sdx_dev_lookup(addr);

	if (dev)
		sdx_dev_flush(dev, addr, len);
	else
		flush_range(sdx_cpu_best_flush(), addr, len);
}

void sdx_drain(void)
{
	_mm_sfence();
	sdx_crashsim_drain_active();
}

void sdx_persist(const void *addr, size_t len)
{
	struct sdx_dev *dev = sdx_dev_lookup(addr);

	if (dev)
		sdx_dev_persist(dev, addr, len);
	else
		sdx_cpu_persist(addr, len);
}
