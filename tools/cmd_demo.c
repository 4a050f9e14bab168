/*
 * cmd_demo.c - syncdax demo DEVICE: synchronous page faults, shown.
 *
 * Three acts on a formatted device:
 *   1. 512 first-write faults into an empty 2 MiB file through a MAP_SYNC
 *      mapping and through a plain MAP_SHARED one: what each costs.
 *   2. A child appends records through a MAP_SYNC mapping, makes each
 *      durable with sdx_persist() alone (no system call) and acknowledges
 *      it over a pipe; the parent kills it with SIGKILL mid-stream, mounts
 *      again (journal replay) and counts the acknowledged records found.
 *   3. The image is left for e2fsck and debugfs (tools/demo.sh shows them).
 *
 * With --hold, a last act mounts the device again, maps the demo's files
 * (reading every page) and a new one, /hold.dat (MAP_SYNC, written page by
 * page), and keeps them so until a line or end of file on standard input,
 * SIGINT or SIGTERM; then unmaps and unmounts cleanly.  Meanwhile
 * `syncdax stats DEVICE` in another terminal shows the mount's figures.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "syncdax.h"
#include "dax/dax.h"
#include "cli.h"

#define PAGES 512u
#define PAGE 4096u
#define RECORD 64u
#define KILL_AFTER 20000u

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/*
 * Act 1: fault every page of a fresh 2 MiB file once, with fault-around of
 * @around pages and sync-ahead of @ahead bytes; print the figures.
 */
static int fault_figures(struct sdx_fs *fs, const char *path, int flags,
			 unsigned around, uint64_t ahead, const char *label)
{
	struct sdx_dax_config cfg;
	struct sdx_dax_stats st;
	double min = 1e30, max = 0, sum = 0;
	volatile uint8_t *map;
	unsigned i;
	int fd;

	sdx_dax_get_config(&cfg);
	cfg.fault_around = around;
	cfg.syncahead = ahead;
	if (sdx_dax_set_config(&cfg) < 0)
		return cli_fail("fault configuration");
	sdx_dax_reset_stats();

	fd = sdx_open(fs, path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || sdx_ftruncate(fs, fd, PAGES * PAGE) < 0)
		return cli_fail(path);
	map = sdx_mmap(fs, NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, flags,
		       fd, 0);
	if (map == NULL)
		return cli_fail(path);
	for (i = 0; i < PAGES; i++) {
		double t0 = now_us(), dt;

		map[i * PAGE] = (uint8_t)i;
		dt = now_us() - t0;
		sum += dt;
		min = dt < min ? dt : min;
		max = dt > max ? dt : max;
	}
	sdx_dax_get_stats(&st);
	sdx_munmap((void *)map, PAGES * PAGE);
	sdx_close(fs, fd);
	printf("  %-44s min %6.2f  avg %6.2f  max %8.2f us  %3llu faults"
	       "  %3llu commits\n", label, min, sum / PAGES, max,
	       (unsigned long long)(st.faults_write + st.faults_mkwrite),
	       (unsigned long long)st.commits);
	return 0;
}

/* A record: its sequence number, repeated to fill 64 bytes. */
static void make_record(uint64_t seq, uint64_t rec[RECORD / 8])
{
	for (unsigned i = 0; i < RECORD / 8; i++)
		rec[i] = seq * 0x9e3779b97f4a7c15ull + i;
}

static void child_writer(const char *device, int ack)
{
	uint64_t seq, rec[RECORD / 8];
	struct sdx_fs *fs = cli_mount(device, 0);
	int fd = fs ? sdx_open(fs, "/records", O_RDWR, 0) : -1;
	uint8_t *map = fd < 0 ? NULL :
		sdx_mmap(fs, NULL, PAGES * PAGE, PROT_READ | PROT_WRITE,
			 MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);

	if (map == NULL)
		_exit(cli_fail("/records"));
	for (seq = 1; seq <= PAGES * PAGE / RECORD; seq++) {
		make_record(seq, rec);
		memcpy(map + (seq - 1) * RECORD, rec, RECORD);
		sdx_persist(map + (seq - 1) * RECORD, RECORD);
		if (write(ack, &seq, sizeof(seq)) != sizeof(seq))
			_exit(1);
	}
	pause();
	_exit(0);
}

/* Act 2: count acknowledged records that survive SIGKILL and remount. */
static int kill_and_count(const char *device)
{
	uint64_t seq, acked = 0, found = 0, rec[RECORD / 8], got[RECORD / 8];
	struct sdx_fs *fs;
	int pipefd[2], fd, status = 0;
	pid_t pid;

	if (pipe(pipefd) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		child_writer(device, pipefd[1]);
	}
	close(pipefd[1]);
	while (acked < KILL_AFTER && read(pipefd[0], &seq, sizeof(seq)) ==
	       sizeof(seq))
		acked = seq;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(pipefd[0]);

	fs = cli_mount(device, 0);
	if (fs == NULL)
		return 1;
	fd = sdx_open(fs, "/records", O_RDONLY, 0);
	for (seq = 1; fd >= 0 && seq <= acked; seq++) {
		make_record(seq, rec);
		if (sdx_pread(fs, fd, got, RECORD, (off_t)((seq - 1) * RECORD)) ==
		    RECORD && memcmp(rec, got, RECORD) == 0)
			found++;
	}
	printf("  child acknowledged %llu records, killed with SIGKILL;\n"
	       "  after remount (journal replay): %llu of %llu present%s\n",
	       (unsigned long long)acked, (unsigned long long)found,
	       (unsigned long long)acked, found == acked ? "" : "  LOST!");
	if (fd < 0 || found != acked)
		status = 1;
	if (fd >= 0)
		sdx_close(fs, fd);
	if (sdx_unmount(fs) < 0)
		status = cli_fail(device);
	return status;
}

