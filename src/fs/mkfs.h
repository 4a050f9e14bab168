/*
 * mkfs.h - make a syncdax file system: an ext4 image with the feature set
 * syncdax maintains, made by e2fsprogs' mkfs.ext4 (the reference tool).
 */
#ifndef SDX_MKFS_H
#define SDX_MKFS_H

#include <stdint.h>

/* The ext4 features syncdax creates (mkfs.ext4 -O argument). */
#define SDX_MKFS_FEATURES                                                   \
	"none,has_journal,ext_attr,resize_inode,dir_index,filetype,extent,"  \
	"flex_bg,sparse_super,large_file,huge_file,dir_nlink,extra_isize,"   \
	"64bit,metadata_csum"

/*
 * A stage of mkfs.ext4 ("Writing inode tables") is @done of @total units
 * (block groups, blocks) along; done == total ends the stage.
 */
typedef void sdx_mkfs_progress_fn(const char *stage, uint64_t done,
				  uint64_t total, void *arg);

/*
 * sdx_mkfs - create (or resize, if @size) the device file and format it
 * @size: bytes, a multiple of 4 KiB; 0 keeps the existing file's size
 * @progress: called as mkfs.ext4 reports its stages (NULL: not wanted)
 * Return: 0, or -errno with a sentence (mkfs.ext4's own message on failure).
 */
int sdx_mkfs(const char *path, uint64_t size, sdx_mkfs_progress_fn *progress,
	     void *arg);

#endif /* SDX_MKFS_H */
