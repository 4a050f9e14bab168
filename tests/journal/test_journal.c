/*
 * test_journal.c - the jbd2 journal on a real ext4 image, without the file
 * system layer: transactions reach home only through commit + checkpoint,
 * a crash after commit is replayed (by us and by e2fsck), transactions
 * written by debugfs are replayed by us, revokes and checksums are
 * honoured, read-only recovery never writes, hostile superblocks are
 * refused by name, and a crash at every drain of commit and checkpoint
 * recovers to a prefix of the committed transactions.
 *
 * The journal inode's extents come from `debugfs -R "ex <8>"`.  Workloads
 * that must die run in a forked child: _exit() after a commit is what
 * SIGKILL leaves behind; the crash simulation of src/pmem gives power
 * failures at a chosen drain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "journal/jbd2.h"
#include "journal/journal.h"
#include "lib/crc32c.h"
#include "lib/err.h"
#include "pmem/pmem.h"
#include "syncdax.h"
#include "testutil.h"

#define IMG_SIZE (64ull << 20)
/* The crash tests copy the image for every crash: a smaller one. */
#define SMALL_IMG_SIZE (16ull << 20)
/* Free data blocks of a fresh image of either size (metadata ends near
 * 1300 in 16 MiB, 2100 in 64 MiB). */
#define B1 3000
#define B2 3001
#define B3 3002
#define EXT4_SB_OFFSET 1024
#define EXT4_SB_VOLUME_NAME 0x78
#define EXT4_SB_CHECKSUM 0x3fc

struct jimg {
	char path[256];
	struct sdx_jextent ext[16];
	unsigned nr_ext;
	uint64_t size, fs_blocks;
	bool metadata_csum, is_64bit;	/* of the ext4 image */
};

static void jimg_read_layout(struct jimg *im)
{
	char *out = tu_capture("debugfs -R 'ex <8>' '%s' 2>/dev/null",
			       im->path);
	char *line = strtok(out, "\n");

	im->nr_ext = 0;
	for (; line; line = strtok(NULL, "\n")) {
		unsigned long long l0, l1, p0, p1, len;

		if (sscanf(line, " %*u/ %*u %*u/ %*u %llu - %llu %llu - %llu "
			   "%llu", &l0, &l1, &p0, &p1, &len) == 5 &&
		    im->nr_ext < 16)
			im->ext[im->nr_ext++] = (struct sdx_jextent){ l0, p0,
								      len };
	}
	free(out);
	assert_true(im->nr_ext > 0);
	out = tu_capture("dumpe2fs -h '%s' 2>/dev/null | "
			 "sed -n 's/^Block count: *//p'", im->path);
	im->fs_blocks = strtoull(out, NULL, 10);
	free(out);
	assert_int_equal(im->fs_blocks, im->size / 4096);
}

static void jimg_make_sized(struct jimg *im, const char *name, uint64_t size)
{
	snprintf(im->path, sizeof(im->path), "%s", tu_path(name));
	tu_mkfs(im->path, size);
	im->size = size;
	im->metadata_csum = im->is_64bit = true;
	jimg_read_layout(im);
}

static void jimg_make(struct jimg *im, const char *name)
{
	jimg_make_sized(im, name, IMG_SIZE);
}

/* An image made by mkfs.ext4 itself, without metadata_csum and 64bit:
 * the journal then logs without checksums and with 8-byte tags. */
static void jimg_make_plain(struct jimg *im, const char *name)
{
	snprintf(im->path, sizeof(im->path), "%s", tu_path(name));
	unlink(im->path);
	assert_int_equal(tu_sh("truncate -s %llu '%s' && mkfs.ext4 -q -F -b "
			       "4096 -O ^metadata_csum,^64bit,^orphan_file,"
			       "^metadata_csum_seed '%s' >/dev/null 2>&1",
			       IMG_SIZE, im->path, im->path), 0);
	im->size = IMG_SIZE;
	im->metadata_csum = im->is_64bit = false;
	jimg_read_layout(im);
}

static struct sdx_journal_opts jimg_opts(const struct jimg *im, bool ro)
{
	struct sdx_journal_opts o = {
		.readonly = ro,
		.fs_blocks = im->fs_blocks,
		.metadata_csum = im->metadata_csum,
		.is_64bit = im->is_64bit,
	};
	return o;
}

static int jimg_open_opts(const struct jimg *im, const char *path,
			  const struct sdx_journal_opts *o,
			  struct sdx_dev **dev, struct sdx_journal **j)
{
	int err = sdx_dev_open(path, o->readonly ? SDX_DEV_RDONLY : 0, dev);

	assert_int_equal(err, 0);
	err = sdx_journal_open(*dev, im->ext, im->nr_ext, o, j);
	if (err)
		sdx_dev_close(*dev);
	return err;
}

static void jimg_open(const struct jimg *im, const char *path, bool ro,
		      struct sdx_dev **dev, struct sdx_journal **j)
{
	struct sdx_journal_opts o = jimg_opts(im, ro);

	assert_int_equal(jimg_open_opts(im, path, &o, dev, j), 0);
}

static void jclose(struct sdx_dev *dev, struct sdx_journal *j)
{
	assert_int_equal(sdx_journal_close(j), 0);
	sdx_dev_close(dev);
}

/* One handle: fill @block with @byte. */
static void fill_block(struct sdx_journal *j, uint64_t block, int byte)
{
	struct sdx_handle *h;
	void *data;

	assert_int_equal(sdx_journal_start(j, 4, &h), 0);
	assert_int_equal(sdx_journal_get_write_access(h, block, &data), 0);
	memset(data, byte, 4096);
	sdx_journal_dirty_metadata(h, block);
	assert_int_equal(sdx_journal_stop(h), 0);
}

/* One handle: set the ext4 volume label (block 0), checksum updated. */
static void set_label(struct sdx_journal *j, const char *label)
{
	struct sdx_handle *h;
	uint8_t *sb;
	void *data;

	assert_int_equal(sdx_journal_start(j, 1, &h), 0);
	assert_int_equal(sdx_journal_get_write_access(h, 0, &data), 0);
	sb = (uint8_t *)data + EXT4_SB_OFFSET;
	memset(sb + EXT4_SB_VOLUME_NAME, 0, 16);
	memcpy(sb + EXT4_SB_VOLUME_NAME, label, strlen(label));
	{
		uint32_t csum = sdx_crc32c(~0u, sb, EXT4_SB_CHECKSUM);

		memcpy(sb + EXT4_SB_CHECKSUM, &csum, 4);	/* le32 */
	}
	sdx_journal_dirty_metadata(h, 0);
	assert_int_equal(sdx_journal_stop(h), 0);
}

