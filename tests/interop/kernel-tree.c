/*
 * kernel-tree.c - the host side of tests/interop/test_kernel.sh: fills
 * images through syncdax for the Linux kernel to read, leaves crash states
 * for it to recover, and prints syncdax's view of any image as a manifest
 * to compare with the kernel's.  Built by the test with cc against the
 * build's libsyncdax.a (it is not a cmocka test).
 *
 *   kernel-tree fill IMAGE      every kind of inode, extent, tree and
 *                               attribute ext4 has that syncdax writes,
 *                               also through a MAP_SYNC mapping and defrag
 *   kernel-tree crash IMAGE     a child commits work (fsync) and is killed
 *                               with SIGKILL: the journal needs recovery
 *   kernel-tree orphan IMAGE    a child unlinks a file it holds open,
 *                               commits, and is killed: an orphan is left
 *   kernel-tree modify IMAGE    change the tree the kernel wrote (the
 *                               guest's kernel-init)
 *   kernel-tree manifest IMAGE  mount (replaying), print one line per path
 *
 * Manifest line (the guest's init prints the same from the kernel's view
 * with busybox stat, sha256sum, readlink and getfattr; the test sorts):
 *   ./PATH|MODE(hex)|INO|UID|GID|SIZE|BLOCKS|NLINK|MTIME +0000|
 *   CTIME +0000|SHA256|LINK|XATTRS
 * with "-" for a hash of a non-file, a link of a non-symlink and no
 * attributes; XATTRS is name=0xHEX,... in name order.
 *
 * Exit status: 0, 1 when a syncdax call failed (its detail on stderr),
 * 2 for a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "syncdax.h"

#define BLK 4096
#define HTREE_ENTRIES 400	/* well over one 4 KiB directory block */
#define HTREE2_ENTRIES 9000	/* over 507 leaf blocks: two index levels */
#define EXTENT_BLOCKS 4000	/* every other one written: 2000 extents, depth 2 */

static const char *image;

/* A failed call: say which and why, exit 1 (the test reports it). */
static void die(const char *what, const char *path)
{
	fprintf(stderr, "kernel-tree: %s %s: %s (%s)\n", what, path,
		strerror(errno), sdx_strerror_detail());
	exit(1);
}

static struct sdx_fs *mount_image(void)
{
	struct sdx_fs *fs = sdx_mount(image, 0);

	if (fs == NULL)
		die("mount", image);
	return fs;
}

/* Byte @i of the pattern of file @seed: differs per file and per block. */
static unsigned char pattern(unsigned seed, uint64_t i)
{
	return (unsigned char)(seed * 131 + i / BLK * 7 + i % 251);
}

/* Write @len pattern bytes at @off of the open file @fd. */
static void write_pattern(struct sdx_fs *fs, int fd, const char *path,
			  unsigned seed, off_t off, size_t len)
{
	static unsigned char buf[1 << 20];
	size_t done, n, i;

	for (done = 0; done < len; done += n) {
		n = len - done < sizeof(buf) ? len - done : sizeof(buf);
		for (i = 0; i < n; i++)
			buf[i] = pattern(seed, (uint64_t)off + done + i);
		if (sdx_pwrite(fs, fd, buf, n, off + (off_t)done) != (ssize_t)n)
			die("write", path);
	}
}

/* Create @path with @len pattern bytes; the descriptor stays open. */
static int create_file(struct sdx_fs *fs, const char *path, unsigned seed,
		       size_t len)
{
	int fd = sdx_open(fs, path, O_CREAT | O_RDWR | O_TRUNC, 0644);

	if (fd < 0)
		die("create", path);
	write_pattern(fs, fd, path, seed, 0, len);
	return fd;
}

static void put_file(struct sdx_fs *fs, const char *path, unsigned seed,
		     size_t len)
{
	if (sdx_close(fs, create_file(fs, path, seed, len)))
		die("close", path);
}

