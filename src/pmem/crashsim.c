/*
 * crashsim.c - simulated crashes of an emulated device's persistence
 * domain, for tests.
 *
 * The simulated device keeps a second image, the media (a file the harness
 * names).  Stores land in the device mapping, the cache view; the media
 * holds what a power failure would leave.  A 64-byte line moves like this:
 *
 *   CLEAN --store--> WRITTEN --sdx_dev_flush--> STAGED --drain--> CLEAN
 *                                                (media = content staged)
 *
 *   STAGED: the flush copied the line's content of that moment; a store
 *           after the flush is not part of it (a later flush restages).
 *   crash:  the media as it is.  STRICT: nothing else survives.  EVICT:
 *           each line whose cache view differs from the media survives
 *           whole with probability 1/2 (the cache evicted it).  TEAR: each
 *           8-byte word of such a line survives with probability 1/2.
 *           Then the media is msync'ed and the process _exit()s with
 *           SDX_CRASH_EXIT.
 *
 * The crash comes at the armed drain (counting from 1 since arming, all
 * threads together), before that drain's lines reach the media.  The coin
 * flips come from a PRNG seeded with the configured seed, one draw per
 * differing line in device order, so a crash is reproducible.
 *
 * Arming: sdx_crashsim_arm() arms the next read-write open of a device
 * (the same file, by device and inode numbers); the environment
 * (SDX_CRASH_DEVICE ...) arms every read-write open of it in this process,
 * each open making the media anew from the device's content (without a
 * crash, everything stored before an open had become durable).
 *
 * Invariants:
 *   (1) At most one simulated device is open (`active`); sim_lock guards
 *       it, the armed configuration and every staging list.
 *   (2) Lock order: sim_lock, then dev.c's registry lock (translation).
 *   (3) Only lines that differ from the media are ever changed at a crash;
 *       drained lines are in the media before any later drain returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "pmem/pmem.h"

struct staged_line {
	uint64_t line;			/* device offset / 64 */
	uint8_t data[SDX_CACHELINE];
};

struct sdx_crashsim {
	struct sdx_dev *dev;
	int media_fd;
	uint8_t *media;
	uint64_t crash_at;
	enum sdx_crash_mode mode;
	uint64_t seed;
	struct staged_line *staged;	/* flushed, not yet drained */
	size_t nr_staged, max_staged;
};

static pthread_mutex_t sim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sdx_crashsim *active;
static struct sdx_crash_config armed;	/* owns its strings */
static bool is_armed;
static _Atomic uint64_t drains;

static void disarm_locked(void)
{
	free((char *)armed.device_path);
	free((char *)armed.media_path);
	memset(&armed, 0, sizeof(armed));
	is_armed = false;
}

int sdx_crashsim_arm(const struct sdx_crash_config *cfg)
{
	char *device, *media;

	if (cfg && (!cfg->device_path || !cfg->media_path))
		return sdx_err(-EINVAL, "crash simulation needs both a device "
			       "and a media path");
	if (cfg && (unsigned)cfg->mode > SDX_CRASH_TEAR)
		return sdx_err(-EINVAL, "unknown crash mode %d",
			       (int)cfg->mode);
	pthread_mutex_lock(&sim_lock);
	disarm_locked();
	atomic_store(&drains, 0);
	if (cfg) {
		device = strdup(cfg->device_path);
		media = strdup(cfg->media_path);
		if (!device || !media) {
			free(device);
			free(media);
			pthread_mutex_unlock(&sim_lock);
			return sdx_err(-ENOMEM, "crash simulation: out of "
				       "memory");
		}
		armed = *cfg;
		armed.device_path = device;
		armed.media_path = media;
		is_armed = true;
	}
	pthread_mutex_unlock(&sim_lock);
	return 0;
}

uint64_t sdx_crashsim_drains(void)
{
	return atomic_load(&drains);
}