static char *label_of(const char *path)
{
	return tu_capture("dumpe2fs -h '%s' 2>/dev/null | "
			  "sed -n 's/^Filesystem volume name: *//p'", path);
}

/* First byte of @block in the file at @path (the media, not a mapping). */
static int byte_on_file(const char *path, uint64_t block)
{
	unsigned char c;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)(block * 4096)), 1);
	close(fd);
	return c;
}

static bool block_is(const uint8_t *p, int byte)
{
	for (int i = 0; i < 4096; i++)
		if (p[i] != byte)
			return false;
	return true;
}

static void clear_needs_recovery(const char *path)
{
	assert_int_equal(tu_sh("debugfs -w -R 'feature -needs_recovery' "
			       "'%s' >/dev/null 2>&1", path), 0);
}

static int wait_child(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* In a child: T1 fills B1 with 0x11, T2 sets the label and fills B2
 * with 0x22, both committed; then the process dies without checkpoint. */
static void commit_two_then_die(const struct jimg *im)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sdx_dev *dev;
		struct sdx_journal *j;
		struct sdx_journal_opts o = jimg_opts(im, false);

		if (jimg_open_opts(im, im->path, &o, &dev, &j))
			_exit(1);
		fill_block(j, B1, 0x11);
		if (sdx_journal_force_commit(j))
			_exit(2);
		set_label(j, "jtest");
		fill_block(j, B2, 0x22);
		if (sdx_journal_commit_upto(j, sdx_journal_running_tid(j)))
			_exit(3);
		_exit(0);
	}
	assert_int_equal(wait_child(pid), 0);
}

static void test_commit_reaches_home_only_at_checkpoint(void **state)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	struct sdx_journal_stats st;
	sdx_tid_t tid;

	(void)state;
	jimg_make(&im, "j-home.img");
	jimg_open(&im, im.path, false, &dev, &j);
	tid = sdx_journal_running_tid(j);
	fill_block(j, B1, 0x5a);
	assert_true(block_is(sdx_journal_bread(j, B1), 0x5a));
	assert_true(block_is(sdx_journal_bread_committed(j, B1), 0));
	assert_int_equal(sdx_journal_commit_upto(j, tid), 0);
	assert_int_equal(sdx_journal_last_committed(j), tid);
	assert_int_equal(sdx_journal_running_tid(j), tid + 1);
	assert_true(block_is(dev->base + B1 * 4096ull, 0));
	assert_true(block_is(sdx_journal_bread_committed(j, B1), 0x5a));
	/* Nothing new: commit_upto returns at once, counts nothing. */
	assert_int_equal(sdx_journal_commit_upto(j, tid), 0);
	sdx_journal_get_stats(j, &st);
	assert_int_equal(st.commits, 1);
	assert_int_equal(st.commit_blocks, 1);
	jclose(dev, j);
	assert_int_equal(byte_on_file(im.path, B1), 0x5a);
	assert_true(tu_fsck_clean(im.path));
	unlink(im.path);
}

static void test_commit_then_kill_is_replayed_at_open(void **state)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	struct sdx_journal_stats st;
	char *label;

	(void)state;
	jimg_make(&im, "j-replay.img");
	commit_two_then_die(&im);
	assert_int_equal(byte_on_file(im.path, B1), 0);
	jimg_open(&im, im.path, false, &dev, &j);
	sdx_journal_get_stats(j, &st);
	assert_int_equal(st.replayed_transactions, 2);
	assert_int_equal(st.replayed_blocks, 3);
	assert_true(block_is(dev->base + B1 * 4096ull, 0x11));
	assert_true(block_is(dev->base + B2 * 4096ull, 0x22));
	jclose(dev, j);
	label = label_of(im.path);
	assert_string_equal(label, "jtest\n");
	free(label);
	assert_true(tu_fsck_clean(im.path));
	unlink(im.path);
}

static void test_e2fsck_replays_our_journal_without_corrections(void **state)
{
	struct jimg im;
	char *out, *label;

	(void)state;
	jimg_make(&im, "j-e2fsck.img");
	commit_two_then_die(&im);
	/* What the file system layer sets while mounted read-write. */
	assert_int_equal(tu_sh("debugfs -w -R 'feature needs_recovery' '%s' "
			       ">/dev/null 2>&1", im.path), 0);
	out = tu_capture("e2fsck -fy '%s' 2>&1; echo status=$?", im.path);
	if (!strstr(out, "recovering journal") || strstr(out, "Fix?") ||
	    strstr(out, "FIXED") || strstr(out, "status=4") ||
	    strstr(out, "status=8"))
		fail_msg("e2fsck -fy did more than replay:\n%s", out);
	free(out);
	assert_int_equal(byte_on_file(im.path, B1), 0x11);
	assert_int_equal(byte_on_file(im.path, B2), 0x22);
	label = label_of(im.path);
	assert_string_equal(label, "jtest\n");
	free(label);
	assert_true(tu_fsck_clean(im.path));
	unlink(im.path);
}

static void test_e2fsck_replays_journal_without_csum_or_64bit(void **state)
{
	struct jimg im;
	char *out;

	(void)state;
	jimg_make_plain(&im, "j-plain.img");
	commit_two_then_die(&im);
	assert_int_equal(tu_sh("debugfs -w -R 'feature needs_recovery' '%s' "
			       ">/dev/null 2>&1", im.path), 0);
	out = tu_capture("e2fsck -fy '%s' 2>&1; echo status=$?", im.path);
	if (!strstr(out, "recovering journal") || strstr(out, "Fix?") ||
	    strstr(out, "status=4") || strstr(out, "status=8"))
		fail_msg("e2fsck -fy did more than replay:\n%s", out);
	free(out);
	assert_int_equal(byte_on_file(im.path, B1), 0x11);
	assert_int_equal(byte_on_file(im.path, B2), 0x22);
	assert_true(tu_fsck_clean(im.path));
	unlink(im.path);
}

