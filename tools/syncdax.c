/*
 * syncdax.c - the syncdax command: dispatch, DEVICE:/path names, errors.
 *
 * A file inside a device is named DEVICE:/path (like scp and e2tools).
 * Every command mounts the device, does its work and unmounts, so the
 * image is consistent between commands.  Exit status: 0 success, 1 the
 * operation failed (the message names the device and path), 2 bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syncdax.h"
#include "cli.h"

static const struct cli_command commands[] = {
	{ "mkfs", cli_mkfs, "[--size SIZE] DEVICE", "make a syncdax (ext4) file system", false },
	{ "fsck", cli_fsck, "DEVICE", "check the file system with e2fsck -fn", false },
	{ "ls", cli_ls, "[-l] DEVICE:/dir", "list a directory", false },
	{ "cat", cli_cat, "DEVICE:/file", "print a file", false },
	{ "cp", cli_cp, "SRC DST", "copy a file; either side may be DEVICE:/path", false },
	{ "rm", cli_rm, "DEVICE:/path", "remove a file, symlink or empty directory", false },
	{ "mkdir", cli_mkdir, "DEVICE:/dir", "make a directory", false },
	{ "stat", cli_stat, "DEVICE:/path", "show an inode's attributes", false },
	{ "chattr", cli_chattr, "[+-]S DEVICE:/file", "set or clear the synchronous flag (FS_SYNC_FL)", false },
	{ "lsattr", cli_lsattr, "DEVICE:/file", "show the chattr flags", false },
	{ "mount", cli_mount_fuse, "[-f] [-d] [-r] [-o OPTS] DEVICE MOUNTPOINT", "serve the file system to every program (FUSE)", false },
	{ "defrag", cli_defrag, "DEVICE:/file", "move a file's blocks into one contiguous run", false },
	{ "crashtest", cli_crashtest, "[--workload W] [--mode M] ...", "crash workloads at every drain point, check recovery", true },
	{ "demo", cli_demo, "[--hold] DEVICE", "show synchronous page faults at work", false },
	{ "stats", cli_stats, "[-i SECS [-n COUNT]] DEVICE", "fault and journal statistics of the process that has DEVICE mounted", false },
	{ NULL, NULL, NULL, NULL, false },
};

void cli_usage(const char *name)
{
	const struct cli_command *c;

	for (c = commands; c->name; c++)
		if (name == NULL || strcmp(name, c->name) == 0)
			fprintf(stderr, "  syncdax %-9s %-30s %s\n", c->name,
				c->usage, c->help);
}

int cli_fail(const char *what)
{
	fprintf(stderr, "syncdax: %s: %s\n", what, sdx_strerror_detail());
	return 1;
}

int cli_split(const char *arg, char *device, size_t n, const char **path)
{
	const char *sep = strstr(arg, ":/");

	if (sep == NULL || (size_t)(sep - arg) >= n || sep == arg)
		return -1;
	memcpy(device, arg, (size_t)(sep - arg));
	device[sep - arg] = '\0';
	*path = sep + 1;
	return 0;
}

struct sdx_fs *cli_mount(const char *device, unsigned flags)
{
	struct sdx_fs *fs = sdx_mount(device, flags | cli_mount_flags);

	if (fs == NULL)
		cli_fail(device);
	return fs;
}

unsigned cli_mount_flags;

int main(int argc, char **argv)
{
	const struct cli_command *c;

	while (argc > 1 && argv[1][0] == '-') {
		if (strcmp(argv[1], "--version") == 0) {
			printf("syncdax %s\n", SDX_VERSION);
			return 0;
		} else if (strcmp(argv[1], "--emulate") == 0) {
			cli_mount_flags |= SDX_MOUNT_EMULATE;
		} else if (strcmp(argv[1], "--help") == 0 ||
			   strcmp(argv[1], "-h") == 0) {
			printf("usage: syncdax [--emulate] COMMAND ARGS\n");
			cli_usage(NULL);
			return 0;
		} else {
			break;
		}
		argc--, argv++;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: syncdax [--version] [--emulate] "
				"COMMAND ARGS\n");
		cli_usage(NULL);
		return 2;
	}
	for (c = commands; c->name; c++) {
		if (strcmp(argv[1], c->name) != 0)
			continue;
		if (argc > 2 && strcmp(argv[2], "--help") == 0 &&
		    !c->has_own_help) {
			printf("%s\n", c->help);
			cli_usage(c->name);
			return 0;
		}
		return c->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "syncdax: unknown command '%s'\n", argv[1]);
	cli_usage(NULL);
	return 2;
}
