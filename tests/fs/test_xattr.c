/*
 * test_xattr.c - extended attributes where ext4 stores them: small values
 * in the inode, big ones in the external block, moved between the two as
 * they grow and shrink; the POSIX calls' contract (size 0 queries,
 * ERANGE, ENODATA, XATTR_CREATE/REPLACE, ENOSPC, E2BIG, EPERM for user.
 * on a symlink); values we write read by debugfs (ea_list, ea_get) and
 * values debugfs writes (ea_set) read by us; a block shared by two inodes
 * copied on write and freed when both are gone; POSIX ACLs converted to
 * and from ext4's form, the mode following them, chmod rewriting them,
 * new inodes inheriting a directory's default; corrupt entries refused
 * with EUCLEAN.  e2fsck -fn
 * is clean after every test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "syncdax.h"
#include "fs/ops.h"
#include "lib/crc32c.h"
#include "testutil.h"

static const char *dev;
static const char *scratch;	/* a host file for debugfs's -f */
static struct sdx_fs *fs;

static int setup(void **state)
{
	(void)state;
	dev = tu_path("xattr.img");
	scratch = tu_path("xattr.val");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(dev);
	unlink(scratch);
	return 0;
}

static int mount_fresh(void **state)
{
	(void)state;
	tu_mkfs(dev, 16u << 20);
	fs = tu_mount(dev, 0);
	return 0;
}

static void unmount(void)
{
	assert_int_equal(sdx_unmount(fs), 0);
	fs = NULL;
}

static int unmount_check(void **state)
{
	(void)state;
	if (fs)
		unmount();
	assert_true(tu_fsck_clean(dev));
	return 0;
}

static void make_file(const char *path)
{
	int fd = sdx_open(fs, path, O_CREAT | O_EXCL | O_WRONLY, 0644);

	if (fd < 0)
		fail_msg("create %s: %s", path, sdx_strerror_detail());
	assert_int_equal(sdx_close(fs, fd), 0);
}

static void set(const char *path, const char *name, const void *value,
		size_t size)
{
	if (sdx_setxattr(fs, path, name, value, size, 0))
		fail_msg("setxattr %s %s (%zu bytes): %s", path, name, size,
			 sdx_strerror_detail());
}

/* Assert that @name of @path holds @size bytes of @value. */
static void expect_xattr(const char *path, const char *name,
			 const void *value, size_t size)
{
	char buf[4096];
	ssize_t n = sdx_getxattr(fs, path, name, buf, sizeof(buf));

	if (n < 0)
		fail_msg("getxattr %s %s: %s (%s)", path, name,
			 strerror(errno), sdx_strerror_detail());
	assert_int_equal(n, size);
	assert_memory_equal(buf, value, size);
}

static long long st_blocks(const char *path)
{
	struct stat st;

	assert_int_equal(sdx_stat(fs, path, &st), 0);
	return (long long)st.st_blocks;
}

static void fill(char *buf, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(c + i % 23);
}

/* The File ACL block debugfs reports for @path (0: none). */
static unsigned long long debugfs_file_acl(const char *path)
{
	char *out = tu_capture("debugfs -R 'stat %s' '%s' 2>/dev/null | sed -n "
			       "'s/.*File ACL: \\([0-9]*\\).*/\\1/p'", path,
			       dev);
	unsigned long long b = strtoull(out, NULL, 10);

	free(out);
	return b;
}

static void test_small_values_live_in_the_inode(void **s)
{
	char list[256];
	char *out;

	(void)s;
	make_file("/f");
	set("/f", "user.a", "hello", 5);
	set("/f", "trusted.t", "T", 1);
	set("/f", "security.s", "", 0);
	expect_xattr("/f", "user.a", "hello", 5);
	expect_xattr("/f", "trusted.t", "T", 1);
	expect_xattr("/f", "security.s", "", 0);
	assert_int_equal(st_blocks("/f"), 0);	/* no block: in the inode */
	assert_int_equal(sdx_listxattr(fs, "/f", list, sizeof(list)),
			 sizeof("user.a") + sizeof("trusted.t") +
			 sizeof("security.s"));
	assert_memory_equal(list, "user.a\0trusted.t\0security.s", 27);
	unmount();
	assert_int_equal(debugfs_file_acl("/f"), 0);
	out = tu_capture("debugfs -R 'ea_list /f' '%s' 2>/dev/null", dev);
	assert_non_null(strstr(out, "user.a (5) = \"hello\""));
	assert_non_null(strstr(out, "trusted.t (1) = \"T\""));
	assert_non_null(strstr(out, "security.s (0)"));
	free(out);
}