static void make_dir(struct sdx_fs *fs, const char *path)
{
	if (sdx_mkdir(fs, path, 0755))
		die("mkdir", path);
}

static void set_xattr(struct sdx_fs *fs, const char *path, const char *name,
		      const void *value, size_t size)
{
	if (sdx_lsetxattr(fs, path, name, value, size, 0))
		die("setxattr", path);
}

static void set_mtime(struct sdx_fs *fs, const char *path, time_t sec,
		      long nsec)
{
	struct timespec t[2] = { { sec, nsec }, { sec, nsec } };

	if (sdx_lutimens(fs, path, t))
		die("utimens", path);
}

/*
 * An access ACL in Linux's xattr form (<linux/posix_acl_xattr.h>): version
 * 2, then (tag, perm, id) entries sorted by tag and id.
 */
static size_t posix_acl(unsigned char *buf)
{
	static const struct { uint16_t tag, perm; uint32_t id; } e[] = {
		{ 0x01, 7, 0xffffffff },	/* ACL_USER_OBJ rwx */
		{ 0x02, 5, 1000 },		/* ACL_USER 1000 r-x */
		{ 0x04, 4, 0xffffffff },	/* ACL_GROUP_OBJ r-- */
		{ 0x08, 6, 2000 },		/* ACL_GROUP 2000 rw- */
		{ 0x10, 7, 0xffffffff },	/* ACL_MASK rwx */
		{ 0x20, 4, 0xffffffff },	/* ACL_OTHER r-- */
	};
	size_t i, n = 4;

	memcpy(buf, "\x02\0\0\0", 4);
	for (i = 0; i < sizeof(e) / sizeof(e[0]); i++, n += 8) {
		buf[n] = e[i].tag & 0xff;
		buf[n + 1] = e[i].tag >> 8;
		buf[n + 2] = e[i].perm & 0xff;
		buf[n + 3] = e[i].perm >> 8;
		memcpy(buf + n + 4, "\xff\xff\xff\xff", 4);
		if (e[i].id != 0xffffffff) {
			buf[n + 4] = e[i].id & 0xff;
			buf[n + 5] = (e[i].id >> 8) & 0xff;
			buf[n + 6] = (e[i].id >> 16) & 0xff;
			buf[n + 7] = e[i].id >> 24;
		}
	}
	return n;
}

