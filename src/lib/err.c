/*
 * err.c - the per-thread error sentence behind sdx_strerror_detail().
 *
 * Invariant: the sentence belongs to the last failing call of this thread;
 * a public call clears it on entry, so a stale sentence never describes a
 * later error.  When no sentence was recorded, strerror(errno) stands in.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "syncdax.h"
#include "err.h"

static _Thread_local char detail[512];

int sdx_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return err;
}

void sdx_err_clear(void)
{
	detail[0] = '\0';
}

long sdx_errno_ret(long r)
{
	if (r >= 0)
		return r;
	errno = (int)-r;
	return -1;
}

void *sdx_errno_ptr(int r, void *p)
{
	if (r >= 0)
		return p;
	errno = -r;
	return NULL;
}

const char *sdx_strerror_detail(void)
{
	if (detail[0] == '\0')
		snprintf(detail, sizeof(detail), "%s", strerror(errno));
	return detail;
}
