/*
 * pmem.h - the persistent-memory device: open/map, persistence primitives,
 * and the crash simulation of the persistence domain.
 *
 * A device is one of four kinds, told apart once at sdx_dev_open():
 *
 *   DEVDAX    /dev/daxX.Y character device     CPU cache flush + fence
 *   FSDAX     file on an -o dax mount           CPU cache flush + fence
 *             (mmap MAP_SHARED_VALIDATE|MAP_SYNC succeeds)
 *   EMULATED  file on tmpfs, or any file with   CPU cache flush + fence
 *             SDX_DEV_EMULATE                   (durable as memory is;
 *                                               SDX_DEV_POPULATE=1 in the
 *                                               environment maps all its
 *                                               pages in at open)
 *   FILE      any other regular file            msync of covering pages;
 *                                               is_persistent == false
 *
 * Invariants:
 *   (1) The whole device is mapped MAP_SHARED at dev->base for its life.
 *   (2) Every store the library wants durable goes through sdx_dev_flush()
 *       + sdx_dev_drain() (or the *_persist helpers built on them); nothing
 *       else is assumed durable.  The crash simulation relies on this.
 *   (3) A device is open read-write by at most one process (flock
 *       LOCK_EX|LOCK_NB on the device's fd; LOCK_SH for read-only opens).
 *
 * Crash simulation (emulated devices only, for tests): the process keeps a
 * second image, the media.  sdx_dev_flush() records the lines; the next
 * drain copies recorded lines to the media.  At the armed drain (counting
 * from 1, across all threads) the process crashes: the media, optionally
 * with evicted and torn lines, is what survives; the process _exit()s with
 * SDX_CRASH_EXIT.
 */
#ifndef SDX_PMEM_H
#define SDX_PMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SDX_PAGE_SIZE 4096u
#define SDX_CACHELINE 64u

enum sdx_dev_kind { SDX_DEV_DEVDAX, SDX_DEV_FSDAX, SDX_DEV_EMULATED,
		    SDX_DEV_FILE };
enum sdx_flush_kind { SDX_FLUSH_CLWB, SDX_FLUSH_CLFLUSHOPT,
		      SDX_FLUSH_CLFLUSH, SDX_FLUSH_MSYNC };

/* sdx_dev_open flags */
#define SDX_DEV_EMULATE 0x1u	/* treat any regular file as emulated pmem */
#define SDX_DEV_RDONLY  0x2u	/* map read-only, shared lock */

struct sdx_crashsim;

struct sdx_dev {
	char *path;
	int fd;
	enum sdx_dev_kind kind;
	enum sdx_flush_kind flush;	/* chosen once at open */
	bool is_persistent;		/* stores durable from user space */
	bool is_rdonly;
	uint8_t *base;			/* the whole device, MAP_SHARED */
	uint64_t size;			/* bytes, a multiple of 4 KiB */
	struct sdx_crashsim *crash;	/* NULL unless simulating */
};

/*
 * sdx_dev_open - recognise, lock and map a device
 * Context: thread-safe; attaches the crash simulation when one is armed for
 *          this file (sdx_crashsim_arm or the environment).
 * Return: 0 and *out, or -errno with a sentence recorded (sdx_err): ENOENT/
 *         EACCES/ENOTDIR for an unreadable path, EINVAL for a size that is
 *         0 or not a multiple of 4 KiB or a path that is no device kind,
 *         EBUSY when another process (or this one) holds it.
 */
int sdx_dev_open(const char *path, unsigned flags, struct sdx_dev **out);
/* Unmap, unlock and forget @dev and its aliases; NULL is ignored. */
void sdx_dev_close(struct sdx_dev *dev);

/* Name of the kind and of the flush instruction, for messages and bench. */
const char *sdx_dev_kind_name(enum sdx_dev_kind kind);
const char *sdx_flush_kind_name(enum sdx_flush_kind kind);

/*
 * The persistence primitives of @dev.  @addr may lie in dev->base or in any
 * other mapping of the device registered with sdx_dev_alias().  Context:
 * any thread, no lock held on return; a drain of a simulated device may
 * be the armed crash (it then does not return).
 */
void sdx_dev_flush(struct sdx_dev *dev, const void *addr, size_t len);
void sdx_dev_drain(struct sdx_dev *dev);
void sdx_dev_persist(struct sdx_dev *dev, const void *addr, size_t len);
/* Copy/fill and persist (drained on return); non-temporal stores for the
 * whole lines of ranges of 256 bytes or more. */
