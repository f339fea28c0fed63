#ifndef RESOURCE_WATCHER_CRC32C_H
#define RESOURCE_WATCHER_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Extends a CRC-32C (Castagnoli) over `length` bytes. Start with `crc = 0`; the result of one
/// call can be passed as `crc` to the next to checksum discontiguous ranges as one.
uint32_t rw_crc32c_extend(uint32_t crc, const void *bytes, size_t length);

#endif
