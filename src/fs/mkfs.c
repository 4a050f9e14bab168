/*
 * mkfs.c - format a device with mkfs.ext4 and the syncdax feature set.
 *
 * The ext4 layout is made by e2fsprogs, the reference implementation, so a
 * fresh image is what e2fsck expects by construction.  Lazy inode-table and
 * journal initialisation are off: every block syncdax reads is initialised.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "fs/mkfs.h"

extern char **environ;

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

int sdx_mkfs(const char *path, uint64_t size)
{
	char *argv[] = { "mkfs.ext4", "-q", "-F", "-b", "4096", "-I", "256",
			 "-O", SDX_MKFS_FEATURES, "-E",
			 "lazy_itable_init=0,lazy_journal_init=0",
			 (char *)path, NULL };
	posix_spawn_file_actions_t fa;
	int err, status;
	pid_t pid;

	err = size_device(path, size);
	if (err)
		return err;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
					 O_WRONLY, 0);
	err = posix_spawnp(&pid, "mkfs.ext4", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		return sdx_err(-err, "cannot run mkfs.ext4 (e2fsprogs): %s",
			       strerror(err));
	if (waitpid(pid, &status, 0) < 0)
		return sdx_err(-errno, "mkfs.ext4: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return sdx_err(-EIO, "%s: mkfs.ext4 failed (status %d)", path,
			       status);
	return 0;
}