/* Does @path name the file open as @dev? */
static bool is_same_file(const char *path, const struct sdx_dev *dev)
{
	struct stat a, b;

	return stat(path, &a) == 0 && fstat(dev->fd, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int parse_u64(const char *name, uint64_t *val)
{
	const char *s = getenv(name);
	char *end;

	*val = 0;
	if (!s || !*s)
		return 0;
	errno = 0;
	*val = strtoull(s, &end, 0);
	if (errno || *end || *s == '-')
		return sdx_err(-EINVAL, "%s=%s is not a number", name, s);
	return 0;
}

/*
 * The configuration the environment gives for @dev: 1 and *cfg when
 * SDX_CRASH_DEVICE names it, 0 when it does not, -EINVAL when it does but
 * the other variables are wrong.
 */
static int env_config(const struct sdx_dev *dev, struct sdx_crash_config *cfg)
{
	static const char *const modes[] = { "strict", "evict", "tear" };
	const char *mode = getenv("SDX_CRASH_MODE");
	unsigned i;
	int err;

	cfg->device_path = getenv("SDX_CRASH_DEVICE");
	if (!cfg->device_path || !is_same_file(cfg->device_path, dev))
		return 0;
	cfg->media_path = getenv("SDX_CRASH_MEDIA");
	if (!cfg->media_path || !*cfg->media_path)
		return sdx_err(-EINVAL, "SDX_CRASH_DEVICE=%s is set but "
			       "SDX_CRASH_MEDIA is not", cfg->device_path);
	err = parse_u64("SDX_CRASH_AT", &cfg->crash_at_drain);
	err = err ? err : parse_u64("SDX_CRASH_SEED", &cfg->seed);
	if (err)
		return err;
	cfg->mode = SDX_CRASH_STRICT;
	if (!mode || !*mode)
		return 1;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(mode, modes[i]) == 0) {
			cfg->mode = (enum sdx_crash_mode)i;
			return 1;
		}
	return sdx_err(-EINVAL, "SDX_CRASH_MODE=%s: expected strict, evict "
		       "or tear", mode);
}

/* Make the media from the device's content and map it. */
static int media_create(struct sdx_crashsim *cs, const char *path)
{
	struct sdx_dev *dev = cs->dev;
	void *p;
	int err;

	if (is_same_file(path, dev))
		return sdx_err(-EINVAL, "%s: the crash media cannot be the "
			       "device itself", path);
	cs->media_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			    0644);
	if (cs->media_fd < 0)
		return sdx_err(-errno, "%s: cannot create the crash media: %s",
			       path, strerror(errno));
	if (ftruncate(cs->media_fd, (off_t)dev->size) < 0)
		goto out_errno;
	p = mmap(NULL, dev->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 cs->media_fd, 0);
	if (p == MAP_FAILED)
		goto out_errno;
	cs->media = p;
	memcpy(cs->media, dev->base, dev->size);
	return 0;

out_errno:
	err = -errno;
	close(cs->media_fd);
	return sdx_err(err, "%s: cannot size or map the crash media: %s",
		       path, strerror(-err));
}

int sdx_crashsim_attach(struct sdx_dev *dev)
{
	struct sdx_crash_config env, *cfg = NULL;
	struct sdx_crashsim *cs;
	int err = 0;

	if (dev->is_rdonly)
		return 0;	/* a read-only user never persists anything */
	pthread_mutex_lock(&sim_lock);
	if (is_armed && is_same_file(armed.device_path, dev)) {
		cfg = &armed;
	} else {
		err = env_config(dev, &env);
		if (err <= 0)
			goto out_unlock;
		err = 0;
		cfg = &env;
	}
	if (dev->kind != SDX_DEV_EMULATED) {
		err = sdx_err(-EINVAL, "%s: crash simulation needs an emulated "
			      "device, this one is %s", dev->path,
			      sdx_dev_kind_name(dev->kind));
		goto out_unlock;
	}
	if (active) {
		err = sdx_err(-EBUSY, "%s: crash simulation already runs on %s",
			      dev->path, active->dev->path);
		goto out_unlock;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs) {
		err = sdx_err(-ENOMEM, "%s: out of memory", dev->path);
		goto out_unlock;
	}
	cs->dev = dev;
	cs->crash_at = cfg->crash_at_drain;
	cs->mode = cfg->mode;
	cs->seed = cfg->seed;
	err = media_create(cs, cfg->media_path);
	if (err) {
		free(cs);
		goto out_unlock;
	}
	if (cfg == &armed)
		disarm_locked();
	dev->crash = cs;
	active = cs;
out_unlock:
	pthread_mutex_unlock(&sim_lock);
	return err;
}