/* /mapped: 1 MiB stored through a MAP_SHARED_VALIDATE|MAP_SYNC mapping. */
static void map_file(struct sdx_fs *fs)
{
	const size_t len = 1 << 20;
	unsigned char *p;
	size_t i;
	int fd;

	fd = sdx_open(fs, "/mapped", O_CREAT | O_RDWR, 0644);
	if (fd < 0 || sdx_ftruncate(fs, fd, (off_t)len))
		die("create", "/mapped");
	p = sdx_mmap(fs, NULL, len, PROT_READ | PROT_WRITE,
		     MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
	if (p == MAP_FAILED)
		die("mmap", "/mapped");
	for (i = 0; i < len; i += 3)
		p[i] = pattern(19, i);
	sdx_persist(p, len);
	if (sdx_munmap(p, len) || sdx_close(fs, fd))
		die("munmap", "/mapped");
}

static void fill(void)
{
	struct sdx_fs *fs = mount_image();
	unsigned char acl[64], big[1500];
	char path[300], target[260];
	unsigned flags;
	int fd, keep, i;

	/* Nested directories, a file at the bottom, hard links to it. */
	make_dir(fs, "/a");
	make_dir(fs, "/a/b");
	make_dir(fs, "/a/b/c");
	make_dir(fs, "/a/b/c/d");
	put_file(fs, "/a/b/c/d/file", 1, 10000);
	if (sdx_link(fs, "/a/b/c/d/file", "/a/hard") ||
	    sdx_link(fs, "/a/b/c/d/file", "/hard2"))
		die("link", "/a/b/c/d/file");

	/* An htree directory: hundreds of entries. */
	make_dir(fs, "/htree");
	for (i = 0; i < HTREE_ENTRIES; i++) {
		snprintf(path, sizeof(path), "/htree/entry-%04d-%s", i,
			 "with-a-longer-name-to-fill-blocks");
		put_file(fs, path, 100 + i, (size_t)i % 7 * 100);
	}

	/* A two-level htree: names of 251 bytes, ~15 to a block. */
	make_dir(fs, "/htree2");
	for (i = 0; i < HTREE2_ENTRIES; i++) {
		snprintf(path, sizeof(path), "/htree2/%05d-%0245d", i, i);
		put_file(fs, path, 0, 0);
	}

	/* A deep extent tree: every other block written. */
	fd = sdx_open(fs, "/extents", O_CREAT | O_RDWR, 0644);
	if (fd < 0)
		die("create", "/extents");
	for (i = 0; i < EXTENT_BLOCKS; i += 2)
		write_pattern(fs, fd, "/extents", 2, (off_t)i * BLK, BLK);
	sdx_close(fs, fd);

	/* Sparse: a block at 0 and at 40 MiB, the size beyond both. */
	fd = create_file(fs, "/sparse", 3, BLK);
	write_pattern(fs, fd, "/sparse", 3, 40 << 20, BLK);
	if (sdx_ftruncate(fs, fd, 50 << 20))
		die("truncate", "/sparse");
	sdx_close(fs, fd);

	put_file(fs, "/big", 4, 24 << 20);

	/* Fast (in i_block) and slow (a block) symlinks. */
	if (sdx_symlink(fs, "a/b/c/d/file", "/fastlink"))
		die("symlink", "/fastlink");
	memset(target, 'x', 250);
	target[250] = 0;
	memcpy(target, "a/", 2);
	if (sdx_symlink(fs, target, "/slowlink"))
		die("symlink", "/slowlink");

	/* Symlinks at the fast/slow boundary (59 and 60 bytes); names of
	 * 255 bytes, with a space, with UTF-8; 32-bit owners. */
	memset(target, 'y', 60);
	target[59] = 0;
	if (sdx_symlink(fs, target, "/link59"))
		die("symlink", "/link59");
	target[59] = 'y';
	target[60] = 0;
	if (sdx_symlink(fs, target, "/link60"))
		die("symlink", "/link60");
	memset(path, 'n', 256);
	path[0] = '/';
	path[256] = 0;
	put_file(fs, path, 24, 255);
	put_file(fs, "/with space", 25, 3);
	put_file(fs, "/utf8-\xc3\xa9t\xc3\xa9", 26, 4);
	if (sdx_chown(fs, "/with space", 100000, 200000))
		die("chown", "/with space");

	/* Shifted extents: COLLAPSE_RANGE then INSERT_RANGE. */
	fd = create_file(fs, "/shifted", 5, 64 * BLK);
	if (sdx_fallocate(fs, fd, FALLOC_FL_COLLAPSE_RANGE, 16 * BLK,
			  8 * BLK) ||
	    sdx_fallocate(fs, fd, FALLOC_FL_INSERT_RANGE, 4 * BLK, 4 * BLK))
		die("fallocate", "/shifted");
	write_pattern(fs, fd, "/shifted", 6, 5 * BLK, 100);
	sdx_close(fs, fd);

	/* Attributes in the inode, in the block, and a POSIX ACL. */
	put_file(fs, "/xattr-inode", 7, 100);
	set_xattr(fs, "/xattr-inode", "user.small", "abc", 3);
	set_xattr(fs, "/xattr-inode", "user.other", "value-2", 7);
	put_file(fs, "/xattr-block", 8, 100);
	for (i = 0; i < (int)sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	set_xattr(fs, "/xattr-block", "user.small", "x", 1);
	set_xattr(fs, "/xattr-block", "user.big", big, sizeof(big));
	set_xattr(fs, "/a", "user.dir", "on-a-directory", 14);
	put_file(fs, "/acl", 9, 10);
	set_xattr(fs, "/acl", "system.posix_acl_access", acl, posix_acl(acl));

	/* Modes, owners, times (nanoseconds, before 1970, after 2038). */
	put_file(fs, "/setuid", 10, 10);
	if (sdx_chmod(fs, "/setuid", 04711) || sdx_chmod(fs, "/a/b", 02750) ||
	    sdx_chown(fs, "/setuid", 1000, 1001) ||
	    sdx_lchown(fs, "/fastlink", 65534, 65534) ||
	    sdx_chown(fs, "/a/b", 1234, 5678))
		die("chmod/chown", "/setuid");
	set_mtime(fs, "/setuid", 1234567890, 123456789);
	set_mtime(fs, "/a/b/c/d/file", -1000000000, 999999999);
	set_mtime(fs, "/big", 8589934592LL, 1);
	set_mtime(fs, "/fastlink", 1000000000, 5);

	/* chattr +S */
	put_file(fs, "/syncfile", 11, 5000);
	fd = sdx_open(fs, "/syncfile", O_RDWR, 0);
	if (fd < 0 || sdx_getflags(fs, fd, &flags) ||
	    sdx_setflags(fs, fd, flags | FS_SYNC_FL))
		die("chattr +S", "/syncfile");
	sdx_close(fs, fd);

	/* Unwritten extents, a punched hole, a zeroed range, blocks kept
	 * past the size. */
	fd = create_file(fs, "/fallocated", 13, 10 * BLK);
	if (sdx_fallocate(fs, fd, 0, 0, 64 * BLK) ||
	    sdx_fallocate(fs, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  2 * BLK, 3 * BLK) ||
	    sdx_fallocate(fs, fd, FALLOC_FL_ZERO_RANGE, 6 * BLK + 100, BLK) ||
	    sdx_fallocate(fs, fd, FALLOC_FL_KEEP_SIZE, 64 * BLK, 16 * BLK))
		die("fallocate", "/fallocated");
	write_pattern(fs, fd, "/fallocated", 14, 40 * BLK + 7, 5000);
	sdx_close(fs, fd);

	/* Written through a MAP_SYNC mapping, and a fragmented file
	 * defragmented. */
	map_file(fs);
	fd = sdx_open(fs, "/defragged", O_CREAT | O_RDWR, 0644);
	keep = sdx_open(fs, "/interleaved", O_CREAT | O_RDWR, 0644);
	if (fd < 0 || keep < 0)
		die("create", "/defragged");
	for (i = 0; i < 32; i++) {
		write_pattern(fs, fd, "/defragged", 15, (off_t)i * BLK, BLK);
		write_pattern(fs, keep, "/interleaved", 16, (off_t)i * BLK,
			      BLK);
	}
	if (sdx_defrag(fs, fd, NULL, NULL))
		die("defrag", "/defragged");
	sdx_close(fs, fd);
	sdx_close(fs, keep);

	/* A default ACL inherited by what is created below it; a trusted.
	 * attribute; a directory moved to another parent. */
	make_dir(fs, "/acldir");
	set_xattr(fs, "/acldir", "system.posix_acl_default", acl,
		  posix_acl(acl));
	make_dir(fs, "/acldir/sub");
	put_file(fs, "/acldir/inherits", 17, 10);
	set_xattr(fs, "/acldir/inherits", "trusted.kind", "trusted", 7);
	make_dir(fs, "/from");
	make_dir(fs, "/from/moved");
	put_file(fs, "/from/moved/inside", 18, 10);
	if (sdx_rename(fs, "/from/moved", "/a/b/moved"))
		die("rename", "/from/moved");

	/* Removed things leave holes in directories and bitmaps. */
	put_file(fs, "/htree/removed", 12, 3 * BLK);
	make_dir(fs, "/a/removed-dir");
	if (sdx_unlink(fs, "/htree/removed") || sdx_rmdir(fs, "/a/removed-dir"))
		die("unlink", "/htree/removed");
	if (sdx_unmount(fs))
		die("unmount", image);
}

/*
 * In a child: commit work with fsync and die by SIGKILL before unmount.
 * A directory and a file's extent-tree leaf are committed and then freed,
 * so the journal holds revoke records too.
 */
static void crash_child(int orphan)
{
	struct sdx_fs *fs = mount_image();
	char path[64];
	int fd, keep, i;

	make_dir(fs, "/c");
	make_dir(fs, "/c/freed");
	for (i = 0; i < 100; i++) {
		snprintf(path, sizeof(path), "/c/freed/entry-%03d", i);
		put_file(fs, path, 30, 10);
	}
	fd = sdx_open(fs, "/c/freed/extents", O_CREAT | O_RDWR, 0644);
	if (fd < 0)
		die("create", "/c/freed/extents");
	for (i = 0; i < 40; i += 2)	/* over 4 extents: a leaf block */
		write_pattern(fs, fd, "/c/freed/extents", 31, (off_t)i * BLK,
			      BLK);
	if (sdx_fsync(fs, fd))
		die("fsync", "/c/freed/extents");
	sdx_close(fs, fd);
	for (i = 0; i < 100; i++) {
		snprintf(path, sizeof(path), "/c/freed/entry-%03d", i);
		if (sdx_unlink(fs, path))
			die("unlink", path);
	}
	if (sdx_unlink(fs, "/c/freed/extents") || sdx_rmdir(fs, "/c/freed"))
		die("rmdir", "/c/freed");
	fd = create_file(fs, "/c/committed", 20, 300000);
	set_xattr(fs, "/c/committed", "user.crash", "state", 5);
	put_file(fs, "/c/renamed-from", 21, 5000);
	if (sdx_rename(fs, "/c/renamed-from", "/c/renamed-to"))
		die("rename", "/c/renamed-from");
	if (orphan) {
		keep = create_file(fs, "/c/open-unlinked", 22, 1 << 20);
		if (sdx_unlink(fs, "/c/open-unlinked"))
			die("unlink", "/c/open-unlinked");
		(void)keep;	/* held open across the kill */
	}
	if (sdx_fsync(fs, fd))
		die("fsync", "/c/committed");
	kill(getpid(), SIGKILL);
	_exit(3);
}

static void crash(int orphan)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork", image);
	if (pid == 0)
		crash_child(orphan);
	if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status) ||
	    WTERMSIG(status) != SIGKILL) {
		fprintf(stderr, "kernel-tree: the child was not killed (%#x)\n",
			status);
		exit(1);
	}
}

