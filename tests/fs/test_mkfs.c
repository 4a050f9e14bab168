/*
 * test_mkfs.c - sdx_mkfs makes an image e2fsck calls clean, with exactly the
 * feature set syncdax maintains, and refuses bad sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syncdax.h"
#include "fs/mkfs.h"
#include "testutil.h"

static void test_mkfs_image_is_clean_with_our_features(void **state)
{
	const char *dev = tu_path("mkfs.img");
	char *features;

	(void)state;
	tu_mkfs(dev, 64u << 20);
	assert_true(tu_fsck_clean(dev));
	features = tu_capture("dumpe2fs -h '%s' 2>/dev/null | "
			      "sed -n 's/^Filesystem features: *//p'", dev);
	assert_non_null(strstr(features, "metadata_csum"));
	assert_non_null(strstr(features, "64bit"));
	assert_non_null(strstr(features, "has_journal"));
	assert_null(strstr(features, "orphan_file"));
	assert_null(strstr(features, "metadata_csum_seed"));
	free(features);
	unlink(dev);
}

struct stages {
	char inode_tables[64];	/* "N/M" last reported for that stage */
	unsigned calls, regressions;
	uint64_t last_done;
};

static void record(const char *stage, uint64_t done, uint64_t total,
		   void *arg)
{
	struct stages *s = arg;

	s->regressions += s->calls > 0 && done < s->last_done &&
			  done != 0;
	s->last_done = done;
	s->calls++;
	if (strcmp(stage, "Writing inode tables") == 0)
		snprintf(s->inode_tables, sizeof(s->inode_tables),
			 "%llu/%llu", (unsigned long long)done,
			 (unsigned long long)total);
}

/* mkfs.ext4's stages reach the callback, each ending at done == total:
 * 1 GiB is 8 block groups of 128 MiB. */
static void test_mkfs_reports_its_stages(void **state)
{
	const char *dev = tu_path("mkfs-progress.img");
	struct stages s = { .calls = 0 };

	(void)state;
	unlink(dev);
	assert_int_equal(sdx_mkfs(dev, 1u << 30, record, &s), 0);
	assert_string_equal(s.inode_tables, "8/8");
	assert_true(s.calls >= 2);
	assert_int_equal(s.regressions, 0);
	assert_true(tu_fsck_clean(dev));
	unlink(dev);
}

/* A failure of mkfs.ext4 carries its own sentence. */
static void test_mkfs_failure_says_why(void **state)
{
	(void)state;
	assert_int_equal(sdx_mkfs("/dev/null", 0, NULL, NULL), -EIO);
	assert_non_null(strstr(sdx_strerror_detail(), "mkfs.ext4 failed"));
	assert_non_null(strstr(sdx_strerror_detail(), "Device size reported "
			       "to be zero"));
}

static void test_mkfs_refuses_unaligned_size(void **state)
{
	const char *dev = tu_path("mkfs-bad.img");

	(void)state;
	unlink(dev);
	assert_int_equal(sdx_mkfs(dev, (64u << 20) + 100, NULL, NULL), -EINVAL);
	assert_int_equal(access(dev, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mkfs_image_is_clean_with_our_features),
		cmocka_unit_test(test_mkfs_refuses_unaligned_size),
		cmocka_unit_test(test_mkfs_reports_its_stages),
		cmocka_unit_test(test_mkfs_failure_says_why),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