static void test_big_value_goes_to_a_block_and_is_freed(void **s)
{
	char big[3000], *out;
	uint64_t free0;

	(void)s;
	make_file("/f");
	free0 = sdx_fs_free_blocks(fs);
	fill(big, sizeof(big), 'a');
	set("/f", "user.big", big, sizeof(big));
	expect_xattr("/f", "user.big", big, sizeof(big));
	assert_int_equal(st_blocks("/f"), 8);
	assert_int_equal(sdx_fs_free_blocks(fs), free0 - 1);
	/* bytes above 0x7f in a name: the hash e2fsck checks */
	set("/f", "user.caf\xc3\xa9", "\xff\x80", 2);
	expect_xattr("/f", "user.caf\xc3\xa9", "\xff\x80", 2);
	unmount();
	assert_true(debugfs_file_acl("/f") > 0);
	assert_true(tu_fsck_clean(dev));
	assert_int_equal(tu_sh("debugfs -R 'ea_get -f %s /f user.big' '%s' "
			       ">/dev/null 2>&1", scratch, dev), 0);
	out = tu_capture("cat '%s'", scratch);
	assert_memory_equal(out, big, sizeof(big));
	free(out);

	fs = tu_mount(dev, 0);
	expect_xattr("/f", "user.big", big, sizeof(big));
	assert_int_equal(sdx_removexattr(fs, "/f", "user.big"), 0);
	assert_int_equal(sdx_removexattr(fs, "/f", "user.caf\xc3\xa9"), 0);
	assert_int_equal(st_blocks("/f"), 0);
	assert_int_equal(sdx_fs_free_blocks(fs), free0);
	assert_int_equal(sdx_getxattr(fs, "/f", "user.big", NULL, 0), -1);
	assert_int_equal(errno, ENODATA);
	unmount();
	assert_int_equal(debugfs_file_acl("/f"), 0);
}

static void test_inode_full_spills_to_the_block(void **s)
{
	char name[16];

	(void)s;
	make_file("/f");
	/* 96 bytes after 32 extra: three of 20 + 8 bytes fit, not four */
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "user.%c", 'a' + i);
		set("/f", name, "12345", 5);
	}
	assert_int_equal(st_blocks("/f"), 0);
	set("/f", "user.d", "12345", 5);
	assert_int_equal(st_blocks("/f"), 8);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "user.%c", 'a' + i);
		expect_xattr("/f", name, "12345", 5);
	}
	/* room again in the inode: a replaced value moves there */
	assert_int_equal(sdx_removexattr(fs, "/f", "user.a"), 0);
	set("/f", "user.d", "67890", 5);
	expect_xattr("/f", "user.d", "67890", 5);
	assert_int_equal(st_blocks("/f"), 0);
}

static void test_replace_grows_into_the_block_and_shrinks_back(void **s)
{
	char big[2500];
	char list[64];

	(void)s;
	make_file("/f");
	fill(big, sizeof(big), 'k');
	set("/f", "user.x", "small", 5);
	assert_int_equal(st_blocks("/f"), 0);
	assert_int_equal(sdx_setxattr(fs, "/f", "user.x", big, sizeof(big),
				      XATTR_REPLACE), 0);
	expect_xattr("/f", "user.x", big, sizeof(big));
	assert_int_equal(st_blocks("/f"), 8);
	assert_int_equal(sdx_listxattr(fs, "/f", list, sizeof(list)), 7);
	set("/f", "user.x", big, 1000);		/* still only in the block */
	expect_xattr("/f", "user.x", big, 1000);
	set("/f", "user.x", "tiny", 4);
	expect_xattr("/f", "user.x", "tiny", 4);
	assert_int_equal(st_blocks("/f"), 0);
	assert_int_equal(sdx_listxattr(fs, "/f", list, sizeof(list)), 7);
	assert_memory_equal(list, "user.x", 7);
}

