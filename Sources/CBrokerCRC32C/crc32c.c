// The checksum of every journal record runs through here when the processor has an instruction for it: about nine
// times faster than the software tables on 200-byte records, which made it a visible part of a durable append.
// Each function carries its own target attribute, so the library still builds for (and runs on) processors
// without the instruction; the caller asks `broker_crc32c_hardware_available` first.
#include "CBrokerCRC32C.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>

int broker_crc32c_hardware_available(void) {
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & (1u << 20)) != 0;  // CPUID.01H:ECX.SSE4_2
}

__attribute__((target("sse4.2")))
uint32_t broker_crc32c_update(uint32_t state, const void *bytes, size_t count) {
    const unsigned char *pointer = bytes;
    uint64_t crc = state;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, pointer, 8);
        crc = __builtin_ia32_crc32di(crc, word);
        pointer += 8;
        count -= 8;
    }
    uint32_t tail = (uint32_t)crc;
    while (count > 0) {
        tail = __builtin_ia32_crc32qi(tail, *pointer);
        pointer += 1;
        count -= 1;
    }
    return tail;
}

#elif defined(__aarch64__)
#if defined(__linux__)
#include <sys/auxv.h>
#endif

int broker_crc32c_hardware_available(void) {
#if defined(__APPLE__)
    return 1;  // every 64-bit ARM processor Apple ships has the CRC32 extension
#elif defined(__linux__)
    return (getauxval(AT_HWCAP) & (1ul << 7)) != 0;  // HWCAP_CRC32
#else
    return 0;
#endif
}

__attribute__((target("crc")))
uint32_t broker_crc32c_update(uint32_t state, const void *bytes, size_t count) {
    const unsigned char *pointer = bytes;
    uint32_t crc = state;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, pointer, 8);
        crc = __builtin_arm_crc32cd(crc, word);
        pointer += 8;
        count -= 8;
    }
    while (count > 0) {
        crc = __builtin_arm_crc32cb(crc, *pointer);
        pointer += 1;
        count -= 1;
    }
    return crc;
}

#else

int broker_crc32c_hardware_available(void) { return 0; }

uint32_t broker_crc32c_update(uint32_t state, const void *bytes, size_t count) {
    (void)bytes;
    (void)count;
    return state;
}

#endif
