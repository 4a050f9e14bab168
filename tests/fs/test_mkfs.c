/*
 * test_mkfs.c - sdx_mkfs makes an image e2fsck calls clean, with exactly the
 * feature set syncdax maintains, and refuses bad sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void test_mkfs_refuses_unaligned_size(void **state)
{
	const char *dev = tu_path("mkfs-bad.img");

	(void)state;
	unlink(dev);
	assert_int_equal(sdx_mkfs(dev, (64u << 20) + 100), -EINVAL);
	assert_int_equal(access(dev, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mkfs_image_is_clean_with_our_features),
		cmocka_unit_test(test_mkfs_refuses_unaligned_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
