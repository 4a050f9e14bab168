/*
 * err.h - the error detail every layer records and the public API reports.
 *
 * Inside the library a function returns 0 or -errno and, where the errno
 * alone would not tell a user what is wrong, records a sentence first:
 *
 *	return sdx_err(-EUCLEAN, "inode %u: extent header magic 0x%04x, "
 *		       "expected 0xf30a", ino, magic);
 *
 * The sentence is per thread; sdx_strerror_detail() returns it.  The public
 * API converts with sdx_errno_ret()/sdx_errno_ptr().  Nothing here prints.
 */
#ifndef SDX_ERR_H
#define SDX_ERR_H

#include <stddef.h>

/* Record a sentence for sdx_strerror_detail() and return @err (negative). */
int sdx_err(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Forget the sentence (called on entry to every public call). */
void sdx_err_clear(void);
/* Public API tails: set errno from a negative @r and return -1, else @r. */
long sdx_errno_ret(long r);
/* Public API tails: set errno from @r (<0) and return NULL, else @p. */
void *sdx_errno_ptr(int r, void *p);

#endif /* SDX_ERR_H */
