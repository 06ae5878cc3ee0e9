#ifndef CBROKER_CRC32C_H
#define CBROKER_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Whether this processor has a CRC-32C instruction the library can use: SSE 4.2 on x86-64, the CRC32 extension on
/// 64-bit ARM. Checked once by the caller; when it is 0, `broker_crc32c_update` must not be called.
int broker_crc32c_hardware_available(void);

/// Continues a CRC-32C (Castagnoli, reflected) over `count` bytes at `bytes`: `state` is the complemented running
/// value, exactly as the library's software implementation takes it.
uint32_t broker_crc32c_update(uint32_t state, const void *bytes, size_t count);

#endif
