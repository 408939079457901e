/*
 * base64 - RFC 4648 encode/decode with explicit output sizes.
 *
 * Contract: decode reports the length (data may hold NULs) and rejects
 * bad characters, bad padding and output overflow with -1.  Nothing is logged.
 */
#ifndef GW_BASE64_H
#define GW_BASE64_H

#include <stddef.h>
#include <sys/types.h>

/* base64_encode - NUL-terminated text in out; length, or -1 if outlen too small */
ssize_t	base64_encode(const void *in, size_t inlen, char *out, size_t outlen);
/* base64_decode - bytes in out; length, or -1 on bad input or overflow */
ssize_t	base64_decode(const char *in, size_t inlen, void *out, size_t outlen);

#endif