/* debugfs writes B1 and B2 in one transaction, revokes B2 in the next,
 * with journal_open @jo_args; our open replays it. */
static void debugfs_transaction_is_replayed(const char *jo_args)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	struct sdx_journal_stats st;
	const char *data = tu_path("j-debugfs.data");
	FILE *f = fopen(data, "w");

	assert_non_null(f);
	for (int i = 0; i < 2 * 4096; i++)
		fputc(i < 4096 ? 0x77 : 0x78, f);
	fclose(f);
	jimg_make(&im, "j-debugfs.img");
	assert_int_equal(tu_sh("printf 'jo %s\\njw -b %d,%d %s\\njw -r %d "
			       "%s\\njc\\n' | debugfs -w -f - '%s' "
			       ">/dev/null 2>&1", jo_args, B1, B2, data, B2,
			       data, im.path), 0);
	assert_int_equal(byte_on_file(im.path, B1), 0);
	jimg_open(&im, im.path, false, &dev, &j);
	sdx_journal_get_stats(j, &st);
	assert_int_equal(st.replayed_transactions, 2);
	assert_int_equal(st.replayed_blocks, 1);
	assert_int_equal(st.revoked_blocks, 1);
	assert_true(block_is(dev->base + B1 * 4096ull, 0x77));
	assert_true(block_is(dev->base + B2 * 4096ull, 0));
	jclose(dev, j);
	clear_needs_recovery(im.path);
	assert_true(tu_fsck_clean(im.path));
	unlink(im.path);
	unlink(data);
}

static void test_debugfs_transaction_is_replayed(void **state)
{
	(void)state;
	debugfs_transaction_is_replayed("-c");		/* csum v3 */
	debugfs_transaction_is_replayed("-c -v 2");	/* csum v2 */
	debugfs_transaction_is_replayed("");		/* no checksums */
}

static void test_revoke_hides_older_copies_at_replay(void **state)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	struct sdx_journal_stats st;
	pid_t pid;

	(void)state;
	jimg_make(&im, "j-revoke.img");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sdx_handle *h;
		struct sdx_journal_opts o = jimg_opts(&im, false);

		if (jimg_open_opts(&im, im.path, &o, &dev, &j))
			_exit(1);
		fill_block(j, B1, 0x31);
		fill_block(j, B2, 0x32);
		if (sdx_journal_force_commit(j) ||
		    sdx_journal_start(j, 1, &h) ||
		    sdx_journal_revoke(h, B1) || sdx_journal_stop(h) ||
		    sdx_journal_force_commit(j))
			_exit(2);
		_exit(0);
	}
	assert_int_equal(wait_child(pid), 0);
	jimg_open(&im, im.path, false, &dev, &j);
	sdx_journal_get_stats(j, &st);
	assert_int_equal(st.replayed_transactions, 2);
	assert_int_equal(st.revoked_blocks, 1);
	assert_true(block_is(dev->base + B1 * 4096ull, 0));
	assert_true(block_is(dev->base + B2 * 4096ull, 0x32));
	jclose(dev, j);
	assert_true(tu_fsck_clean(im.path));
	unlink(im.path);
}

/* The physical block of journal block @lblk. */
static uint64_t jphys(const struct jimg *im, uint64_t lblk)
{
	for (unsigned i = 0; i < im->nr_ext; i++)
		if (lblk >= im->ext[i].lblk &&
		    lblk < im->ext[i].lblk + im->ext[i].len)
			return im->ext[i].pblk + lblk - im->ext[i].lblk;
	fail_msg("journal block %llu not mapped", (unsigned long long)lblk);
	return 0;
}

static void flip_byte(const char *path, uint64_t offset)
{
	unsigned char c;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)offset), 1);
	c ^= 0xff;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)offset), 1);
	close(fd);
}

static void test_bad_checksum_stops_replay_at_that_transaction(void **state)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	struct sdx_journal_stats st;

	(void)state;
	jimg_make(&im, "j-badcsum.img");
	commit_two_then_die(&im);
	/* Log: 1 desc, 2 B1, 3 commit | 4 desc, 5 sb, 6 B2, 7 commit.
	 * Corrupt the copy of B2 in the second transaction. */
	flip_byte(im.path, jphys(&im, 6) * 4096 + 100);
	jimg_open(&im, im.path, false, &dev, &j);
	sdx_journal_get_stats(j, &st);
	assert_int_equal(st.replayed_transactions, 1);
	assert_true(block_is(dev->base + B1 * 4096ull, 0x11));
	assert_true(block_is(dev->base + B2 * 4096ull, 0));
	jclose(dev, j);
	assert_true(tu_fsck_clean(im.path));
	unlink(im.path);
}

static char *read_file(const char *path, size_t *len)
{
	char *buf = malloc(IMG_SIZE);
	int fd = open(path, O_RDONLY);

	assert_non_null(buf);
	assert_true(fd >= 0);
	*len = 0;
	for (ssize_t n; (n = read(fd, buf + *len, IMG_SIZE - *len)) > 0;)
		*len += (size_t)n;
	close(fd);
	return buf;
}

static void test_readonly_recovery_serves_replay_without_writing(void **st_)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	struct sdx_handle *h;
	size_t before_len, after_len;
	char *before, *after;

	(void)st_;
	jimg_make(&im, "j-ro.img");
	commit_two_then_die(&im);
	before = read_file(im.path, &before_len);
	jimg_open(&im, im.path, true, &dev, &j);
	assert_true(block_is(sdx_journal_bread(j, B1), 0x11));
	assert_true(block_is(sdx_journal_bread(j, B2), 0x22));
	assert_true(block_is(dev->base + B1 * 4096ull, 0));
	assert_int_equal(sdx_journal_start(j, 1, &h), -EROFS);
	jclose(dev, j);
	after = read_file(im.path, &after_len);
	assert_int_equal(before_len, after_len);
	assert_memory_equal(before, after, before_len);
	free(before);
	free(after);
	unlink(im.path);
}

