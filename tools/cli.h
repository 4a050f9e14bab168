/*
 * cli.h - what the syncdax command's files share.
 */
#ifndef SDX_CLI_H
#define SDX_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sdx_fs;

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);	/* argv[0] is the command */
	const char *usage;
	const char *help;
	bool has_own_help;	/* the command answers --help itself */
};

/* Mount flags every command adds (--emulate). */
extern unsigned cli_mount_flags;

/* Print the usage of one command (NULL: all) to stderr. */
void cli_usage(const char *name);
/* Print "syncdax: WHAT: detail" and return 1 (the exit status). */
int cli_fail(const char *what);
/* Split "DEVICE:/path"; -1 when @arg names no file inside a device. */
int cli_split(const char *arg, char *device, size_t n, const char **path);
/*
 * Draw "LABEL  42% [#####   ] DONE/TOTAL UNIT" on a terminal's standard
 * error (nothing otherwise); done == total ends the line.
 */
void cli_progress(const char *label, uint64_t done, uint64_t total,
		  const char *unit);
/* Mount @device (flags | cli_mount_flags); prints the error on failure. */
struct sdx_fs *cli_mount(const char *device, unsigned flags);

int cli_mkfs(int argc, char **argv);
int cli_fsck(int argc, char **argv);
int cli_ls(int argc, char **argv);
int cli_cat(int argc, char **argv);
int cli_cp(int argc, char **argv);
int cli_rm(int argc, char **argv);
int cli_mkdir(int argc, char **argv);
int cli_stat(int argc, char **argv);
int cli_chattr(int argc, char **argv);
int cli_lsattr(int argc, char **argv);
int cli_defrag(int argc, char **argv);
int cli_demo(int argc, char **argv);
int cli_stats(int argc, char **argv);
int cli_crashtest(int argc, char **argv);
int cli_mount_fuse(int argc, char **argv);

#endif /* SDX_CLI_H */