/*
 * Change what the kernel made (tests/interop/kernel-init's tree): entries
 * added to and removed from its htree directories (one two levels deep),
 * holes of its extent tree
 * and sparse file written, its big file appended to, attributes added next
 * to its block and inode attributes and removed, a file created under its
 * default ACL, a rename, an unlink.
 */
static void modify(void)
{
	struct sdx_fs *fs = mount_image();
	char path[96], long_path[300];
	int fd, i;

	for (i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "/htree/syncdax-added-%d", i);
		put_file(fs, path, 40, (size_t)i);
	}
	for (i = 20; i < 50; i++) {
		snprintf(path, sizeof(path),
			 "/htree/kernel-entry-%d-with-a-long-name", i);
		if (sdx_unlink(fs, path))
			die("unlink", path);
	}
	for (i = 0; i < 500; i++) {
		snprintf(long_path, sizeof(long_path), "/htree2/syncdax-%d-%0230d",
			 i, i);
		put_file(fs, long_path, 0, 0);
	}
	for (i = 100; i < 200; i++) {
		snprintf(long_path, sizeof(long_path), "/htree2/%05d-%0229d", i,
			 i);
		if (sdx_unlink(fs, long_path))
			die("unlink", long_path);
	}
	fd = sdx_open(fs, "/extents", O_RDWR, 0);
	if (fd < 0)
		die("open", "/extents");
	for (i = 1; i < 300; i += 4)
		write_pattern(fs, fd, "/extents", 41, (off_t)i * BLK, BLK);
	sdx_close(fs, fd);
	fd = sdx_open(fs, "/sparse", O_RDWR, 0);
	if (fd < 0)
		die("open", "/sparse");
	write_pattern(fs, fd, "/sparse", 42, 2000 * BLK + 5, 3 * BLK);
	sdx_close(fs, fd);
	fd = sdx_open(fs, "/big", O_RDWR | O_APPEND, 0);
	if (fd < 0)
		die("open", "/big");
	write_pattern(fs, fd, "/big", 43, 12 << 20, 10000);
	sdx_close(fs, fd);
	set_xattr(fs, "/big", "user.syncdax", "next to the kernel's", 20);
	set_xattr(fs, "/d1/d2/d3/file", "user.more", "in the inode", 12);
	if (sdx_lremovexattr(fs, "/d1/d2/d3/file", "user.small"))
		die("removexattr", "/d1/d2/d3/file");
	put_file(fs, "/acldir/syncdax-file", 44, 10);
	if (sdx_rename(fs, "/d1/moved", "/moved-back") ||
	    sdx_unlink(fs, "/hardlink"))
		die("rename", "/d1/moved");
	if (sdx_unmount(fs))
		die("unmount", image);
}