/* Open must fail with @err and a sentence containing @words. */
static void expect_open_error(const struct jimg *im, unsigned nr_ext,
			      uint64_t fs_blocks, int err, const char *words)
{
	struct sdx_dev *dev;
	struct sdx_journal *j = NULL;
	struct sdx_journal_opts o = jimg_opts(im, false);

	o.fs_blocks = fs_blocks;
	assert_int_equal(sdx_dev_open(im->path, 0, &dev), 0);
	assert_int_equal(sdx_journal_open(dev, im->ext, nr_ext, &o, &j), err);
	if (!strstr(sdx_strerror_detail(), words))
		fail_msg("expected \"%s\" in \"%s\"", words,
			 sdx_strerror_detail());
	assert_null(j);
	sdx_dev_close(dev);
}

static void test_hostile_or_unsupported_journals_are_refused(void **state)
{
	struct jimg im;
	uint64_t jsb;
	uint8_t feat[4];
	int fd;

	(void)state;
	jimg_make(&im, "j-hostile.img");
	jsb = jphys(&im, 0) * 4096;
	expect_open_error(&im, 0, im.fs_blocks, -EOPNOTSUPP,
			  "external journal device not supported");
	expect_open_error(&im, im.nr_ext, 1500, -EUCLEAN, "extent");
	/* A committed transaction naming a block beyond the file system. */
	commit_two_then_die(&im);
	expect_open_error(&im, im.nr_ext, B2, -EUCLEAN, "beyond the file");
	/* fast_commit (mkfs leaves the journal without checksums). */
	tu_mkfs(im.path, IMG_SIZE);
	fd = open(im.path, O_RDWR);
	assert_true(fd >= 0);
	jbd2_put32(feat, JBD2_FEATURE_INCOMPAT_FAST_COMMIT);
	assert_int_equal(pwrite(fd, feat, 4, (off_t)(jsb + 0x28)), 4);
	close(fd);
	expect_open_error(&im, im.nr_ext, im.fs_blocks, -EOPNOTSUPP,
			  "fast_commit");
	/* A bad magic. */
	flip_byte(im.path, jsb);
	expect_open_error(&im, im.nr_ext, im.fs_blocks, -EUCLEAN, "magic");
	unlink(im.path);
}

static void test_transaction_reopens_after_crash_with_fresh_tid(void **s)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	sdx_tid_t tid;

	(void)s;
	jimg_make(&im, "j-tid.img");
	commit_two_then_die(&im);
	jimg_open(&im, im.path, false, &dev, &j);
	tid = sdx_journal_running_tid(j);
	assert_true(tid > 3);
	/* A new transaction after recovery commits and replays normally. */
	fill_block(j, B3, 0x33);
	assert_int_equal(sdx_journal_force_commit(j), 0);
	assert_int_equal(sdx_journal_last_committed(j), tid);
	jclose(dev, j);
	assert_int_equal(byte_on_file(im.path, B3), 0x33);
	assert_true(tu_fsck_clean(im.path));
	unlink(im.path);
}

static void test_background_thread_commits_and_checkpoints(void **state)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	struct sdx_journal_opts o;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct sdx_journal_stats st = { 0 };
	time_t give_up;

	(void)state;
	jimg_make(&im, "j-bg.img");
	o = jimg_opts(&im, false);
	o.owner_lock = &lock;
	o.commit_interval_ms = 10;
	pthread_mutex_lock(&lock);
	assert_int_equal(jimg_open_opts(&im, im.path, &o, &dev, &j), 0);
	fill_block(j, B1, 0x44);
	pthread_mutex_unlock(&lock);
	/* Poll (not a timing assertion: the bound only stops a hang). */
	give_up = time(NULL) + 60;
	while (st.checkpoints == 0 && time(NULL) < give_up) {
		pthread_mutex_lock(&lock);
		sdx_journal_get_stats(j, &st);
		pthread_mutex_unlock(&lock);
		sched_yield();
	}
	pthread_mutex_lock(&lock);
	assert_int_equal(st.commits, 1);
	assert_true(st.checkpoints >= 1);
	assert_true(block_is(dev->base + B1 * 4096ull, 0x44));
	fill_block(j, B2, 0x45);
	pthread_mutex_unlock(&lock);
	/* Close without the lock, the thread possibly mid-commit. */
	jclose(dev, j);
	assert_int_equal(byte_on_file(im.path, B2), 0x45);
	assert_true(tu_fsck_clean(im.path));
	unlink(im.path);
}

static void test_running_copy_is_not_replayed_and_magic_is_escaped(void **s)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	pid_t pid;

	(void)s;
	jimg_make(&im, "j-escape.img");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sdx_journal_opts o = jimg_opts(&im, false);
		struct sdx_handle *h;
		void *data;

		if (jimg_open_opts(&im, im.path, &o, &dev, &j) ||
		    sdx_journal_start(j, 1, &h) ||
		    sdx_journal_get_write_access(h, B1, &data))
			_exit(1);
		memset(data, 0x66, 4096);
		jbd2_put32(data, JBD2_MAGIC_NUMBER);
		sdx_journal_dirty_metadata(h, B1);
		if (sdx_journal_stop(h) || sdx_journal_force_commit(j))
			_exit(2);
		/* The next transaction changes B1 again, never commits. */
		fill_block(j, B1, 0x67);
		_exit(0);
	}
	assert_int_equal(wait_child(pid), 0);
	/* e2fsck replays too, so check it on a copy: same bytes expected. */
	assert_int_equal(tu_sh("cp '%s' '%s.fsck' && debugfs -w -R "
			       "'feature needs_recovery' '%s.fsck' "
			       ">/dev/null 2>&1 && e2fsck -fy '%s.fsck' "
			       ">/dev/null 2>&1; test $? -le 1", im.path,
			       im.path, im.path, im.path), 0);
	jimg_open(&im, im.path, false, &dev, &j);
	assert_int_equal(jbd2_get32(dev->base + B1 * 4096ull),
			 JBD2_MAGIC_NUMBER);
	assert_int_equal(dev->base[B1 * 4096ull + 4], 0x66);
	assert_int_equal(dev->base[B1 * 4096ull + 4095], 0x66);
	jclose(dev, j);
	assert_int_equal(tu_sh("cmp -s -i %d:%d -n 4096 '%s' '%s.fsck'",
			       B1 * 4096, B1 * 4096, im.path, im.path), 0);
	assert_true(tu_fsck_clean(im.path));
	tu_sh("rm -f '%s.fsck'", im.path);
	unlink(im.path);
}

/* Without a journal (no_journal): home written and persisted at
 * dirty_metadata; a commit only advances the tids. */
