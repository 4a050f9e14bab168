/*
 * syncdax.h - the public interface of syncdax, a user-space ext4 file system
 * for persistent memory with synchronous page faults.
 *
 * The calls follow POSIX and Linux: same argument order, same flag values
 * (<fcntl.h>, <sys/mman.h>, <linux/falloc.h>, <linux/fs.h>), -1 or NULL with
 * errno on error, and sdx_strerror_detail() says what went wrong in words.
 * A mounted file system is a handle; file descriptors are small integers
 * local to it.
 *
 * The guarantee of a synchronous mapping (sdx_mmap with
 * MAP_SHARED_VALIDATE|MAP_SYNC, or any shared writable mapping of a file that
 * carries FS_SYNC_FL): while a block is writeably mapped into the mapping, it
 * is visible in the file at that offset also after a crash, so stores made
 * durable with sdx_persist() survive a crash with no system call.
 *
 * A system call given an address of a syncdax mapping that has not been
 * faulted in yet fails with EFAULT instead of faulting; pass MAP_POPULATE or
 * call sdx_prefault() first.
 */
#ifndef SYNCDAX_H
#define SYNCDAX_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SDX_VERSION "0.1.0"

struct sdx_fs;
struct sdx_dir;

/* sdx_mount flags */
#define SDX_MOUNT_RDONLY  0x1u  /* never write the device (recovery in memory) */
#define SDX_MOUNT_EMULATE 0x2u  /* treat a regular file as emulated pmem */

struct sdx_fs *sdx_mount(const char *device, unsigned flags);
/* Commits and checkpoints; EBUSY (nothing changed) while a mapping lives. */
int sdx_unmount(struct sdx_fs *fs);

int sdx_open(struct sdx_fs *fs, const char *path, int flags, mode_t mode);
int sdx_close(struct sdx_fs *fs, int fd);
ssize_t sdx_pread(struct sdx_fs *fs, int fd, void *buf, size_t n, off_t off);
ssize_t sdx_pwrite(struct sdx_fs *fs, int fd, const void *buf, size_t n,
		   off_t off);
int sdx_fsync(struct sdx_fs *fs, int fd);
int sdx_fdatasync(struct sdx_fs *fs, int fd);
int sdx_ftruncate(struct sdx_fs *fs, int fd, off_t len);
int sdx_fallocate(struct sdx_fs *fs, int fd, int mode, off_t off, off_t len);
int sdx_stat(struct sdx_fs *fs, const char *path, struct stat *st);
int sdx_lstat(struct sdx_fs *fs, const char *path, struct stat *st);
int sdx_fstat(struct sdx_fs *fs, int fd, struct stat *st);
/* As statvfs(2): block and inode counts of the file system (what df
 * shows); @path must exist. */
int sdx_statvfs(struct sdx_fs *fs, const char *path, struct statvfs *sv);
/* As chmod(2), chown(2), lchown(2), utimensat(2) at AT_FDCWD (UTIME_NOW,
 * UTIME_OMIT; NULL times: now); root's rules, ctime updated. */
int sdx_chmod(struct sdx_fs *fs, const char *path, mode_t mode);
int sdx_fchmod(struct sdx_fs *fs, int fd, mode_t mode);
int sdx_chown(struct sdx_fs *fs, const char *path, uid_t uid, gid_t gid);
int sdx_lchown(struct sdx_fs *fs, const char *path, uid_t uid, gid_t gid);
int sdx_utimens(struct sdx_fs *fs, const char *path,
		const struct timespec times[2]);
/* utimensat(2) with AT_SYMLINK_NOFOLLOW: a symlink's own times. */
int sdx_lutimens(struct sdx_fs *fs, const char *path,
		 const struct timespec times[2]);
