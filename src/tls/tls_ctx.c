/*
 * tls_ctx.c - wolfSSL library set-up and one client WOLFSSL_CTX per
 * upstream policy.
 *
 * Debian's wolfSSL is built with TLS 1.1, RC4, NULL and anonymous suites
 * compiled in, so every context pins a minimum version and an explicit
 * cipher list; nothing is left to library defaults.
 */
#include "tls/tls_local.h"	/* wolfssl/options.h first */

#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls/tls.h"
#include "util/log.h"
#include "util/str.h"

/*
 * TLS 1.3 suites first, then TLS 1.2 ECDHE with AEAD only: no RC4, 3DES,
 * CBC, NULL, anonymous or static-RSA key exchange.
 */
#define TLS_CLIENT_CIPHERS						\
	"TLS13-AES128-GCM-SHA256:TLS13-CHACHA20-POLY1305-SHA256:"	\
	"TLS13-AES256-GCM-SHA384:"					\
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"	\
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"	\
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"

static int	tls_initialized;
static int	tls_exidx = -1;

static struct tls_client_ctx *ctx_fail(struct tls_client_ctx *, char *,
		    size_t, const char *, ...) GW_PRINTF(4, 5);
static int	ctx_load_ca(struct tls_client_ctx *, const char *, char *,
		    size_t);
static int	is_ip_literal(const char *);

/* tls_init - initialise wolfSSL once per process */
void
tls_init(void)
{
	if (tls_initialized)
		return;
	if (wolfSSL_Init() != WOLFSSL_SUCCESS)
		fatalx("tls_init: wolfSSL_Init failed");
	tls_exidx = wolfSSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (tls_exidx < 0)
		fatalx("tls_init: no ex_data index for sessions");
	tls_initialized = 1;
}

/* tls_cleanup - release wolfSSL's global state at shutdown */
void
tls_cleanup(void)
{
	if (!tls_initialized)
		return;
	(void)wolfSSL_Cleanup();
	tls_initialized = 0;
	tls_exidx = -1;
}

/* tls_ex_index - the ex_data slot for per-session state */
int
tls_ex_index(void)
{
	if (!tls_initialized)
		fatalx("tls: tls_init() was not called");
	return tls_exidx;
}

static struct tls_client_ctx *
ctx_fail(struct tls_client_ctx *tc, char *err, size_t errlen,
    const char *fmt, ...)
{
	va_list	 ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	tls_client_ctx_free(tc);
	return NULL;
}

static int
is_ip_literal(const char *s)
{
	unsigned char	 a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static int
ctx_load_ca(struct tls_client_ctx *tc, const char *ca, char *err,
    size_t errlen)
{
	char	 why[80];
	int	 r;

	if (strcmp(ca, "system") == 0) {
		if (wolfSSL_CTX_load_system_CA_certs(tc->ctx) != WOLFSSL_SUCCESS) {
			(void)snprintf(err, errlen,
			    "ca_file system: no usable system CA certificates");
			return -1;
		}
		return 0;
	}
	/*
	 * Ask the file system first: wolfSSL's answer for a missing or
	 * unreadable file is a bare code, and the operator needs errno.
	 */
	if (access(ca, R_OK) == -1) {
		(void)snprintf(err, errlen, "ca_file %s: %s", ca, strerror(errno));
		return -1;
	}
	r = wolfSSL_CTX_load_verify_locations(tc->ctx, ca, NULL);
	if (r != WOLFSSL_SUCCESS) {
		wolfSSL_ERR_error_string_n((unsigned long)r, why, sizeof(why));
		(void)snprintf(err, errlen,
		    "ca_file %s: no CA certificates loaded (%s, %d)", ca, why, r);
		return -1;
	}
	return 0;
}

/* tls_client_ctx_new - a client context for one upstream's TLS policy */
struct tls_client_ctx *
tls_client_ctx_new(const struct conf_upstream *up, char *err, size_t errlen)
{
	struct tls_client_ctx	*tc;
	WOLFSSL_METHOD		*method;
	int			 groups[3], minv;

	(void)tls_ex_index();	/* fatalx if tls_init() was forgotten */
	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		return ctx_fail(NULL, err, errlen, "out of memory");
	if (str_copy(tc->host, up->host, sizeof(tc->host)) == -1)
		return ctx_fail(tc, err, errlen, "host name too long");
	/* conf fills tls_name from host; an empty one is a loader bug */
	if (up->tls_name[0] == '\0')
		return ctx_fail(tc, err, errlen, "tls_name is empty");
	if (str_copy(tc->name, up->tls_name, sizeof(tc->name)) == -1)
		return ctx_fail(tc, err, errlen, "tls_name too long");
	tc->port = up->port;
	tc->verify_hostname = up->verify_hostname;
	tc->name_is_ip = is_ip_literal(tc->name);

	switch (up->tls_min_version) {
	case CONF_TLS_V12:
		minv = WOLFSSL_TLSV1_2;
		break;
	case CONF_TLS_V13:
		minv = WOLFSSL_TLSV1_3;
		break;
	default:
		return ctx_fail(tc, err, errlen,
		    "tls_min_version %d is not supported", up->tls_min_version);
	}

	if ((method = wolfSSLv23_client_method()) == NULL ||
	    (tc->ctx = wolfSSL_CTX_new(method)) == NULL)
		return ctx_fail(tc, err, errlen, "wolfSSL_CTX_new failed");
	/* the library default would still negotiate TLS 1.1 */
	if (wolfSSL_CTX_SetMinVersion(tc->ctx, minv) != WOLFSSL_SUCCESS)
		return ctx_fail(tc, err, errlen, "cannot set the minimum TLS version");
	if (wolfSSL_CTX_set_cipher_list(tc->ctx, TLS_CLIENT_CIPHERS) !=
	    WOLFSSL_SUCCESS)
		return ctx_fail(tc, err, errlen, "cannot set the cipher list");
	/* set1_groups_list only knows "P-256" here: use the numeric API */
	groups[0] = WOLFSSL_ECC_X25519;
	groups[1] = WOLFSSL_ECC_SECP256R1;
	groups[2] = WOLFSSL_ECC_SECP384R1;
	if (wolfSSL_CTX_set_groups(tc->ctx, groups, 3) != WOLFSSL_SUCCESS)
		return ctx_fail(tc, err, errlen, "cannot set the key exchange groups");
	if (ctx_load_ca(tc, up->ca_file, err, errlen) == -1) {
		tls_client_ctx_free(tc);
		return NULL;
	}
	/*
	 * Always VERIFY_PEER; the callback records the first problem for the
	 * log and the failure class (wolfSSL_get_error says only -188).
	 */
	wolfSSL_CTX_set_verify(tc->ctx, WOLFSSL_VERIFY_PEER, tls_verify_cb);
	return tc;
}

/* tls_client_ctx_free - sessions still running keep their own reference */
void
tls_client_ctx_free(struct tls_client_ctx *tc)
{
	if (tc == NULL)
		return;
	if (tc->ctx != NULL)
		wolfSSL_CTX_free(tc->ctx);
	free(tc);
}