static void test_direct_mode_writes_home_at_dirty(void **state)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	struct sdx_journal_opts o;
	sdx_tid_t tid;

	(void)state;
	jimg_make(&im, "j-direct.img");
	o = jimg_opts(&im, false);
	o.no_journal = true;
	assert_int_equal(sdx_dev_open(im.path, 0, &dev), 0);
	assert_int_equal(sdx_journal_open(dev, NULL, 0, &o, &j), 0);
	tid = sdx_journal_running_tid(j);
	fill_block(j, B1, 0x61);
	assert_true(block_is(dev->base + B1 * 4096ull, 0x61));
	assert_int_equal(sdx_journal_commit_upto(j, tid), 0);
	assert_int_equal(sdx_journal_last_committed(j), tid);
	assert_int_equal(sdx_journal_running_tid(j), tid + 1);
	assert_null(sdx_journal_bread(j, im.fs_blocks));
	jclose(dev, j);
	assert_int_equal(byte_on_file(im.path, B1), 0x61);
	assert_true(tu_fsck_clean(im.path));
	unlink(im.path);
}

/* Many transactions: the log wraps and checkpoints when half full; a
 * transaction of more blocks than one descriptor holds; then death,
 * replay by us and (on a copy) by e2fsck give the same image. */
static void test_log_wraps_and_big_transactions_replay(void **state)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	struct sdx_journal_stats st;
	pid_t pid;

	(void)state;
	jimg_make(&im, "j-wrap.img");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sdx_journal_opts o = jimg_opts(&im, false);
		struct sdx_handle *h;

		if (jimg_open_opts(&im, im.path, &o, &dev, &j))
			_exit(1);
		for (int t = 0; t < 400; t++) {
			fill_block(j, B1 + (uint64_t)(t % 7), t & 0xff);
			fill_block(j, B1 + 7 + (uint64_t)(t % 3), t & 0xff);
			if (sdx_journal_force_commit(j))
				_exit(2);
		}
		/* 255 blocks in one handle: two descriptor blocks. */
		if (sdx_journal_start(j, 255, &h))
			_exit(3);
		for (uint64_t b = 0; b < 255; b++) {
			void *data;

			if (sdx_journal_get_write_access(h, 11000 + b, &data))
				_exit(4);
			memset(data, (int)(b & 0x7f) + 1, 4096);
			sdx_journal_dirty_metadata(h, 11000 + b);
		}
		if (sdx_journal_stop(h) || sdx_journal_force_commit(j))
			_exit(5);
		sdx_journal_get_stats(j, &st);
		_exit(st.checkpoints >= 2 ? 0 : 6);
	}
	assert_int_equal(wait_child(pid), 0);
	assert_int_equal(tu_sh("cp '%s' '%s.fsck' && debugfs -w -R "
			       "'feature needs_recovery' '%s.fsck' "
			       ">/dev/null 2>&1 && e2fsck -fy '%s.fsck' "
			       ">/dev/null 2>&1; test $? -le 1", im.path,
			       im.path, im.path, im.path), 0);
	jimg_open(&im, im.path, false, &dev, &j);
	sdx_journal_get_stats(j, &st);
	assert_true(st.replayed_transactions >= 1);
	for (int k = 0; k < 7; k++) {
		int last = 399 - ((399 - k) % 7);

		assert_true(block_is(dev->base + (B1 + (uint64_t)k) * 4096ull,
				     last & 0xff));
	}
	for (uint64_t b = 0; b < 255; b++)
		assert_true(block_is(dev->base + (11000 + b) * 4096ull,
				     (int)(b & 0x7f) + 1));
	jclose(dev, j);
	clear_needs_recovery(im.path);
	/* The replayed blocks match e2fsck's replay byte for byte. */
	assert_int_equal(tu_sh("cmp -s -i %d:%d -n %d '%s' '%s.fsck'",
			       B1 * 4096, B1 * 4096, (11255 - B1) * 4096,
			       im.path, im.path), 0);
	assert_true(tu_fsck_clean(im.path));
	tu_sh("rm -f '%s.fsck'", im.path);
	unlink(im.path);
}

#define FROZEN_BLOCKS 128

/* In a child: commit FROZEN_BLOCKS-block transactions in the background
 * until the test thread finds one in flight (the thread writes the log
 * without the owner's lock), then changes B1 in the next transaction and
 * dies once the one in flight has committed.  Exit 0: caught and died;
 * 9: never caught. */
static void modify_while_committing_then_die(const struct jimg *im)
{
	struct sdx_journal_opts o = jimg_opts(im, false);
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct sdx_dev *dev;
	struct sdx_journal *j;

	o.owner_lock = &lock;
	o.commit_interval_ms = 1;
	pthread_mutex_lock(&lock);
	if (jimg_open_opts(im, im->path, &o, &dev, &j))
		_exit(1);
	pthread_mutex_unlock(&lock);
	for (int attempt = 1; attempt <= 2000; attempt++) {
		struct sdx_handle *h;
		sdx_tid_t tid;
		void *data;

		pthread_mutex_lock(&lock);
		tid = sdx_journal_running_tid(j);
		if (sdx_journal_start(j, FROZEN_BLOCKS, &h))
			_exit(2);
		for (uint64_t b = 0; b < FROZEN_BLOCKS; b++) {
			if (sdx_journal_get_write_access(h, B1 + b, &data))
				_exit(3);
			memset(data, attempt % 0x7f + 1, 4096);
			sdx_journal_dirty_metadata(h, B1 + b);
		}
		sdx_journal_stop(h);
		pthread_mutex_unlock(&lock);
		for (;;) {
			pthread_mutex_lock(&lock);
			if (sdx_journal_last_committed(j) - tid < 0x80000000u) {
				pthread_mutex_unlock(&lock);
				break;		/* missed: committed already */
			}
			if (sdx_journal_running_tid(j) != tid) {
				/* In flight: the next transaction gets its
				 * own copy of the frozen block. */
				if (sdx_journal_start(j, 1, &h) ||
				    sdx_journal_get_write_access(h, B1, &data) ||
				    !block_is(data, attempt % 0x7f + 1))
					_exit(4);
				memset(data, 0xee, 4096);
				sdx_journal_dirty_metadata(h, B1);
				if (!block_is(sdx_journal_bread(j, B1), 0xee) ||
				    sdx_journal_commit_upto(j, tid) ||
				    sdx_journal_last_committed(j) != tid)
					_exit(5);
				printf("# in flight at attempt %d\n", attempt);
				fflush(stdout);
				_exit(0);	/* handle open: never commits */
			}
			pthread_mutex_unlock(&lock);
			sched_yield();
		}
	}
	_exit(9);
}

