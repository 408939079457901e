/*
 * fuzz_proxyhs - the proxy reply parsers, proxyhs_input(), for SOCKS5
 * (with and without a login) and HTTP CONNECT.
 *
 * The input is the proxy's side of the connection.  The first octet picks
 * the kind and how the octets arrive (all at once, or one at a time with
 * what was used consumed, as upconn does).
 *
 * Invariants: used never exceeds what was given; a request is within its
 * buffer; FAIL names a class the handshake may give and a reason; DONE
 * comes once and the password is wiped then; both ways of delivering
 * agree on the result for HTTP (a line-by-line parser).
 */
#include <string.h>

#include "fuzz.h"
#include "net/proxyhs.h"

static enum proxyhs_result
run(int kind, int login, const uint8_t *data, size_t size, int bytewise,
    size_t *consumed)
{
	struct proxyhs		 h;
	struct proxyhs_out	 out;
	enum proxyhs_result	 r = PROXYHS_MORE;
	enum gw_fail		 cls;
	char			 why[256];
	size_t			 used, off = 0, have;

	FUZZ_CHECK(proxyhs_init(&h, kind == 0 ? PROXY_SOCKS5 : PROXY_HTTP,
	    login ? "user" : "", login ? "pw" : NULL, "mail.example", 25) ==
	    NULL, "init");
	FUZZ_CHECK(proxyhs_start(&h, &out) == 0, "start");
	FUZZ_CHECK(out.len > 0 && out.len <= sizeof(out.buf), "out %zu",
	    out.len);
	have = bytewise ? 0 : size;
	while (r == PROXYHS_MORE) {
		if (bytewise) {
			if (off + have >= size)
				break;
			have++;
		}
		why[0] = '\0';
		r = proxyhs_input(&h, data + off, have, &used, &out, &cls, why,
		    sizeof(why));
		FUZZ_CHECK(out.len <= sizeof(out.buf), "out %zu", out.len);
		if (r == PROXYHS_FAIL) {
			FUZZ_CHECK(cls == FAIL_PROXY_AUTH ||
			    cls == FAIL_PROXY_REFUSED || cls == FAIL_PROTOCOL,
			    "class %d", (int)cls);
			FUZZ_CHECK(why[0] != '\0', "no reason");
			break;
		}
		FUZZ_CHECK(used <= have, "used %zu of %zu", used, have);
		off += used;
		have -= used;
		if (r == PROXYHS_DONE) {
			FUZZ_CHECK(h.pass[0] == '\0', "password kept");
			break;
		}
		if (!bytewise)
			break;
	}
	*consumed = off;
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum proxyhs_result	 a, b;
	size_t			 ua, ub;
	int			 kind, login;

	if (size < 1)
		return 0;
	kind = data[0] & 1;
	login = (data[0] >> 1) & 1;
	a = run(kind, login, data + 1, size - 1, 0, &ua);
	b = run(kind, login, data + 1, size - 1, 1, &ub);
	/* HTTP: whole or octet by octet, the same verdict where both end */
	if (kind == 1 && a == PROXYHS_DONE)
		FUZZ_CHECK(b == PROXYHS_DONE && ua == ub, "done %zu vs %d %zu",
		    ua, (int)b, ub);
	(void)b;
	return 0;
}
