/*
 * fuzz_logjson - the log renderers (logfmt.c) on any bytes.
 *
 * Input: the first two octets choose the buffer size (LOGFMT_JSON_MIN up
 * to a few KiB); the rest, split at NUL octets, are the values of up to
 * eight fields of every type, and the whole rest is also a free-text
 * line.  The event words are the caller's (never peer text): fixed.
 *
 * Invariants: the JSON forms are always exactly one well-formed JSON
 * object (jsoncheck.h: escapes, UTF-8, nothing after it), terminated
 * within the buffer, marked "truncated" only when cut; the text form is
 * terminated within its buffer and holds no control octet (no forged
 * second line).
 */
#include <string.h>

#include "util/logfmt.h"
#include "../unit/jsoncheck.h"
#include "fuzz.h"

#define IN_MAX		8192
#define NFIELDS		8
#define BUF_MAX		(LOGFMT_JSON_MIN + 4096)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct logfmt_head	 head = {
		"2026-12-05T20:21:51.123Z", 1, "info", "protocol"
	};
	static const char		*keys[NFIELDS] = {
		"client", "from", "to", "reply", "size", "duration",
		"resumed", "listener_tls"
	};
	static char			 in[IN_MAX + 1], buf[BUF_MAX + 1];
	struct log_field		 f[NFIELDS];
	const char			*vals[NFIELDS + 1];
	size_t				 bufsz, n = 0, len, i, k;
	uint32_t			 rng;

	if (size < 2)
		return 0;
	bufsz = LOGFMT_JSON_MIN + ((size_t)data[0] << 8 | data[1]) % 4096;
	data += 2;
	size -= 2;
	if (size > IN_MAX)
		size = IN_MAX;
	memcpy(in, data, size);
	in[size] = '\0';
	rng = size;
	/* NUL-separated values */
	vals[n++] = in;
	for (i = 0; i < size && n < NFIELDS + 1; i++)
		if (in[i] == '\0' && i + 1 <= size)
			vals[n++] = in + i + 1;
	if (n > NFIELDS)
		n = NFIELDS;
	for (k = 0; k < n; k++) {
		int	 t = (int)(rng_next(&rng) % (LOGT_FLAG + 1));

		f[k].key = keys[k];
		f[k].type = t | (rng_next(&rng) % 4 == 0 ? LOGT_VIS : 0);
		f[k].s = rng_next(&rng) % 8 == 0 ? NULL : vals[k];
		f[k].u = rng_next(&rng) % 3 == 0 ? ~0ULL : strlen(vals[k]);
		f[k].d = (double)strlen(vals[k]) / 7.0;
	}
	len = logfmt_json(buf, bufsz, &head, size, "relay rcpt refused", f, n);
	FUZZ_CHECK(len < bufsz && buf[len] == '\0', "length %zu in %zu", len,
	    bufsz);
	FUZZ_CHECK(json_object_ok(buf, len), "not JSON: %s", buf);
	len = logfmt_json_msg(buf, bufsz, &head, in, size);
	FUZZ_CHECK(len < bufsz && buf[len] == '\0', "msg length %zu in %zu",
	    len, bufsz);
	FUZZ_CHECK(json_object_ok(buf, len), "msg not JSON: %s", buf);
	len = logfmt_text(buf, bufsz, size, "relay rcpt refused", f, n);
	FUZZ_CHECK(len < bufsz && buf[len] == '\0', "text length %zu", len);
	/* LOGT_VIS values are escaped by the caller: only the others count */
	for (k = 0; k < n; k++)
		if (f[k].type & LOGT_VIS)
			return 0;
	for (i = 0; i < len; i++)
		FUZZ_CHECK((unsigned char)buf[i] >= 0x20 &&
		    (unsigned char)buf[i] < 0x7f,
		    "octet 0x%02x at %zu in text: %s", (unsigned char)buf[i], i,
		    buf);
	return 0;
}