static void test_block_modified_while_committing_gets_frozen_copy(void **s)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	const uint8_t *b1;
	pid_t pid;
	int status;

	(void)s;
	jimg_make(&im, "j-frozen.img");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		modify_while_committing_then_die(&im);
	status = wait_child(pid);
	if (status == 9) {
		printf("# no commit caught in flight; frozen path not run\n");
		unlink(im.path);
		return;
	}
	assert_int_equal(status, 0);
	jimg_open(&im, im.path, false, &dev, &j);
	b1 = dev->base + B1 * 4096ull;
	/* The committed transaction's version, not the later change. */
	assert_true(b1[0] != 0xee && b1[0] != 0);
	assert_true(block_is(b1, b1[0]));
	for (uint64_t b = 1; b < FROZEN_BLOCKS; b++)
		assert_true(block_is(dev->base + (B1 + b) * 4096ull, b1[0]));
	jclose(dev, j);
	assert_true(tu_fsck_clean(im.path));
	unlink(im.path);
}

/* Random damage to the headers and tags of the descriptor and commit
 * blocks of a journal without checksums (so the parser sees it): open
 * gives 0 or -EUCLEAN, never a crash (ASan build). */
static void test_damaged_log_without_checksums_never_crashes(void **state)
{
	struct jimg im;
	uint8_t saved[8 * 4096];
	unsigned seed = 12345;
	int fd, refused = 0;

	(void)state;
	jimg_make_plain(&im, "j-fuzz.img");
	commit_two_then_die(&im);
	fd = open(im.path, O_RDWR);
	assert_true(fd >= 0);
	for (uint64_t l = 1; l <= 8; l++)
		assert_int_equal(pread(fd, saved + (l - 1) * 4096, 4096,
				       (off_t)(jphys(&im, l) * 4096)), 4096);
	for (int iter = 0; iter < 300; iter++) {
		struct sdx_dev *dev;
		struct sdx_journal *j;
		struct sdx_journal_opts o = jimg_opts(&im, true);
		/* descriptor and commit blocks: 1, 3, 4, 7 */
		uint64_t l = (uint64_t[]){ 1, 3, 4, 7 }[rand_r(&seed) % 4];
		int n = 1 + rand_r(&seed) % 8, err;

		for (uint64_t k = 1; k <= 8; k++)
			assert_int_equal(pwrite(fd, saved + (k - 1) * 4096,
						4096,
						(off_t)(jphys(&im, k) * 4096)),
					 4096);
		for (int i = 0; i < n; i++) {
			uint32_t v = (uint32_t)rand_r(&seed) * 2654435761u;
			off_t off = (off_t)(jphys(&im, l) * 4096) +
				    (rand_r(&seed) % 16) * 4;

			assert_int_equal(pwrite(fd, &v, 4, off), 4);
		}
		err = jimg_open_opts(&im, im.path, &o, &dev, &j);
		if (err != 0 && err != -EUCLEAN)
			fail_msg("damage %d: open returned %d (%s)", iter, err,
				 sdx_strerror_detail());
		if (!err)
			jclose(dev, j);
		refused += err != 0;
	}
	printf("# damaged logs: %d of 300 refused, the rest replayed a "
	       "prefix\n", refused);
	close(fd);
	unlink(im.path);
}

/* ---- random transactions crashed at sampled drains ---- */

#define RND_BLOCKS 48
#define RND_BASE 3100
#define RND_COMMITS 150
#define RND_ANY (-1)		/* revoked: contents unspecified */

static uint64_t rnd_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * Transaction @k of the random workload: a few writes (some as new
 * blocks) and revokes of RND_BLOCKS blocks.  Applies it to @model, and to
 * @j when given.  Return: 0, or the failing step (the child's exit code).
 */
static int rnd_transaction(uint64_t *seed, struct sdx_journal *j,
			   int *model, int k)
{
	struct sdx_handle *h = NULL;
	int nops = 1 + (int)(rnd_next(seed) % 6);

	if (j && sdx_journal_start(j, 8, &h))
		return 10;
	for (int op = 0; op < nops; op++) {
		uint64_t r = rnd_next(seed);
		uint64_t block = RND_BASE + r % RND_BLOCKS;
		int kind = (int)((r >> 32) % 8), v = 1 + (k * 7 + op) % 250;
		void *data;

		if (kind == 0) {
			if (j && sdx_journal_revoke(h, block))
				return 11;
			model[block - RND_BASE] = RND_ANY;
			continue;
		}
		if (j && (kind == 1 ? sdx_journal_get_create_access(h, block,
								    &data)
				    : sdx_journal_get_write_access(h, block,
								   &data)))
			return 12;
		if (j) {
			memset(data, v, 4096);
			sdx_journal_dirty_metadata(h, block);
		}
		model[block - RND_BASE] = v;
	}
	return j && sdx_journal_stop(h) ? 13 : 0;
}

/* The model after @commits transactions. */
static void rnd_model(int *model, int commits)
{
	uint64_t seed = 42;

	for (int b = 0; b < RND_BLOCKS; b++)
		model[b] = 0;
	for (int k = 1; k <= commits; k++)
		rnd_transaction(&seed, NULL, model, k);
}

/* In a child: run the workload crashing at drain @at (0: never); write
 * "k" to @fd after commit k returned, and the drain count at the end. */
static void rnd_workload(const struct jimg *im, const char *media,
			 uint64_t at, enum sdx_crash_mode mode, int fd)
{
	struct sdx_crash_config cfg = { im->path, media, at, mode, at };
	struct sdx_journal_opts o = jimg_opts(im, false);
	struct sdx_dev *dev;
	struct sdx_journal *j;
	int model[RND_BLOCKS], err;
	uint64_t seed = 42, drains;

	if (sdx_crashsim_arm(&cfg) ||
	    jimg_open_opts(im, im->path, &o, &dev, &j))
		_exit(1);
	for (int k = 1; k <= RND_COMMITS; k++) {
		err = rnd_transaction(&seed, j, model, k);
		if (err || sdx_journal_force_commit(j))
			_exit(err ? err : 2);
		if (write(fd, &k, sizeof(k)) != sizeof(k))
			_exit(3);
	}
	if (sdx_journal_close(j))
		_exit(4);
	sdx_dev_close(dev);
	drains = sdx_crashsim_drains();
	_exit(write(fd, &drains, sizeof(drains)) == sizeof(drains) ? 0 : 5);
}

/* Run the child; return its status, *@committed the last commit done. */
static int rnd_run(const struct jimg *im, const char *media, uint64_t at,
		   enum sdx_crash_mode mode, int *committed,
		   uint64_t *drains)
{
	int fds[2], k, status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		rnd_workload(im, media, at, mode, fds[1]);
	}
	close(fds[1]);
	*committed = 0;
	while (*committed < RND_COMMITS &&
	       read(fds[0], &k, sizeof(k)) == sizeof(k))
		*committed = k;
	if (drains && read(fds[0], drains, sizeof(*drains)) != sizeof(*drains))
		*drains = 0;
	close(fds[0]);
	status = wait_child(pid);
	return status;
}