/*
 * Extended attributes, as getxattr(2), setxattr(2), listxattr(2),
 * removexattr(2) and their l-variants (no symlink followed): user.,
 * trusted., security. and system.posix_acl_access/_default, stored where
 * ext4 stores them.  @size 0 asks for the size needed; ERANGE when @size
 * is too small; ENODATA for a missing name; XATTR_CREATE/XATTR_REPLACE
 * (<sys/xattr.h>) give EEXIST/ENODATA; ENOSPC when a value fits neither
 * in the inode nor in its attribute block; E2BIG above 65536 bytes.
 */
ssize_t sdx_getxattr(struct sdx_fs *fs, const char *path, const char *name,
		     void *value, size_t size);
ssize_t sdx_lgetxattr(struct sdx_fs *fs, const char *path, const char *name,
		      void *value, size_t size);
int sdx_setxattr(struct sdx_fs *fs, const char *path, const char *name,
		 const void *value, size_t size, int flags);
int sdx_lsetxattr(struct sdx_fs *fs, const char *path, const char *name,
		  const void *value, size_t size, int flags);
ssize_t sdx_listxattr(struct sdx_fs *fs, const char *path, char *list,
		      size_t size);
ssize_t sdx_llistxattr(struct sdx_fs *fs, const char *path, char *list,
		       size_t size);
int sdx_removexattr(struct sdx_fs *fs, const char *path, const char *name);
int sdx_lremovexattr(struct sdx_fs *fs, const char *path, const char *name);
int sdx_unlink(struct sdx_fs *fs, const char *path);
int sdx_mkdir(struct sdx_fs *fs, const char *path, mode_t mode);
int sdx_rmdir(struct sdx_fs *fs, const char *path);
int sdx_rename(struct sdx_fs *fs, const char *from, const char *to);
int sdx_symlink(struct sdx_fs *fs, const char *target, const char *path);
ssize_t sdx_readlink(struct sdx_fs *fs, const char *path, char *buf,
		     size_t n);
/* link(2): EPERM for a directory, EMLINK at 65000 links; no symlink
 * followed in @oldpath. */
int sdx_link(struct sdx_fs *fs, const char *oldpath, const char *newpath);

struct sdx_dir *sdx_opendir(struct sdx_fs *fs, const char *path);
struct dirent *sdx_readdir(struct sdx_dir *dir);
int sdx_closedir(struct sdx_dir *dir);

/* FS_*_FL of <linux/fs.h>, as lsattr/chattr; FS_SYNC_FL is chattr +S. */
int sdx_getflags(struct sdx_fs *fs, int fd, unsigned *flags);
int sdx_setflags(struct sdx_fs *fs, int fd, unsigned flags);

/* MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, MAP_SYNC, MAP_POPULATE. */
void *sdx_mmap(struct sdx_fs *fs, void *addr, size_t len, int prot,
	       int flags, int fd, off_t off);
int sdx_munmap(void *addr, size_t len);
int sdx_msync(void *addr, size_t len, int flags);
/* Fault in [addr, addr+len) of a syncdax mapping (for writing if @write). */
int sdx_prefault(void *addr, size_t len, int write);

/*
 * Move a file's blocks into one contiguous run, also while it is mapped
 * (a file longer than any free run: into the fewest extents the longest
 * free runs allow; ENOSPC, the file as it was, when they allow no fewer).
 * @progress (NULL: none) is called with the blocks done of the total as
 * the move goes on, the last time with done == total; it runs without the
 * library's locks but must leave this file alone (its mappings fault only
 * after sdx_defrag returns).
 */
int sdx_defrag(struct sdx_fs *fs, int fd,
	       void (*progress)(uint64_t done, uint64_t total, void *arg),
	       void *arg);

void sdx_flush(const void *addr, size_t len);   /* start write-back */
void sdx_drain(void);                           /* wait for flushed lines */
void sdx_persist(const void *addr, size_t len); /* flush + drain */

/* The last error of this thread, in words. */
const char *sdx_strerror_detail(void);

#ifdef __cplusplus
}
#endif
#endif /* SYNCDAX_H */
