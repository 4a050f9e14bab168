/*
 * testutil.h - what every syncdax test program shares: scratch devices in
 * /dev/shm, running e2fsprogs and capturing what it prints.
 *
 * Include after <setjmp.h>, <stdarg.h>, <stddef.h> and <cmocka.h>.
 */
#ifndef SDX_TESTUTIL_H
#define SDX_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>

struct sdx_fs;

/* A scratch path /dev/shm/sdxtest-<pid>-<name>; static storage, 8 slots. */
const char *tu_path(const char *name);
/* Format @path (created/resized to @size bytes) with sdx_mkfs; asserts. */
void tu_mkfs(const char *path, uint64_t size);
/* Run a shell command (printf-style); return its exit status. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Run a shell command and return what it printed (malloc'd, NUL-ended). */
char *tu_capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* sdx_mount(@path, @flags), failing the test with the detail if it fails. */
struct sdx_fs *tu_mount(const char *path, unsigned flags);
/* Does `e2fsck -fn` call the image clean?  Prints its report if not. */
bool tu_fsck_clean(const char *path);

#endif /* SDX_TESTUTIL_H */