static bool rnd_state_is(struct sdx_journal *j, const int *model)
{
	for (int b = 0; b < RND_BLOCKS; b++)
		if (model[b] != RND_ANY &&
		    !block_is(sdx_journal_bread(j, RND_BASE + (uint64_t)b),
			      model[b]))
			return false;
	return true;
}

static void test_random_transactions_crashed_recover_a_prefix(void **state)
{
	static const enum sdx_crash_mode modes[] = {
		SDX_CRASH_STRICT, SDX_CRASH_EVICT, SDX_CRASH_TEAR };
	struct jimg im;
	char media[256], pristine[256];
	int model[RND_BLOCKS], next[RND_BLOCKS], committed;
	uint64_t drains = 0;

	(void)state;
	jimg_make_sized(&im, "j-rnd.img", SMALL_IMG_SIZE);
	snprintf(media, sizeof(media), "%s", tu_path("j-rnd.media"));
	snprintf(pristine, sizeof(pristine), "%s", tu_path("j-rnd.orig"));
	assert_int_equal(tu_sh("cp '%s' '%s'", im.path, pristine), 0);
	assert_int_equal(rnd_run(&im, media, 0, SDX_CRASH_STRICT, &committed,
				 &drains), 0);
	assert_int_equal(committed, RND_COMMITS);
	assert_true(drains > RND_COMMITS);
	for (unsigned i = 0; i < 3 * 16; i++) {
		uint64_t at = 1 + (i * 7919u + 13) % drains;
		enum sdx_crash_mode mode = modes[i % 3];
		struct sdx_dev *dev;
		struct sdx_journal *j;

		assert_int_equal(tu_sh("cp '%s' '%s'", pristine, im.path), 0);
		assert_int_equal(rnd_run(&im, media, at, mode, &committed, NULL),
				 SDX_CRASH_EXIT);
		rnd_model(model, committed);
		rnd_model(next, committed + 1);
		jimg_open(&im, media, false, &dev, &j);
		if (!rnd_state_is(j, model) && !rnd_state_is(j, next))
			fail_msg("crash at drain %llu (mode %d) after commit "
				 "%d: blocks match neither %d nor %d commits",
				 (unsigned long long)at, (int)mode, committed,
				 committed, committed + 1);
		jclose(dev, j);
		if (!tu_fsck_clean(media))
			fail_msg("crash at drain %llu: e2fsck -fn not clean",
				 (unsigned long long)at);
	}
	printf("# 48 of %llu drains crashed (strict, evict, tear): each a "
	       "prefix\n", (unsigned long long)drains);
	unlink(media);
	unlink(pristine);
	unlink(im.path);
}

#define STRESS_THREADS 4
#define STRESS_ROUNDS 400
#define STRESS_BLOCKS 8

struct stress {
	struct sdx_journal *j;
	pthread_mutex_t *lock;
	uint64_t first;		/* this thread's blocks */
	int failed;
};

/* Each round: one handle over this thread's blocks, sometimes a commit
 * (as fsync would), with the background thread committing meanwhile. */
static void *stress_thread(void *arg)
{
	struct stress *st = arg;

	for (int r = 1; r <= STRESS_ROUNDS && !st->failed; r++) {
		struct sdx_handle *h;
		void *data;

		pthread_mutex_lock(st->lock);
		st->failed = sdx_journal_start(st->j, STRESS_BLOCKS, &h);
		for (uint64_t b = 0; b < STRESS_BLOCKS && !st->failed; b++) {
			st->failed = sdx_journal_get_write_access(
				h, st->first + b, &data);
			if (!st->failed) {
				memset(data, r & 0xff, 4096);
				sdx_journal_dirty_metadata(h, st->first + b);
			}
		}
		if (!st->failed)
			st->failed = sdx_journal_stop(h);
		if (!st->failed && r % 16 == 0)
			st->failed = sdx_journal_commit_upto(
				st->j, sdx_journal_running_tid(st->j));
		pthread_mutex_unlock(st->lock);
	}
	return NULL;
}

static void test_threads_and_background_commits_keep_every_update(void **s)
{
	struct jimg im;
	struct sdx_dev *dev;
	struct sdx_journal *j;
	struct sdx_journal_opts o;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct stress st[STRESS_THREADS];
	pthread_t t[STRESS_THREADS];

	(void)s;
	jimg_make(&im, "j-threads.img");
	o = jimg_opts(&im, false);
	o.owner_lock = &lock;
	o.commit_interval_ms = 1;
	pthread_mutex_lock(&lock);
	assert_int_equal(jimg_open_opts(&im, im.path, &o, &dev, &j), 0);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < STRESS_THREADS; i++) {
		st[i] = (struct stress){ j, &lock,
					 B1 + (uint64_t)i * STRESS_BLOCKS, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, stress_thread,
						&st[i]), 0);
	}
	for (int i = 0; i < STRESS_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(st[i].failed, 0);
	}
	jclose(dev, j);
	for (uint64_t b = 0; b < STRESS_THREADS * STRESS_BLOCKS; b++)
		assert_int_equal(byte_on_file(im.path, B1 + b),
				 STRESS_ROUNDS & 0xff);
	assert_true(tu_fsck_clean(im.path));
	unlink(im.path);
}

