/*
 * crc32c.h - CRC32C (Castagnoli), the checksum of ext4 metadata_csum and of
 * jbd2 csum v2/v3.
 *
 * Raw register semantics, as Linux's crc32c() and e2fsprogs'
 * ext2fs_crc32c_le(): no inversion on entry or exit, so checksums chain
 * (sdx_crc32c(sdx_crc32c(seed, a, n), b, m) covers a then b).  The standard
 * CRC-32C of a message is ~sdx_crc32c(~0u, msg, len).
 */
#ifndef SDX_CRC32C_H
#define SDX_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t sdx_crc32c(uint32_t crc, const void *buf, size_t len);

#endif /* SDX_CRC32C_H */
