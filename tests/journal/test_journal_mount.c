/*
 * test_journal_mount.c - the journal through the public API, against
 * e2fsprogs: a transaction debugfs wrote (journal_open/journal_write/
 * journal_close, not replayed) is replayed by sdx_mount; a process killed
 * with SIGKILL after fsync leaves a journal that e2fsck -fy replays with no
 * other correction and that sdx_mount replays to the same files, after
 * which e2fsck -fn is clean.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncdax.h"
#include "testutil.h"

#define IMG_SIZE (64ull << 20)
#define FILE_BYTES (3 * 4096)

static void fill_pattern(char *buf, size_t len, char first)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(first + (char)(i % 23));
}

/* Read all of @path in the mounted @fs into @buf (@len bytes expected). */
static void expect_file(struct sdx_fs *fs, const char *path,
			const char *want, size_t len)
{
	char *got = malloc(len + 1);
	int fd = sdx_open(fs, path, O_RDONLY, 0);

	assert_non_null(got);
	if (fd < 0)
		fail_msg("open %s: %s", path, sdx_strerror_detail());
	assert_int_equal(sdx_pread(fs, fd, got, len + 1, 0), (ssize_t)len);
	assert_memory_equal(got, want, len);
	assert_int_equal(sdx_close(fs, fd), 0);
	free(got);
}

static void test_debugfs_transaction_is_replayed_by_mount(void **state)
{
	const char *img = tu_path("jm-debugfs.img");
	const char *orig = tu_path("jm-debugfs.orig");
	const char *jdata = tu_path("jm-debugfs.jdata");
	char before[FILE_BYTES], after[4096], *out;
	unsigned long long block;
	struct sdx_fs *fs;
	FILE *f;

	(void)state;
	tu_mkfs(img, IMG_SIZE);
	fill_pattern(before, sizeof(before), 'a');
	fill_pattern(after, sizeof(after), 'A');
	f = fopen(orig, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(before, 1, sizeof(before), f), sizeof(before));
	fclose(f);
	f = fopen(jdata, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(after, 1, sizeof(after), f), sizeof(after));
	fclose(f);
	assert_int_equal(tu_sh("debugfs -w -R 'write %s f' '%s' >/dev/null "
			       "2>&1", orig, img), 0);
	out = tu_capture("debugfs -R 'bmap /f 1' '%s' 2>/dev/null", img);
	block = strtoull(out, NULL, 10);
	free(out);
	assert_true(block > 0);
	/* Block 1 of /f rewritten in a committed, unreplayed transaction. */
	assert_int_equal(tu_sh("printf 'jo -c\\njw -b %llu %s\\njc\\n' | "
			       "debugfs -w -f - '%s' >/dev/null 2>&1", block,
			       jdata, img), 0);
	fs = sdx_mount(img, 0);
	if (!fs)
		fail_msg("mount: %s", sdx_strerror_detail());
	memcpy(before + 4096, after, sizeof(after));
	expect_file(fs, "/f", before, sizeof(before));
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(img));
	unlink(img);
	unlink(orig);
	unlink(jdata);
}

/* In a child: write /d/f and /d/g, fsync, then SIGKILL ourselves. */
static void write_fsync_then_sigkill(const char *img, const char *content)
{
	struct sdx_fs *fs = sdx_mount(img, 0);
	int fd;

	if (!fs || sdx_mkdir(fs, "/d", 0755))
		_exit(1);
	fd = sdx_open(fs, "/d/f", O_CREAT | O_RDWR, 0644);
	if (fd < 0 || sdx_pwrite(fs, fd, content, FILE_BYTES, 0) != FILE_BYTES)
		_exit(2);
	if (sdx_close(fs, sdx_open(fs, "/d/g", O_CREAT | O_RDWR, 0600)) ||
	    sdx_fsync(fs, fd))
		_exit(3);
	kill(getpid(), SIGKILL);
	_exit(4);
}

static void test_sigkill_after_fsync_is_replayed_by_e2fsck_and_mount(
	void **state)
{
	const char *img = tu_path("jm-kill.img");
	const char *copy = tu_path("jm-kill.fsck");
	char content[FILE_BYTES], *out;
	struct sdx_fs *fs;
	struct stat st;
	int status;
	pid_t pid;

	(void)state;
	tu_mkfs(img, IMG_SIZE);
	fill_pattern(content, sizeof(content), 'k');
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		write_fsync_then_sigkill(img, content);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	/* The journal was left with committed, un-checkpointed work. */
	out = tu_capture("dumpe2fs -h '%s' 2>/dev/null | "
			 "sed -n 's/^Journal start: *//p'", img);
	assert_true(atoi(out) > 0);
	free(out);

	assert_int_equal(tu_sh("cp '%s' '%s'", img, copy), 0);
	out = tu_capture("e2fsck -fy '%s' 2>&1; echo status=$?", copy);
	if (!strstr(out, "recovering journal") || strstr(out, "Fix?") ||
	    strstr(out, "status=4") || strstr(out, "status=8"))
		fail_msg("e2fsck -fy did more than replay:\n%s", out);
	free(out);
	assert_true(tu_fsck_clean(copy));
	out = tu_capture("debugfs -R 'cat /d/f' '%s' 2>/dev/null", copy);
	assert_memory_equal(out, content, sizeof(content));
	free(out);

	fs = sdx_mount(img, 0);
	if (!fs)
		fail_msg("mount: %s", sdx_strerror_detail());
	expect_file(fs, "/d/f", content, sizeof(content));
	assert_int_equal(sdx_stat(fs, "/d/g", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(sdx_unmount(fs), 0);
	assert_true(tu_fsck_clean(img));
	unlink(img);
	unlink(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debugfs_transaction_is_replayed_by_mount),
		cmocka_unit_test(
			test_sigkill_after_fsync_is_replayed_by_e2fsck_and_mount),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