/* SHA-256 (FIPS 180-4), for the manifest's content hashes. */
struct sha256 {
	uint32_t h[8];
	unsigned char block[64];
	uint64_t bytes;
};

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n)
{
	return x >> n | x << (32 - n);
}

static void sha256_block(struct sha256 *c)
{
	uint32_t w[64], v[8], t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)c->block[4 * i] << 24 |
		       (uint32_t)c->block[4 * i + 1] << 16 |
		       (uint32_t)c->block[4 * i + 2] << 8 | c->block[4 * i + 3];
	for (; i < 64; i++)
		w[i] = w[i - 16] + w[i - 7] +
		       (ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ w[i - 15] >> 3) +
		       (ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ w[i - 2] >> 10);
	memcpy(v, c->h, sizeof(v));
	for (i = 0; i < 64; i++) {
		t1 = v[7] + (ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25)) +
		     ((v[4] & v[5]) ^ (~v[4] & v[6])) + sha256_k[i] + w[i];
		t2 = (ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22)) +
		     ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
		memmove(v + 1, v, 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + t2;
	}
	for (i = 0; i < 8; i++)
		c->h[i] += v[i];
}

static void sha256_add(struct sha256 *c, const unsigned char *p, size_t n)
{
	while (n--) {
		c->block[c->bytes++ % 64] = *p++;
		if (c->bytes % 64 == 0)
			sha256_block(c);
	}
}