static void test_create_and_replace_flags(void **s)
{
	(void)s;
	make_file("/f");
	assert_int_equal(sdx_setxattr(fs, "/f", "user.x", "1", 1,
				      XATTR_REPLACE), -1);
	assert_int_equal(errno, ENODATA);
	assert_int_equal(sdx_setxattr(fs, "/f", "user.x", "1", 1,
				      XATTR_CREATE), 0);
	assert_int_equal(sdx_setxattr(fs, "/f", "user.x", "2", 1,
				      XATTR_CREATE), -1);
	assert_int_equal(errno, EEXIST);
	expect_xattr("/f", "user.x", "1", 1);
	assert_int_equal(sdx_setxattr(fs, "/f", "user.x", "2", 1,
				      XATTR_REPLACE), 0);
	expect_xattr("/f", "user.x", "2", 1);
	assert_int_equal(sdx_removexattr(fs, "/f", "user.y"), -1);
	assert_int_equal(errno, ENODATA);
	assert_int_equal(sdx_setxattr(fs, "/f", "user.x", "2", 1, 0x10), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_size_zero_queries_and_erange(void **s)
{
	char buf[8];

	(void)s;
	make_file("/f");
	set("/f", "user.long", "0123456789", 10);
	set("/f", "user.b", "x", 1);
	assert_int_equal(sdx_getxattr(fs, "/f", "user.long", NULL, 0), 10);
	assert_int_equal(sdx_getxattr(fs, "/f", "user.long", buf, 8), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(sdx_listxattr(fs, "/f", NULL, 0), 17);
	assert_int_equal(sdx_listxattr(fs, "/f", buf, 8), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(sdx_getxattr(fs, "/f", "user.none", buf, 8), -1);
	assert_int_equal(errno, ENODATA);
}

static void test_names_and_sizes_refused_as_linux_does(void **s)
{
	static char huge[70000];
	char name[300], big[5000];
	int n;

	(void)s;
	make_file("/f");
	memset(name, 'n', sizeof(name) - 1);
	memcpy(name, "user.", 5);
	name[256] = '\0';
	assert_int_equal(sdx_setxattr(fs, "/f", name, "v", 1, 0), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(sdx_setxattr(fs, "/f", "user.", "v", 1, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sdx_setxattr(fs, "/f", "system.foo", "v", 1, 0), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(sdx_setxattr(fs, "/f", "other.x", "v", 1, 0), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(sdx_setxattr(fs, "/f", "user.huge", huge,
				      sizeof(huge), 0), -1);
	assert_int_equal(errno, E2BIG);
	memset(big, 'b', sizeof(big));
	assert_int_equal(sdx_setxattr(fs, "/f", "user.big", big, sizeof(big),
				      0), -1);
	assert_int_equal(errno, ENOSPC);
	/* fill the inode and the block until nothing more fits */
	for (n = 0; n < 10; n++) {
		snprintf(name, sizeof(name), "user.fill%d", n);
		if (sdx_setxattr(fs, "/f", name, big, 1000, 0))
			break;
	}
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(n, 3);		/* 3 of 24 + 1000 in 4064, not 4 */
	assert_int_equal(sdx_listxattr(fs, "/f", NULL, 0), 3 * 11);
}

static void test_user_attributes_on_a_symlink_and_lutimens(void **s)
{
	struct timespec t[2] = { { 1000000000, 5 }, { 1000000000, 7 } };
	struct stat st, target;

	(void)s;
	make_file("/f");
	assert_int_equal(sdx_symlink(fs, "f", "/l"), 0);
	assert_int_equal(sdx_lsetxattr(fs, "/l", "user.x", "1", 1, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(sdx_lgetxattr(fs, "/l", "user.x", NULL, 0), -1);
	assert_int_equal(errno, ENODATA);
	assert_int_equal(sdx_lsetxattr(fs, "/l", "trusted.x", "1", 1, 0), 0);
	assert_int_equal(sdx_lgetxattr(fs, "/l", "trusted.x", NULL, 0), 1);
	assert_int_equal(sdx_llistxattr(fs, "/l", NULL, 0), 10);
	assert_int_equal(sdx_listxattr(fs, "/l", NULL, 0), 0);	/* /f's */
	/* through the link: the target's attributes */
	assert_int_equal(sdx_setxattr(fs, "/l", "user.y", "2", 1, 0), 0);
	expect_xattr("/f", "user.y", "2", 1);
	assert_int_equal(sdx_lremovexattr(fs, "/l", "trusted.x"), 0);
	assert_int_equal(sdx_llistxattr(fs, "/l", NULL, 0), 0);

	assert_int_equal(sdx_stat(fs, "/f", &target), 0);
	assert_int_equal(sdx_lutimens(fs, "/l", t), 0);
	assert_int_equal(sdx_lstat(fs, "/l", &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	assert_int_equal(st.st_mtim.tv_nsec, 7);
	assert_int_equal(st.st_atim.tv_nsec, 5);
	assert_int_equal(sdx_stat(fs, "/f", &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, target.st_mtim.tv_sec);
	assert_int_equal(st.st_mtim.tv_nsec, target.st_mtim.tv_nsec);
}

static void test_values_set_by_debugfs_are_read(void **s)
{
	char big[2000];
	FILE *f;

	(void)s;
	unmount();
	fill(big, sizeof(big), 'q');
	f = fopen(scratch, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(big, 1, sizeof(big), f), sizeof(big));
	fclose(f);
	assert_int_equal(tu_sh("debugfs -w -f - '%s' >/dev/null 2>&1 <<EOF\n"
			       "write /dev/null f\nea_set f user.small hi\n"
			       "ea_set -f %s f user.big\n"
			       "ea_set f trusted.t tv\nEOF", dev, scratch), 0);
	assert_true(debugfs_file_acl("/f") > 0);
	fs = tu_mount(dev, 0);
	expect_xattr("/f", "user.small", "hi", 2);
	expect_xattr("/f", "user.big", big, sizeof(big));
	expect_xattr("/f", "trusted.t", "tv", 2);
	assert_int_equal(sdx_listxattr(fs, "/f", NULL, 0),
			 sizeof("user.small") + sizeof("user.big") +
			 sizeof("trusted.t"));
	/* and we change them where debugfs put them */
	set("/f", "user.big", "now small", 9);
	assert_int_equal(sdx_removexattr(fs, "/f", "user.small"), 0);
	unmount();
	assert_true(tu_fsck_clean(dev));
	assert_int_equal(tu_sh("debugfs -R 'ea_list /f' '%s' 2>/dev/null | "
			       "grep -q 'user.big (9) = \"now small\"'", dev),
			 0);
}

/*
 * /f1 and /f2 share one attribute block holding user.big = @big (2000
 * bytes), refcount 2: /f1's block given to /f2 by debugfs, the refcount
 * set by e2fsck.  Remounted; returns the block, *@free0 the free blocks
 * before it was allocated.
 */
static unsigned long long make_shared_block(char *big, uint64_t *free0)
{
	unsigned long long shared;

	make_file("/f1");
	make_file("/f2");
	*free0 = sdx_fs_free_blocks(fs);
	set("/f1", "user.big", big, 2000);
	unmount();
	shared = debugfs_file_acl("/f1");
	assert_true(shared > 0);
	assert_int_equal(tu_sh("debugfs -w -f - '%s' >/dev/null 2>&1 <<EOF\n"
			       "sif /f2 file_acl %llu\nsif /f2 blocks 8\nEOF",
			       dev, shared), 0);
	tu_sh("e2fsck -fy '%s' >/dev/null 2>&1", dev);
	assert_true(tu_fsck_clean(dev));
	fs = tu_mount(dev, 0);
	return shared;
}

static void test_shared_block_is_copied_on_write_and_freed(void **s)
{
	char big[2000], other[1500];
	unsigned long long shared;
	uint64_t free0;

	(void)s;
	fill(big, sizeof(big), 's');
	shared = make_shared_block(big, &free0);
	expect_xattr("/f2", "user.big", big, sizeof(big));
	fill(other, sizeof(other), 'o');
	set("/f1", "user.other", other, sizeof(other));
	expect_xattr("/f1", "user.other", other, sizeof(other));
	expect_xattr("/f1", "user.big", big, sizeof(big));
	assert_int_equal(sdx_getxattr(fs, "/f2", "user.other", NULL, 0), -1);
	assert_int_equal(errno, ENODATA);
	assert_int_equal(st_blocks("/f1"), 8);
	assert_int_equal(st_blocks("/f2"), 8);
	unmount();
	assert_true(tu_fsck_clean(dev));
	assert_int_equal(debugfs_file_acl("/f2"), shared);
	assert_true(debugfs_file_acl("/f1") != shared);

	fs = tu_mount(dev, 0);
	/* the last attribute of the sharer goes: its reference only */
	assert_int_equal(sdx_removexattr(fs, "/f2", "user.big"), 0);
	expect_xattr("/f1", "user.big", big, sizeof(big));
	assert_int_equal(sdx_unlink(fs, "/f1"), 0);
	assert_int_equal(sdx_fs_free_blocks(fs), free0);
	unmount();
}

static void test_shared_block_freed_at_last_unlink(void **s)
{
	char big[2000];
	uint64_t free0;

	(void)s;
	fill(big, sizeof(big), 'u');
	make_shared_block(big, &free0);
	assert_int_equal(sdx_unlink(fs, "/f1"), 0);
	assert_int_equal(sdx_fs_free_blocks(fs), free0 - 1);
	expect_xattr("/f2", "user.big", big, sizeof(big));
	assert_int_equal(sdx_unlink(fs, "/f2"), 0);
	assert_int_equal(sdx_fs_free_blocks(fs), free0);
	unmount();
}

/* posix_acl_xattr entries: tag, perm, id. */
static size_t acl(uint8_t *buf, const uint16_t (*e)[2], const uint32_t *ids,
		  int n)
{
	uint32_t version = 2;

	memcpy(buf, &version, 4);
	for (int i = 0; i < n; i++) {
		memcpy(buf + 4 + 8 * i, e[i], 4);
		memcpy(buf + 8 + 8 * i, &ids[i], 4);
	}
	return 4 + 8 * (size_t)n;
}

static void test_posix_acls_round_trip_in_ext4_form(void **s)
{
	static const uint16_t full[][2] = {
		{ 0x01, 6 }, { 0x02, 4 }, { 0x04, 4 }, { 0x10, 5 }, { 0x20, 0 },
	};
	static const uint32_t full_ids[] = { ~0u, 1000, ~0u, ~0u, ~0u };
	static const uint16_t plain[][2] = {
		{ 0x01, 7 }, { 0x04, 5 }, { 0x20, 1 },
	};
	static const uint32_t plain_ids[] = { ~0u, ~0u, ~0u };
	uint8_t buf[64], disk[64];
	size_t n;
	char *out;

	(void)s;
	make_file("/f");
	assert_int_equal(sdx_mkdir(fs, "/d", 0755), 0);
	n = acl(buf, full, full_ids, 5);
	set("/f", "system.posix_acl_access", buf, n);
	expect_xattr("/f", "system.posix_acl_access", buf, n);
	assert_int_equal(st_blocks("/f"), 0);
	{
		struct stat st;

		assert_int_equal(sdx_stat(fs, "/f", &st), 0);
		assert_int_equal(st.st_mode & 0777, 0650);	/* mask: g */
	}
	assert_int_equal(sdx_listxattr(fs, "/f", (char *)disk, sizeof(disk)),
			 sizeof("system.posix_acl_access"));
	/* an ACL the mode says all of is not stored: the mode is set */
	n = acl(buf, plain, plain_ids, 3);
	set("/f", "system.posix_acl_access", buf, n);
	assert_int_equal(sdx_getxattr(fs, "/f", "system.posix_acl_access",
				      NULL, 0), -1);
	assert_int_equal(errno, ENODATA);
	{
		struct stat st;

		assert_int_equal(sdx_stat(fs, "/f", &st), 0);
		assert_int_equal(st.st_mode & 0777, 0751);
	}
	/* chmod rewrites the owner, mask and other entries (posix_acl_chmod) */
	n = acl(buf, full, full_ids, 5);
	set("/f", "system.posix_acl_access", buf, n);
	assert_int_equal(sdx_chmod(fs, "/f", 0704), 0);
	assert_int_equal(sdx_getxattr(fs, "/f", "system.posix_acl_access",
				      disk, sizeof(disk)), n);
	buf[4 + 2] = 7;		/* user:: rwx */
	buf[4 + 3 * 8 + 2] = 0;	/* mask:: --- */
	buf[4 + 4 * 8 + 2] = 4;	/* other:: r-- */
	assert_memory_equal(disk, buf, n);
	/* defaults only on directories; bad ACLs refused */
	assert_int_equal(sdx_setxattr(fs, "/f", "system.posix_acl_default",
				      buf, n, 0), -1);
	assert_int_equal(errno, EACCES);
	n = acl(buf, full, full_ids, 5);
	set("/d", "system.posix_acl_default", buf, n);
	expect_xattr("/d", "system.posix_acl_default", buf, n);
	n = acl(buf, full + 1, full_ids + 1, 4);	/* no USER_OBJ */
	assert_int_equal(sdx_setxattr(fs, "/d", "system.posix_acl_access",
				      buf, n, 0), -1);
	assert_int_equal(errno, EINVAL);
	unmount();
	/* e2fsprogs reads ext4's form back into the xattr form */
	out = tu_capture("debugfs -R 'ea_list /d' '%s' 2>/dev/null", dev);
	assert_non_null(strstr(out, "system.posix_acl_default"));
	free(out);
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(sdx_lstat(fs, path, &st), 0);
	return st.st_mode & 07777;
}

/* Symlinks have no ACLs in Linux (no set_acl): EOPNOTSUPP, mode kept. */
static void test_acl_on_a_symlink_is_not_supported(void **s)
{
	static const uint16_t entries[][2] = {
		{ 0x01, 7 }, { 0x04, 0 }, { 0x20, 0 },
	};
	static const uint32_t ids[] = { ~0u, ~0u, ~0u };
	uint8_t buf[64];
	size_t n = acl(buf, entries, ids, 3);

	(void)s;
	make_file("/f");
	assert_int_equal(sdx_symlink(fs, "f", "/l"), 0);
	assert_int_equal(sdx_lsetxattr(fs, "/l", "system.posix_acl_access",
				       buf, n, 0), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(mode_of("/l") & 07777, 0777);
	assert_int_equal(sdx_llistxattr(fs, "/l", NULL, 0), 0);
}

static void test_default_acl_is_inherited_as_linux_does(void **s)
{
	static const uint16_t def[][2] = {
		{ 0x01, 7 }, { 0x02, 6 }, { 0x04, 5 }, { 0x10, 7 }, { 0x20, 5 },
	};
	static const uint32_t def_ids[] = { ~0u, 1000, ~0u, ~0u, ~0u };
	static const uint16_t plain[][2] = {
		{ 0x01, 7 }, { 0x04, 5 }, { 0x20, 0 },
	};
	static const uint32_t plain_ids[] = { ~0u, ~0u, ~0u };
	uint8_t buf[64], got[64];
	size_t n;
	int fd;

	(void)s;
	assert_int_equal(sdx_mkdir(fs, "/d", 0755), 0);
	n = acl(buf, def, def_ids, 5);
	set("/d", "system.posix_acl_default", buf, n);
	/* a file: the default masked by 0640 (mask r--), mode 0640 */
	fd = sdx_open(fs, "/d/f", O_CREAT | O_WRONLY, 0640);
	assert_true(fd >= 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(mode_of("/d/f"), 0640);
	assert_int_equal(sdx_getxattr(fs, "/d/f", "system.posix_acl_access",
				      got, sizeof(got)), n);
	buf[4 + 2] = 6;			/* user:: rw- */
	buf[4 + 3 * 8 + 2] = 4;		/* mask:: r-- */
	buf[4 + 4 * 8 + 2] = 0;		/* other:: --- */
	assert_memory_equal(got, buf, n);
	assert_int_equal(sdx_getxattr(fs, "/d/f", "system.posix_acl_default",
				      NULL, 0), -1);
	assert_int_equal(errno, ENODATA);
	/* a directory also inherits the default itself */
	assert_int_equal(sdx_mkdir(fs, "/d/sub", 0777), 0);
	assert_int_equal(mode_of("/d/sub"), 0775);
	n = acl(buf, def, def_ids, 5);
	expect_xattr("/d/sub", "system.posix_acl_default", buf, n);
	expect_xattr("/d/sub", "system.posix_acl_access", buf, n);
	/* a symlink gets none */
	assert_int_equal(sdx_symlink(fs, "f", "/d/l"), 0);
	assert_int_equal(sdx_llistxattr(fs, "/d/l", NULL, 0), 0);
	/* a default the mode says all of: only the mode */
	n = acl(buf, plain, plain_ids, 3);
	set("/d/sub", "system.posix_acl_default", buf, n);
	fd = sdx_open(fs, "/d/sub/g", O_CREAT | O_WRONLY, 0666);
	assert_true(fd >= 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(mode_of("/d/sub/g"), 0640);
	assert_int_equal(sdx_listxattr(fs, "/d/sub/g", NULL, 0), 0);
}

/* Rewrite bytes of @block in a handle, with a valid checksum after. */
static void corrupt_block(uint64_t block, size_t off, const void *bytes,
			  size_t n)
{
	struct sdx_handle *h;
	uint32_t c, zero = 0;
	uint8_t *data;
	void *b;

	pthread_mutex_lock(&fs->lock);
	assert_int_equal(sdx_fs_start(fs, 4, &h), 0);
	assert_int_equal(sdx_journal_get_write_access(h, block, &b), 0);
	data = b;
	memcpy(data + off, bytes, n);
	c = sdx_crc32c(fs->csum_seed, &block, 8);
	c = sdx_crc32c(c, data, 16);
	c = sdx_crc32c(c, &zero, 4);
	c = sdx_crc32c(c, data + 20, 4096 - 20);
	memcpy(data + 16, &c, 4);
	sdx_journal_dirty_metadata(h, block);
	assert_int_equal(sdx_journal_stop(h), 0);
	pthread_mutex_unlock(&fs->lock);
}

/* Rewrite bytes of @path's in-inode attribute area (valid checksum). */
static void corrupt_ibody(const char *path, size_t off, const void *bytes,
			  size_t n)
{
	struct sdx_inode *inode;
	struct sdx_handle *h;
	uint8_t *rec;

	pthread_mutex_lock(&fs->lock);
	assert_int_equal(sdx_namei(fs, path, 0, &inode), 0);
	assert_int_equal(sdx_fs_start(fs, 4, &h), 0);
	assert_int_equal(sdx_inode_record_write(h, inode, &rec), 0);
	memcpy(rec + 128 + inode->raw.i_extra_isize + off, bytes, n);
	assert_int_equal(sdx_inode_mark_dirty(h, inode), 0);
	assert_int_equal(sdx_journal_stop(h), 0);
	sdx_iput(inode);
	pthread_mutex_unlock(&fs->lock);
}

static void expect_euclean(const char *path)
{
	char buf[4096];

	assert_int_equal(sdx_getxattr(fs, path, "user.x", buf, sizeof(buf)),
			 -1);
	assert_int_equal(errno, EUCLEAN);
	assert_int_equal(sdx_listxattr(fs, path, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EUCLEAN);
	assert_int_equal(sdx_setxattr(fs, path, "user.y", "1", 1, 0), -1);
	assert_int_equal(errno, EUCLEAN);
	assert_non_null(strstr(sdx_strerror_detail(), "extended attribute"));
}

static void test_corrupt_entries_are_euclean(void **s)
{
	/* block entry at 32: name_len 1, index 1, offs, inum, size, hash */
	static const struct {
		size_t off;
		uint8_t bytes[4];
		size_t n;
	} bad[] = {
		{ 32 + 2, { 0xF0, 0x0F }, 2 },		/* value past the end */
		{ 32 + 8, { 0, 0, 1, 0 }, 4 },		/* size 65536 */
		{ 32 + 2, { 0x10, 0 }, 2 },		/* value on the entries */
		{ 32 + 4, { 1 }, 1 },			/* an ea_inode value */
		{ 32 + 0, { 0xFF }, 1 },		/* a name with NULs */
	};
	char big[2000];
	uint64_t block;
	int i;

	(void)s;
	fill(big, sizeof(big), 'c');
	for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		char path[16];
		struct sdx_inode *inode;

		snprintf(path, sizeof(path), "/b%d", i);
		make_file(path);
		set(path, "user.x", big, sizeof(big));
		pthread_mutex_lock(&fs->lock);
		assert_int_equal(sdx_namei(fs, path, 0, &inode), 0);
		block = inode->raw.i_file_acl_lo;
		sdx_iput(inode);
		pthread_mutex_unlock(&fs->lock);
		corrupt_block(block, bad[i].off, bad[i].bytes, bad[i].n);
		expect_euclean(path);
	}
	/* in the inode: a value offset past the area, a NUL name */
	make_file("/i1");
	set("/i1", "user.x", "12345", 5);
	corrupt_ibody("/i1", 4 + 2, (uint8_t[]){ 0x80, 0 }, 2);
	expect_euclean("/i1");
	make_file("/i2");
	set("/i2", "user.x", "12345", 5);
	corrupt_ibody("/i2", 4 + 20, (uint8_t[]){ 1, 1, 0, 0 }, 4);
	expect_euclean("/i2");
	/* the image is corrupt on purpose: no e2fsck afterwards */
	unmount();
	tu_mkfs(dev, 16u << 20);
}

/* Write /fill until the device has no free block left. */
static void fill_device(void)
{
	static char chunk[64 * 1024];
	int fd = sdx_open(fs, "/fill", O_CREAT | O_WRONLY, 0644);
	off_t off = 0;
	ssize_t r;

	assert_true(fd >= 0);
	while ((r = sdx_pwrite(fs, fd, chunk, sizeof(chunk), off)) > 0)
		off += r;
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(sdx_close(fs, fd), 0);
}

static void test_enospc_for_the_block_keeps_the_old_value(void **s)
{
	char big[3000];

	(void)s;
	make_file("/f");
	set("/f", "user.x", "small", 5);
	fill_device();
	fill(big, sizeof(big), 'e');
	/* the value moves from the inode to a block there is no room for */
	assert_int_equal(sdx_setxattr(fs, "/f", "user.x", big, sizeof(big),
				      0), -1);
	assert_int_equal(errno, ENOSPC);
	expect_xattr("/f", "user.x", "small", 5);
	unmount();
	fs = tu_mount(dev, 0);
	expect_xattr("/f", "user.x", "small", 5);
}

static void test_read_only_mount_refuses_changes(void **s)
{
	(void)s;
	make_file("/f");
	set("/f", "user.x", "1", 1);
	unmount();
	fs = tu_mount(dev, SDX_MOUNT_RDONLY);
	expect_xattr("/f", "user.x", "1", 1);
	assert_int_equal(sdx_setxattr(fs, "/f", "user.x", "2", 1, 0), -1);
	assert_int_equal(errno, EROFS);
	assert_int_equal(sdx_removexattr(fs, "/f", "user.x"), -1);
	assert_int_equal(errno, EROFS);
}

#define T(f) cmocka_unit_test_setup_teardown(f, mount_fresh, unmount_check)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_small_values_live_in_the_inode),
		T(test_big_value_goes_to_a_block_and_is_freed),
		T(test_inode_full_spills_to_the_block),
		T(test_replace_grows_into_the_block_and_shrinks_back),
		T(test_create_and_replace_flags),
		T(test_size_zero_queries_and_erange),
		T(test_names_and_sizes_refused_as_linux_does),
		T(test_user_attributes_on_a_symlink_and_lutimens),
		T(test_values_set_by_debugfs_are_read),
		T(test_shared_block_is_copied_on_write_and_freed),
		T(test_shared_block_freed_at_last_unlink),
		T(test_posix_acls_round_trip_in_ext4_form),
		T(test_default_acl_is_inherited_as_linux_does),
		T(test_corrupt_entries_are_euclean),
		T(test_read_only_mount_refuses_changes),
		T(test_enospc_for_the_block_keeps_the_old_value),
		T(test_acl_on_a_symlink_is_not_supported),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
