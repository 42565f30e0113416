/* Wine 8.0 has no bcryptprimitives.dll, whose ProcessPrng Rust's std (and Go >= 1.21)
 * import on Windows for random bytes. This one-function stand-in forwards to
 * BCryptGenRandom, which Wine has; scripts/test-windows builds it with mingw and puts
 * it in each fresh Wine prefix's system32. Test infrastructure only: never shipped. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        /* BCryptGenRandom takes a ULONG length. */
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