/* ---- crash at every drain ---- */

/* The workload: T1 {B1=1, B2=1}, T2 {label "t2", B1=2, B3=2},
 * T3 {revoke B3}, then close (checkpoint, reset).  Exits 0 if it ran to
 * the end before the armed drain. */
static void crash_workload(const struct jimg *im, const char *media,
			   uint64_t at, enum sdx_crash_mode mode)
{
	struct sdx_crash_config cfg = { im->path, media, at, mode, at };
	struct sdx_journal_opts o = jimg_opts(im, false);
	struct sdx_dev *dev;
	struct sdx_journal *j;
	struct sdx_handle *h;

	if (sdx_crashsim_arm(&cfg) || jimg_open_opts(im, im->path, &o, &dev,
						     &j))
		_exit(1);
	fill_block(j, B1, 1);
	fill_block(j, B2, 1);
	if (sdx_journal_force_commit(j))
		_exit(2);
	set_label(j, "t2");
	fill_block(j, B1, 2);
	fill_block(j, B3, 2);
	if (sdx_journal_force_commit(j))
		_exit(3);
	if (sdx_journal_start(j, 1, &h) || sdx_journal_revoke(h, B3) ||
	    sdx_journal_stop(h) || sdx_journal_force_commit(j) ||
	    sdx_journal_close(j))
		_exit(4);
	sdx_dev_close(dev);
	_exit(0);
}

/* After recovery of @media: the state of some prefix of T1, T2, T3. */
static void check_prefix_state(const struct jimg *im, const char *media,
			       uint64_t at)
{
	struct sdx_dev *dev;
	struct sdx_journal *j;
	const uint8_t *b1, *b2, *b3;
	char *label;
	int t;

	jimg_open(im, media, false, &dev, &j);
	b1 = sdx_journal_bread(j, B1);
	b2 = sdx_journal_bread(j, B2);
	b3 = sdx_journal_bread(j, B3);
	t = block_is(b1, 0) ? 0 : block_is(b1, 1) ? 1 : block_is(b1, 2) ? 2
								       : -1;
	if (t < 0 || !block_is(b2, t ? 1 : 0) ||
	    !(block_is(b3, t == 2 ? 2 : 0) || (t == 2 && block_is(b3, 0))))
		fail_msg("crash at drain %llu: B1 %d B2 %d B3 %d is no "
			 "prefix state", (unsigned long long)at, b1[0], b2[0],
			 b3[0]);
	jclose(dev, j);
	label = label_of(media);
	assert_string_equal(label, t == 2 ? "t2\n" : "<none>\n");
	free(label);
	if (!tu_fsck_clean(media))
		fail_msg("crash at drain %llu: e2fsck -fn not clean",
			 (unsigned long long)at);
}

/* Crash the workload at every drain in @mode; each media recovers to a
 * prefix state that e2fsck calls clean. */
static void crash_every_drain(enum sdx_crash_mode mode)
{
	struct jimg im;
	char media[256], pristine[256];
	uint64_t at;
	int status = -1;

	jimg_make_sized(&im, "j-crash.img", SMALL_IMG_SIZE);
	snprintf(media, sizeof(media), "%s", tu_path("j-crash.media"));
	snprintf(pristine, sizeof(pristine), "%s", tu_path("j-crash.orig"));
	assert_int_equal(tu_sh("cp '%s' '%s'", im.path, pristine), 0);
	for (at = 1; at < 200; at++) {
		pid_t pid;

		assert_int_equal(tu_sh("cp '%s' '%s'", pristine, im.path), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			crash_workload(&im, media, at, mode);
		status = wait_child(pid);
		if (status != SDX_CRASH_EXIT)
			break;
		check_prefix_state(&im, media, at);
	}
	assert_int_equal(status, 0);
	printf("# %llu crash points (mode %d), each recovered to a prefix\n",
	       (unsigned long long)at - 1, (int)mode);
	assert_true(at > 5);
	check_prefix_state(&im, im.path, at);
	unlink(media);
	unlink(pristine);
	unlink(im.path);
}

static void test_crash_at_every_drain_recovers_a_prefix(void **state)
{
	(void)state;
	crash_every_drain(SDX_CRASH_STRICT);
}

/* Lines written but not drained survive at random: whole (evict) or in
 * 8-byte pieces (tear); the journal superblock's shadow covers its torn
 * writes. */
static void test_crash_with_evicted_or_torn_lines_recovers_a_prefix(void **s)
{
	(void)s;
	crash_every_drain(SDX_CRASH_EVICT);
	crash_every_drain(SDX_CRASH_TEAR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_reaches_home_only_at_checkpoint),
		cmocka_unit_test(test_direct_mode_writes_home_at_dirty),
		cmocka_unit_test(test_commit_then_kill_is_replayed_at_open),
		cmocka_unit_test(
			test_e2fsck_replays_our_journal_without_corrections),
		cmocka_unit_test(
			test_e2fsck_replays_journal_without_csum_or_64bit),
		cmocka_unit_test(test_debugfs_transaction_is_replayed),
		cmocka_unit_test(test_revoke_hides_older_copies_at_replay),
		cmocka_unit_test(
			test_bad_checksum_stops_replay_at_that_transaction),
		cmocka_unit_test(
			test_readonly_recovery_serves_replay_without_writing),
		cmocka_unit_test(
			test_hostile_or_unsupported_journals_are_refused),
		cmocka_unit_test(
			test_transaction_reopens_after_crash_with_fresh_tid),
		cmocka_unit_test(
			test_background_thread_commits_and_checkpoints),
		cmocka_unit_test(
			test_running_copy_is_not_replayed_and_magic_is_escaped),
		cmocka_unit_test(test_log_wraps_and_big_transactions_replay),
		cmocka_unit_test(
			test_block_modified_while_committing_gets_frozen_copy),
		cmocka_unit_test(
			test_threads_and_background_commits_keep_every_update),
		cmocka_unit_test(
			test_damaged_log_without_checksums_never_crashes),
		cmocka_unit_test(
			test_random_transactions_crashed_recover_a_prefix),
		cmocka_unit_test(test_crash_at_every_drain_recovers_a_prefix),
		cmocka_unit_test(
			test_crash_with_evicted_or_torn_lines_recovers_a_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
