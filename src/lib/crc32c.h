/*
 * crc32c.h - CRC-32C (Castagnoli), as ext4 and jbd2 use it.
 *
 * Kernel crc32c_le semantics: no inversion on entry or exit, so
 *	ext4 checksum = sdx_crc32c(~0u, data, len)
 * and the standard (iSCSI) CRC-32C of data is ~sdx_crc32c(~0u, data, len).
 * Chaining works as in the kernel: sdx_crc32c(sdx_crc32c(s, a), b) is the
 * checksum of a followed by b.
 */
#ifndef SDX_CRC32C_H
#define SDX_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t sdx_crc32c(uint32_t crc, const void *buf, size_t len);

#endif /* SDX_CRC32C_H */