/* SHA-256 of open file @fd (@size bytes) in hex. */
static void hash_file(struct sdx_fs *fs, int fd, off_t size, const char *path,
		      char hex[65])
{
	static const uint32_t h0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	static unsigned char buf[1 << 20];
	struct sha256 c = { .bytes = 0 };
	unsigned char len[8];
	uint64_t bits;
	off_t off;
	ssize_t n;
	int i;

	memcpy(c.h, h0, sizeof(h0));
	for (off = 0; off < size; off += n) {
		n = sdx_pread(fs, fd, buf, sizeof(buf), off);
		if (n <= 0)
			die("read", path);
		sha256_add(&c, buf, (size_t)n);
	}
	bits = c.bytes * 8;
	sha256_add(&c, (const unsigned char *)"\x80", 1);
	while (c.bytes % 64 != 56)
		sha256_add(&c, (const unsigned char *)"", 1);
	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha256_add(&c, len, 8);
	for (i = 0; i < 8; i++)
		sprintf(hex + 8 * i, "%08x", c.h[i]);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* name=0xHEX,... of @path's attributes in name order, or "-". */
static void print_xattrs(struct sdx_fs *fs, const char *path)
{
	static char list[65536];
	static unsigned char value[65536];
	char *names[256];
	ssize_t len, v;
	size_t n = 0, i, j;
	char *p;

	len = sdx_llistxattr(fs, path, list, sizeof(list));
	if (len < 0)
		die("listxattr", path);
	for (p = list; p < list + len && n < 256; p += strlen(p) + 1)
		names[n++] = p;
	if (n == 0) {
		fputs("-", stdout);
		return;
	}
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (i = 0; i < n; i++) {
		v = sdx_lgetxattr(fs, path, names[i], value, sizeof(value));
		if (v < 0)
			die("getxattr", path);
		printf("%s%s=0x", i ? "," : "", names[i]);
		for (j = 0; j < (size_t)v; j++)
			printf("%02x", value[j]);
	}
}

/* @t as busybox stat's %y and %z print it (UTC), then "|". */
static void print_time(const struct timespec *t)
{
	char when[32];
	struct tm tm;

	gmtime_r(&t->tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s.%09ld +0000|", when, t->tv_nsec);
}

/* One manifest line for @path ("" is the root), then its children. */
static void walk(struct sdx_fs *fs, const char *path)
{
	const char *p = *path ? path : "/";
	char hex[65] = "-", link[4096] = "-", *child;
	struct dirent *de;
	struct sdx_dir *dir;
	struct stat st;
	ssize_t n;
	int fd;

	if (sdx_lstat(fs, p, &st))
		die("lstat", p);
	if (S_ISREG(st.st_mode)) {
		fd = sdx_open(fs, p, O_RDONLY, 0);
		if (fd < 0)
			die("open", p);
		hash_file(fs, fd, st.st_size, p, hex);
		sdx_close(fs, fd);
	} else if (S_ISLNK(st.st_mode)) {
		n = sdx_readlink(fs, p, link, sizeof(link) - 1);
		if (n < 0)
			die("readlink", p);
		link[n] = 0;
	}
	printf(".%s|%x|%lu|%u|%u|%lld|%lld|%lu|", path, (unsigned)st.st_mode,
	       (unsigned long)st.st_ino, st.st_uid, st.st_gid,
	       (long long)st.st_size, (long long)st.st_blocks,
	       (unsigned long)st.st_nlink);
	print_time(&st.st_mtim);
	print_time(&st.st_ctim);
	printf("%s|%s|", hex, link);
	print_xattrs(fs, p);
	putchar('\n');
	if (!S_ISDIR(st.st_mode))
		return;
	dir = sdx_opendir(fs, p);
	if (dir == NULL)
		die("opendir", p);
	while ((de = sdx_readdir(dir)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (asprintf(&child, "%s/%s", path, de->d_name) < 0)
			die("asprintf", p);
		walk(fs, child);
		free(child);
	}
	sdx_closedir(dir);
}

static void manifest(void)
{
	struct sdx_fs *fs = mount_image();

	walk(fs, "");
	fflush(stdout);
	if (sdx_unmount(fs))
		die("unmount", image);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: kernel-tree fill|crash|orphan|modify|manifest"
			" IMAGE\n");
		return 2;
	}
	image = argv[2];
	if (!strcmp(argv[1], "fill"))
		fill();
	else if (!strcmp(argv[1], "crash"))
		crash(0);
	else if (!strcmp(argv[1], "orphan"))
		crash(1);
	else if (!strcmp(argv[1], "manifest"))
		manifest();
	else if (!strcmp(argv[1], "modify"))
		modify();
	else
		return 2;
	return 0;
}