/* ---- --hold ---- */

static const char *const held_files[] = {
	"/plain.dat", "/sync.dat", "/ahead.dat", "/records", "/hold.dat",
};
#define HELD (sizeof(held_files) / sizeof(held_files[0]))

static volatile sig_atomic_t hold_ended;

static void end_hold(int sig)
{
	(void)sig;
	hold_ended = 1;
}

/* Until a line or end of file on standard input, SIGINT or SIGTERM. */
static void wait_for_end(void)
{
	struct sigaction sa;
	char c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = end_hold;	/* no SA_RESTART: read returns */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!hold_ended && read(STDIN_FILENO, &c, 1) == 1 && c != '\n')
		;
}

/* Map @path whole: read every page, or with MAP_SYNC write every page. */
static void *map_file(struct sdx_fs *fs, int fd, const char *path,
		      bool is_write, size_t *len)
{
	volatile uint8_t *map;
	struct stat st;
	uint8_t sum = 0;

	if (sdx_fstat(fs, fd, &st) < 0 || st.st_size == 0)
		return NULL;
	*len = (size_t)st.st_size;
	map = sdx_mmap(fs, NULL, *len, PROT_READ | (is_write ? PROT_WRITE : 0),
		       is_write ? MAP_SHARED_VALIDATE | MAP_SYNC : MAP_SHARED,
		       fd, 0);
	if (map == MAP_FAILED) {
		cli_fail(path);
		return NULL;
	}
	for (size_t off = 0; off < *len; off += PAGE) {
		if (is_write)
			map[off] = (uint8_t)(off / PAGE);
		else
			sum += map[off];
	}
	(void)sum;
	return (void *)map;
}

/* Act 4 (--hold): keep the device mounted and its files mapped. */
static int hold(const char *device)
{
	void *maps[HELD] = { NULL };
	size_t lens[HELD] = { 0 };
	int fds[HELD], status = 0;
	struct sdx_fs *fs = cli_mount(device, 0);

	if (fs == NULL)
		return 1;
	for (size_t i = 0; i < HELD; i++) {
		bool is_new = i == HELD - 1;

		fds[i] = sdx_open(fs, held_files[i], is_new ?
				  O_RDWR | O_CREAT | O_TRUNC : O_RDONLY, 0644);
		if (fds[i] < 0 || (is_new &&
				   sdx_ftruncate(fs, fds[i], PAGES * PAGE) < 0))
			status = cli_fail(held_files[i]);
		else
			maps[i] = map_file(fs, fds[i], held_files[i], is_new,
					   &lens[i]);
		if (!maps[i])
			status = 1;
	}
	if (status == 0) {
		printf("\nMapped the demo's files (read) and /hold.dat (MAP_SYNC,"
		       " written).\nholding %s: run `syncdax stats %s` in "
		       "another terminal; press Enter to end\n", device,
		       device);
		fflush(stdout);
		wait_for_end();
	}
	for (size_t i = 0; i < HELD; i++) {
		if (maps[i])
			sdx_munmap(maps[i], lens[i]);
		if (fds[i] >= 0)
			sdx_close(fs, fds[i]);
	}
	if (sdx_unmount(fs) < 0)
		return cli_fail(device);
	if (status == 0)
		printf("unmounted %s\n", device);
	return status;
}

int cli_demo(int argc, char **argv)
{
	bool is_hold = argc == 3 && strcmp(argv[1], "--hold") == 0;
	struct sdx_fs *fs;
	int status, fd;

	if (argc != 2 && !is_hold) {
		cli_usage("demo");
		return 2;
	}
	if (is_hold)
		argv++;
	fs = cli_mount(argv[1], 0);
	if (fs == NULL)
		return 1;
	printf("First write to each of the %u pages of an empty 2 MiB file "
	       "(Linux ext4-DAX\nmeasured ~100 us with MAP_SYNC, ~23 us without, "
	       "in 2017):\n", PAGES);
	status = fault_figures(fs, "/plain.dat", MAP_SHARED, 1, 0,
			       "MAP_SHARED, page by page") ||
		 fault_figures(fs, "/sync.dat", MAP_SHARED_VALIDATE | MAP_SYNC,
			       1, 0, "MAP_SYNC, page by page (commit each)") ||
		 fault_figures(fs, "/ahead.dat", MAP_SHARED_VALIDATE | MAP_SYNC,
			       16, 2u << 20,
			       "MAP_SYNC, fault-around 16 + sync-ahead 2M");
	fd = sdx_open(fs, "/records", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || sdx_ftruncate(fs, fd, PAGES * PAGE) < 0 ||
	    sdx_close(fs, fd) < 0)
		status = cli_fail("/records");
	if (sdx_unmount(fs) < 0)
		status = cli_fail(argv[1]);
	if (status)
		return status;
	printf("\nDurability through MAP_SYNC + sdx_persist, no system call:\n");
	status = kill_and_count(argv[1]);
	if (status || !is_hold)
		return status;
	return hold(argv[1]);
}