void sdx_dev_memcpy_persist(struct sdx_dev *dev, void *dst, const void *src,
			    size_t len);
void sdx_dev_memset_persist(struct sdx_dev *dev, void *dst, int c,
			    size_t len);

/*
 * sdx_dev_alias - tell the device that [va, va+len) maps device offset @off
 * (a DAX mapping), so flushes through it are attributed right; @len 0
 * removes the alias starting at @va.  A new alias replaces the parts of
 * older ones it overlaps (a remap); one reaching beyond the device is
 * ignored.  A sorted-array insert under the registry lock; never calls
 * malloc (async-signal-safe but for that lock: the fault handler calls it).
 */
void sdx_dev_alias(struct sdx_dev *dev, void *va, size_t len, uint64_t off);

/* Force a flush instruction (bench and tests); -ENOTSUP if the CPU lacks it. */
int sdx_dev_set_flush(struct sdx_dev *dev, enum sdx_flush_kind kind);

/* ---- crash simulation ---- */

#define SDX_CRASH_EXIT 86	/* exit status of a simulated crash */

enum sdx_crash_mode {
	SDX_CRASH_STRICT,	/* only flushed-and-drained lines survive */
	SDX_CRASH_EVICT,	/* plus a random subset of other written lines */
	SDX_CRASH_TEAR,		/* plus 8-byte pieces of other written lines */
};

struct sdx_crash_config {
	const char *device_path;	/* which device to simulate */
	const char *media_path;		/* the media image (created/overwritten
					   from the device at open) */
	uint64_t crash_at_drain;	/* 1-based; 0 = never crash */
	enum sdx_crash_mode mode;
	uint64_t seed;
};

/*
 * sdx_crashsim_arm - simulate crashes on the next read-write open of
 * cfg->device_path (the same file: device and inode numbers), which must
 * be an emulated device; resets the drain count; NULL disarms.
 * Also armed from the environment (SDX_CRASH_DEVICE, SDX_CRASH_MEDIA,
 * SDX_CRASH_AT, SDX_CRASH_MODE=strict|evict|tear, SDX_CRASH_SEED) so a
 * harness can drive an unmodified program; that arms every read-write open
 * of the device in the process.  One simulated device at a time.
 * A flush stages the line's content of that moment; the next drain writes
 * the staged lines to the media.  See crashsim.c for the crash rules.
 * Return: 0, or -EINVAL (missing path, unknown mode), -ENOMEM.
 */
int sdx_crashsim_arm(const struct sdx_crash_config *cfg);
/* Drains of the simulated device since arming (for counting crash points;
 * every drain counts, sdx_drain() included, whether it had lines or not). */
uint64_t sdx_crashsim_drains(void);
/* Crash now, as if at a drain (tests); without a simulation on @dev just
 * _exit(SDX_CRASH_EXIT).  Does not return. */
void sdx_crashsim_crash(struct sdx_dev *dev) __attribute__((noreturn));

/* Find the open device that holds @addr (base or alias), or NULL. */
struct sdx_dev *sdx_dev_lookup(const void *addr);

/* ---- within src/pmem only (dev.c, flush.c, crashsim.c) ---- */

/* Grow *@arr (of @elem-byte items) to hold at least @need; 0 or -ENOMEM. */
int sdx_array_reserve(void **arr, size_t *max, size_t need, size_t elem);

/* The best flush instruction of this CPU (CLWB > CLFLUSHOPT > CLFLUSH). */
enum sdx_flush_kind sdx_cpu_best_flush(void);
/* Flush @addr..+len with the CPU's best instruction and fence (no device). */
void sdx_cpu_persist(const void *addr, size_t len);
/*
 * sdx_dev_translate - the device offset that @addr maps (base or alias of
 * @dev); *@span is how many bytes from @addr on stay contiguous on the
 * device.  Return: true when @addr belongs to @dev.
 */
bool sdx_dev_translate(struct sdx_dev *dev, const void *addr, uint64_t *off,
		       uint64_t *span);
/* Attach the armed simulation to a freshly mapped @dev (or do nothing). */
int sdx_crashsim_attach(struct sdx_dev *dev);
void sdx_crashsim_detach(struct sdx_dev *dev);
/* Flush/drain hooks of a simulated device. */
void sdx_crashsim_record(struct sdx_dev *dev, const void *addr, size_t len);
void sdx_crashsim_drain(struct sdx_dev *dev);
/* sdx_drain() with no device: drain the simulated device, if one is open. */
void sdx_crashsim_drain_active(void);

#endif /* SDX_PMEM_H */