void sdx_crashsim_detach(struct sdx_dev *dev)
{
	struct sdx_crashsim *cs = dev->crash;

	if (!cs)
		return;
	pthread_mutex_lock(&sim_lock);
	if (active == cs)
		active = NULL;
	dev->crash = NULL;
	pthread_mutex_unlock(&sim_lock);
	munmap(cs->media, cs->dev->size);
	close(cs->media_fd);
	free(cs->staged);
	free(cs);
}

/* Stage line @line's current content (sim_lock held). */
static void stage_locked(struct sdx_crashsim *cs, uint64_t line)
{
	const uint8_t *src = cs->dev->base + line * SDX_CACHELINE;
	struct staged_line *s;

	if (sdx_array_reserve((void **)&cs->staged, &cs->max_staged,
			      cs->nr_staged + 1, sizeof(*cs->staged))) {
		/* A flushed line may reach the media at any moment. */
		memcpy(cs->media + line * SDX_CACHELINE, src, SDX_CACHELINE);
		return;
	}
	s = &cs->staged[cs->nr_staged++];
	s->line = line;
	memcpy(s->data, src, SDX_CACHELINE);
}

void sdx_crashsim_record(struct sdx_dev *dev, const void *addr, size_t len)
{
	uintptr_t p = (uintptr_t)addr & ~(uintptr_t)(SDX_CACHELINE - 1);
	uintptr_t end = (uintptr_t)addr + len, win = 0, win_end = 0;
	uint64_t win_off = 0, span;

	if (len == 0)
		return;
	pthread_mutex_lock(&sim_lock);
	for (; p < end && dev->crash; p += SDX_CACHELINE) {
		if (p < win || p >= win_end) {
			if (!sdx_dev_translate(dev, (const void *)p, &win_off,
					       &span)) {
				win = win_end = 0;
				continue;	/* not this device's */
			}
			win = p;
			win_end = p + span;
		}
		stage_locked(dev->crash,
			     (win_off + (p - win)) / SDX_CACHELINE);
	}
	pthread_mutex_unlock(&sim_lock);
}

/* splitmix64: a small PRNG whose whole state is the seed. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* What survives a crash now (sim_lock held); does not return. */
__attribute__((noreturn))
static void crash_locked(struct sdx_crashsim *cs)
{
	uint64_t state = cs->seed, nr_lines = cs->dev->size / SDX_CACHELINE;
	uint64_t line, coins;
	unsigned w;

	for (line = 0; line < nr_lines && cs->mode != SDX_CRASH_STRICT;
	     line++) {
		const uint8_t *cache = cs->dev->base + line * SDX_CACHELINE;
		uint8_t *media = cs->media + line * SDX_CACHELINE;

		if (memcmp(cache, media, SDX_CACHELINE) == 0)
			continue;
		coins = next_random(&state);
		if (cs->mode == SDX_CRASH_EVICT) {
			if (coins & 1)
				memcpy(media, cache, SDX_CACHELINE);
			continue;
		}
		for (w = 0; w < SDX_CACHELINE / 8; w++)
			if (coins >> w & 1)
				memcpy(media + 8 * w, cache + 8 * w, 8);
	}
	msync(cs->media, cs->dev->size, MS_SYNC);
	_exit(SDX_CRASH_EXIT);
}

static void drain_locked(struct sdx_crashsim *cs)
{
	uint64_t n = atomic_fetch_add(&drains, 1) + 1;
	size_t i;

	if (n == cs->crash_at)
		crash_locked(cs);
	for (i = 0; i < cs->nr_staged; i++)
		memcpy(cs->media + cs->staged[i].line * SDX_CACHELINE,
		       cs->staged[i].data, SDX_CACHELINE);
	cs->nr_staged = 0;
}

void sdx_crashsim_drain(struct sdx_dev *dev)
{
	pthread_mutex_lock(&sim_lock);
	if (dev->crash)
		drain_locked(dev->crash);
	pthread_mutex_unlock(&sim_lock);
}

void sdx_crashsim_drain_active(void)
{
	pthread_mutex_lock(&sim_lock);
	if (active)
		drain_locked(active);
	pthread_mutex_unlock(&sim_lock);
}

void sdx_crashsim_crash(struct sdx_dev *dev)
{
	pthread_mutex_lock(&sim_lock);
	if (dev && dev->crash)
		crash_locked(dev->crash);
	_exit(SDX_CRASH_EXIT);
}
