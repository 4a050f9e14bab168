/*
 * testutil.c - scratch devices and e2fsprogs helpers for the tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncdax.h"
#include "fs/mkfs.h"
#include "testutil.h"

const char *tu_path(const char *name)
{
	static char slots[8][256];
	static unsigned next;
	char *p = slots[next++ % 8];

	snprintf(p, sizeof(slots[0]), "/dev/shm/sdxtest-%d-%s", (int)getpid(),
		 name);
	return p;
}

void tu_mkfs(const char *path, uint64_t size)
{
	unlink(path);
	assert_int_equal(sdx_mkfs(path, size, NULL, NULL), 0);
}

static char *vformat(const char *fmt, va_list ap)
{
	char *cmd = NULL;

	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	return cmd;
}

int tu_sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int status;

	va_start(ap, fmt);
	cmd = vformat(fmt, ap);
	va_end(ap);
	status = system(cmd);
	free(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

char *tu_capture(const char *fmt, ...)
{
	va_list ap;
	char *cmd, *out = NULL;
	size_t len = 0;
	FILE *p, *mem;
	int c;

	va_start(ap, fmt);
	cmd = vformat(fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	mem = open_memstream(&out, &len);
	while ((c = fgetc(p)) != EOF)
		fputc(c, mem);
	fclose(mem);
	pclose(p);
	free(cmd);
	return out;
}

struct sdx_fs *tu_mount(const char *path, unsigned flags)
{
	struct sdx_fs *fs = sdx_mount(path, flags);

	if (!fs)
		fail_msg("mount %s: %s", path, sdx_strerror_detail());
	return fs;
}

bool tu_fsck_clean(const char *path)
{
	char *out = tu_capture("e2fsck -fn '%s' 2>&1; echo status=$?", path);
	bool clean = strstr(out, "status=0") != NULL;

	if (!clean)
		printf("# e2fsck -fn %s:\n%s", path, out);
	free(out);
	return clean;
}
