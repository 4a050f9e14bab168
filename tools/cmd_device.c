/*
 * cmd_device.c - syncdax commands on a whole device: mkfs and fsck.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncdax.h"
#include "fs/mkfs.h"
#include "cli.h"

/* "64M", "1G", "4096": bytes; 0 when malformed. */
static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long n = strtoull(s, &end, 10);
	int shift = 0;

	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end != '\0' || end == s || n == 0 || n > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)n << shift;
}

/* mkfs.ext4's stages, as a bar on a terminal. */
static void mkfs_progress(const char *stage, uint64_t done, uint64_t total,
			  void *arg)
{
	(void)arg;
	cli_progress(stage, done, total, "");
}

int cli_mkfs(int argc, char **argv)
{
	uint64_t size = 0;
	const char *device;

	if (argc == 4 && strcmp(argv[1], "--size") == 0) {
		size = parse_size(argv[2]);
		if (size == 0) {
			fprintf(stderr, "syncdax: bad size '%s'\n", argv[2]);
			return 2;
		}
		device = argv[3];
	} else if (argc == 2) {
		device = argv[1];
	} else {
		cli_usage("mkfs");
		return 2;
	}
	if (sdx_mkfs(device, size, mkfs_progress, NULL) < 0)
		return cli_fail(device);
	printf("%s: syncdax file system made\n", device);
	return 0;
}

int cli_fsck(int argc, char **argv)
{
	int status;
	pid_t pid;

	if (argc != 2) {
		cli_usage("fsck");
		return 2;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execlp("e2fsck", "e2fsck", "-fn", argv[1], (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		printf("%s: e2fsck -fn found problems (status %d)\n", argv[1],
		       pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return 1;
	}
	printf("%s: clean\n", argv[1]);
	return 0;
}
