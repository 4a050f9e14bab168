/*
 * mkfs.c - format a device with mkfs.ext4 and the syncdax feature set.
 *
 * The ext4 layout is made by e2fsprogs, the reference implementation, so a
 * fresh image is what e2fsck expects by construction.  Lazy inode-table and
 * journal initialisation are off: every block syncdax reads is initialised.
 *
 * mkfs.ext4 reports its progress on standard output, which we read through
 * a pipe (its standard error too, for the sentence of a failure):
 *
 *   Writing inode tables:   0/512\b\b\b\b\b\b\b       \b\b\b\b\b\b\bdone
 *   ^ stage, up to ": "     ^ "done/total", erased by backspaces; at most
 *                             one a second, so a short stage shows only 0/M
 *
 * Each "N/M" becomes progress(stage, N, M) and the "done" that ends a stage
 * which had one becomes progress(stage, M, M).  Of the other lines, the
 * first "mkfs.ext4: ..." (com_err's message), else the last one, is the
 * detail of a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "fs/mkfs.h"

extern char **environ;

#define LINE_MAX_LEN 256

/* What has been read of mkfs.ext4's output so far. */
struct mkfs_reader {
	char line[LINE_MAX_LEN];	/* the current line, backspaces and
					   progress figures removed */
	size_t len;
	char why[LINE_MAX_LEN];		/* the detail of a failure */
	char stage[LINE_MAX_LEN];	/* the stage with a figure, or "" */
	uint64_t total;			/* its M */
	sdx_mkfs_progress_fn *progress;
	void *arg;
};

static int size_device(const char *path, uint64_t size)
{
	struct stat st;
	int fd, err = 0;

	if (size % 4096 != 0 || (size > 0 && size < (1u << 20)))
		return sdx_err(-EINVAL, "%s: size %llu is not a multiple of "
			       "4 KiB of at least 1 MiB", path,
			       (unsigned long long)size);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return sdx_err(-errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		err = sdx_err(-errno, "%s: %s", path, strerror(errno));
	else if (size > 0 && S_ISREG(st.st_mode) &&
		 (uint64_t)st.st_size != size && ftruncate(fd, (off_t)size) < 0)
		err = sdx_err(-errno, "%s: cannot size to %llu bytes: %s", path,
			      (unsigned long long)size, strerror(errno));
	else if (size == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
		err = sdx_err(-EINVAL, "%s: empty device; give --size", path);
	close(fd);
	return err;
}

/* Drop the blanks (and with @colon the colons) that end the line. */
static void trim(struct mkfs_reader *r, bool colon)
{
	while (r->len > 0 && (r->line[r->len - 1] == ' ' ||
			      (colon && r->line[r->len - 1] == ':')))
		r->len--;
	r->line[r->len] = '\0';
}

/* The line so far ("Writing inode tables:") names the stage. */
static void report(struct mkfs_reader *r, uint64_t done, uint64_t total)
{
	trim(r, true);
	memcpy(r->stage, r->line, r->len + 1);
	r->total = total;
	if (r->progress)
		r->progress(r->stage, done, total, r->arg);
}

/* Take "N/M" at the end of the line as a figure; false if it is not one. */
static bool take_figure(struct mkfs_reader *r)
{
	unsigned long long done, total;
	size_t i = r->len;

	while (i > 0 && (r->line[i - 1] == '/' ||
			 (r->line[i - 1] >= '0' && r->line[i - 1] <= '9')))
		i--;
	r->line[r->len] = '\0';
	if (sscanf(r->line + i, "%llu/%llu", &done, &total) != 2 ||
	    done > total || total == 0)
		return false;
	r->len = i;
	report(r, done, total);
	return true;
}

static void end_line(struct mkfs_reader *r)
{
	trim(r, false);
	if (r->stage[0] && r->len >= 4 &&
	    strcmp(r->line + r->len - 4, "done") == 0) {
		r->len -= 4;
		report(r, r->total, r->total);
	} else if (r->len > 0 && strncmp(r->why, "mkfs.ext4: ", 11) != 0) {
		memcpy(r->why, r->line, r->len + 1);
	}
	r->stage[0] = '\0';
	r->len = 0;
}

/*
 * Feed one byte of mkfs.ext4's output.  A backspace after a figure erases
 * it (it was taken when the first backspace came); the blanks that
 * overwrite it and the backspaces after them are dropped likewise.
 */
static void feed(struct mkfs_reader *r, char c)
{
	if (c == '\n') {
		end_line(r);
	} else if (c == '\b') {
		if (!take_figure(r))
			trim(r, false);
	} else if (r->len < LINE_MAX_LEN - 1) {
		r->line[r->len++] = c;
	}
}

static int wait_mkfs(pid_t pid, int out, const char *path,
		     struct mkfs_reader *r)
{
	char buf[512];
	ssize_t n;
	int status;

	while ((n = read(out, buf, sizeof(buf))) > 0 ||
	       (n < 0 && errno == EINTR))
		for (ssize_t i = 0; i < n; i++)
			feed(r, buf[i]);
	end_line(r);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return sdx_err(-errno, "mkfs.ext4: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return sdx_err(-EIO, "%s: mkfs.ext4 failed (status %d): %s",
			       path, status, r->why);
	return 0;
}

int sdx_mkfs(const char *path, uint64_t size, sdx_mkfs_progress_fn *progress,
	     void *arg)
{
	char *argv[] = { "mkfs.ext4", "-F", "-b", "4096", "-I", "256",
			 "-O", SDX_MKFS_FEATURES, "-E",
			 "lazy_itable_init=0,lazy_journal_init=0",
			 (char *)path, NULL };
	struct mkfs_reader *r;
	posix_spawn_file_actions_t fa;
	int err, pipefd[2];
	pid_t pid;

	err = size_device(path, size);
	if (err)
		return err;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->progress = progress;
	r->arg = arg;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		err = sdx_err(-errno, "mkfs.ext4: pipe: %s", strerror(errno));
		goto out_free;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
	err = posix_spawnp(&pid, "mkfs.ext4", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (err)
		err = sdx_err(-err, "cannot run mkfs.ext4 (e2fsprogs): %s",
			      strerror(err));
	else
		err = wait_mkfs(pid, pipefd[0], path, r);
	close(pipefd[0]);
out_free:
	free(r);
	return err;
}
