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
#include <sys/stat.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
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
 * CBC, NULL, anonymous or static-RSA key exchange.  Which AEAD leads
 * depends on the hardware (tls_aes_hw): without AES instructions in the
 * TLS library, AES-GCM runs at less than half ChaCha20-Poly1305's speed
 * (Debian's wolfSSL: about 76 against 176 MB/s on this project's bench
 * machine), so ChaCha20-Poly1305 goes first, as BoringSSL-based clients
 * do.  A server that picks by its own order still picks.
 */
#define TLS_SUITES13_AES						\
	"TLS13-AES128-GCM-SHA256:TLS13-CHACHA20-POLY1305-SHA256:"	\
	"TLS13-AES256-GCM-SHA384"
#define TLS_SUITES13_CHACHA						\
	"TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:"	\
	"TLS13-AES256-GCM-SHA384"
#define TLS_CIPHERS12_AES						\
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"	\
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"	\
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
#define TLS_CIPHERS12_CHACHA						\
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"	\
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"	\
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"

#define PASSWORD_MAX	256

static int	tls_initialized;
static int	tls_exidx = -1;

static struct tls_client_ctx *ctx_fail(struct tls_client_ctx *, char *,
		    size_t, const char *, ...) GW_PRINTF(4, 5);
static int	ctx_load_ca_path(struct tls_client_ctx *, const char *, char *,
		    size_t);
static int	ctx_client_cert(struct tls_client_ctx *,
		    const struct conf_tls *, char *, size_t);
static int	ctx_load_crl(struct tls_client_ctx *, const char *, char *,
		    size_t);
static int	passwd_cb(char *, int, int, void *);
static int	dir_files(const char *, int (*)(struct tls_client_ctx *,
		    const char *, char *, size_t), struct tls_client_ctx *,
		    const char *, char *, size_t);
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

/*
 * tls_aes_hw - 1 when AES-GCM runs on AES instructions: the TLS library
 * was built with them (WOLFSSL_AESNI, which checks the CPU again at run
 * time) and this CPU has them.
 */
int
tls_aes_hw(void)
{
#if defined(WOLFSSL_AESNI) && (defined(__x86_64__) || defined(__i386__))
	__builtin_cpu_init();
	return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#else
	return 0;
#endif
}

/* tls_preference - the default AEAD order and why, for the start log */
const char *
tls_preference(void)
{
	return tls_aes_hw() ? "AES-GCM first (AES instructions in the TLS "
	    "library and the CPU)" : "ChaCha20-Poly1305 first (no AES "
	    "instructions in the TLS library: AES-GCM would be slower)";
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

int
tls_ctx_load_ca(struct tls_client_ctx *tc, const char *ca, char *err,
    size_t errlen)
{
	char	 why[80];
	int	 r;

	if (strcmp(ca, "none") == 0)
		return 0;	/* conf_check: ca_path is set, or no chain check */
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
		/*
		 * A file without a single certificate gives 0 and error
		 * text "ok": say what the operator has to fix instead.
		 */
		if (r == 0 || r == WOLFSSL_FAILURE) {
			(void)snprintf(err, errlen, "ca_file %s: holds no "
			    "certificate (a PEM file of \"-----BEGIN "
			    "CERTIFICATE-----\" blocks is needed)", ca);
			return -1;
		}
		wolfSSL_ERR_error_string_n((unsigned long)r, why, sizeof(why));
		(void)snprintf(err, errlen,
		    "ca_file %s: no CA certificates loaded (%s, %d)", ca, why, r);
		return -1;
	}
	return 0;
}

/* tls_upstream_ctx_new - the context of one [upstream]: its block, its name */
struct tls_client_ctx *
tls_upstream_ctx_new(const struct conf_upstream *up, char *err, size_t errlen)
{
	return tls_client_ctx_new(&up->tlsset, up->host, up->port,
	    up->tlsset.tls_name, err, errlen);
}

/*
 * tls_client_ctx_new - a client context for the TLS-settings block ts,
 * connecting to host:port and checking the certificate against
 * verify_name (an upstream's tls_name; the POP server's own host name)
 */
struct tls_client_ctx *
tls_client_ctx_new(const struct conf_tls *ts, const char *host, unsigned port,
    const char *verify_name, char *err, size_t errlen)
{
	struct tls_client_ctx	*tc;
	WOLFSSL_METHOD		*method;

	(void)tls_ex_index();	/* fatalx if tls_init() was forgotten */
	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		return ctx_fail(NULL, err, errlen, "out of memory");
	if (str_copy(tc->host, host, sizeof(tc->host)) == -1)
		return ctx_fail(tc, err, errlen, "host name too long");
	/* conf fills tls_name from host; an empty one is a loader bug */
	if (verify_name[0] == '\0')
		return ctx_fail(tc, err, errlen, "tls_name is empty");
	if (str_copy(tc->name, verify_name, sizeof(tc->name)) == -1)
		return ctx_fail(tc, err, errlen, "tls_name too long");
	tc->port = port;
	tc->verify_hostname = ts->verify_hostname;
	tc->name_is_ip = is_ip_literal(tc->name);

	tc->vp.accept = ts->accept;
	tc->vp.verify_chain = !ts->no_verify_chain;
	tc->vp.crl_on = ts->crl_file[0] != '\0' || ts->crl_path[0] != '\0';
	tc->vp.crl_missing_fail = ts->crl_missing_fail;
	tc->vp.crl_except_root = ts->crl_check == CRL_CHECK_CHAIN_EXCEPT_ROOT;
	if (ts->npins > CONF_MAX_PINS)
		return ctx_fail(tc, err, errlen, "too many pins");
	memcpy(tc->pins, ts->pins, sizeof(tc->pins));
	tc->npins = ts->npins;
	tc->warn_no_chain = ts->no_verify_chain && ts->npins == 0;

	if ((method = wolfSSLv23_client_method()) == NULL ||
	    (tc->ctx = wolfSSL_CTX_new(method)) == NULL)
		return ctx_fail(tc, err, errlen, "wolfSSL_CTX_new failed");
	if (tls_ctx_versions(tc, ts, err, errlen) == -1 ||
	    tls_ctx_algorithms(tc, ts, err, errlen) == -1)
		goto fail;
	/* CAs before CRLs: a CRL loads only once its issuer is trusted */
	if (tls_ctx_load_ca(tc, ts->ca_file, err, errlen) == -1)
		goto fail;
	if (ts->ca_path[0] != '\0' && dir_files(ts->ca_path, ctx_load_ca_path,
	    tc, "ca_path", err, errlen) == -1)
		goto fail;
	if (tls_ctx_load_crls(tc, ts, err, errlen) == -1 ||
	    ctx_client_cert(tc, ts, err, errlen) == -1 ||
	    tls_ocsp_ctx_setup(tc->ctx, ts, err, errlen) == -1)
		goto fail;
	tc->ocsp = ts->ocsp;
	tc->ocsp_chain = ts->ocsp_chain;
	tc->ocsp_timeout = ts->ocsp_timeout;
	tc->stapling = ts->ocsp_stapling;
	/* a new context, a new (empty) session cache: nothing crosses a reload */
	if (ts->tls_resume && (tc->sess = tls_sesscache_new()) == NULL)
		return ctx_fail(tc, err, errlen, "out of memory");
	/*
	 * TLS 1.2 tickets (RFC 5077) as well as session IDs: a server behind
	 * a load balancer often has no shared session cache but shared
	 * ticket keys.  TLS 1.3 tickets need no call.
	 */
	if (ts->tls_resume && wolfSSL_CTX_UseSessionTicket(tc->ctx) !=
	    WOLFSSL_SUCCESS)
		return ctx_fail(tc, err, errlen, "cannot enable session "
		    "tickets");
	/*
	 * Always VERIFY_PEER; the callback applies the exceptions and
	 * records the first problem for the log and the failure class
	 * (wolfSSL_get_error says only -188).
	 */
	wolfSSL_CTX_set_verify(tc->ctx, WOLFSSL_VERIFY_PEER, tls_verify_cb);
	wolfSSL_CTX_set_cert_cb(tc->ctx, tls_cert_cb, NULL);
	if (tc->warn_no_chain)
		log_warnx("tls upstream=%s:%u verify_chain=no without "
		    "pin_sha256: the upstream's identity is not verified; "
		    "anyone on the path can pose as it", tc->host, tc->port);
	return tc;
fail:
	tls_client_ctx_free(tc);
	return NULL;
}

/* versions: the library default would still negotiate TLS 1.1 */
int
tls_ctx_versions(struct tls_client_ctx *tc, const struct conf_tls *ts,
    char *err, size_t errlen)
{
	int	 minv;

	switch (ts->tls_min_version) {
	case CONF_TLS_V12:
		minv = WOLFSSL_TLSV1_2;
		break;
	case CONF_TLS_V13:
		minv = WOLFSSL_TLSV1_3;
		break;
	default:
		(void)snprintf(err, errlen, "tls_min_version %d is not "
		    "supported", ts->tls_min_version);
		return -1;
	}
	if (wolfSSL_CTX_SetMinVersion(tc->ctx, minv) != WOLFSSL_SUCCESS) {
		(void)snprintf(err, errlen,
		    "cannot set the minimum TLS version");
		return -1;
	}
	if (ts->tls_max_version == CONF_TLS_V12 &&
	    wolfSSL_CTX_set_max_proto_version(tc->ctx, TLS1_2_VERSION) !=
	    WOLFSSL_SUCCESS) {
		(void)snprintf(err, errlen,
		    "cannot set the maximum TLS version");
		return -1;
	}
	return 0;
}

/*
 * One cipher list for both versions (wolfSSL has no separate TLS 1.3
 * call): the configured or built-in 1.3 suites, then the 1.2 ciphers.
 * Groups through the numeric API: set1_groups_list knows only "P-256".
 */
int
tls_ctx_algorithms(struct tls_client_ctx *tc, const struct conf_tls *ts,
    char *err, size_t errlen)
{
	char	 list[2 * CONF_TEXT_MAX + 2], one[CONF_TEXT_MAX], *p, *colon;
	int	 groups[CONF_MAX_CURVES], n, i, k, hw;

	/*
	 * wolfSSL drops names it does not know from a list that still has
	 * one it knows, so a typo would quietly narrow the list: try each
	 * configured name alone first.
	 */
	for (k = 0; k < 2; k++) {
		if (str_copy(one, k == 0 ? ts->ciphers : ts->ciphersuites,
		    sizeof(one)) == -1 || one[0] == '\0')
			continue;
		for (p = one; p != NULL; p = colon) {
			if ((colon = strchr(p, ':')) != NULL)
				*colon++ = '\0';
			if (wolfSSL_CTX_set_cipher_list(tc->ctx, p) !=
			    WOLFSSL_SUCCESS) {
				(void)snprintf(err, errlen, "%s: %s: not a "
				    "cipher this TLS library knows",
				    k == 0 ? "ciphers" : "ciphersuites", p);
				return -1;
			}
		}
	}

	hw = tls_aes_hw();
	n = snprintf(list, sizeof(list), "%s:%s",
	    ts->ciphersuites[0] != '\0' ? ts->ciphersuites :
	    hw ? TLS_SUITES13_AES : TLS_SUITES13_CHACHA,
	    ts->ciphers[0] != '\0' ? ts->ciphers :
	    hw ? TLS_CIPHERS12_AES : TLS_CIPHERS12_CHACHA);
	if (n < 0 || (size_t)n >= sizeof(list)) {
		(void)snprintf(err, errlen, "cipher lists too long");
		return -1;
	}
	if (wolfSSL_CTX_set_cipher_list(tc->ctx, list) != WOLFSSL_SUCCESS) {
		(void)snprintf(err, errlen, "ciphers/ciphersuites: the TLS "
		    "library does not accept the list \"%s\"", list);
		return -1;
	}
	if (ts->ncurves == 0) {
		groups[0] = WOLFSSL_ECC_X25519;
		groups[1] = WOLFSSL_ECC_SECP256R1;
		groups[2] = WOLFSSL_ECC_SECP384R1;
		n = 3;
	} else {
		for (i = 0; i < (int)ts->ncurves && i < CONF_MAX_CURVES; i++) {
			switch (ts->curves[i]) {
			case CONF_CURVE_X25519:
				groups[i] = WOLFSSL_ECC_X25519;
				break;
			case CONF_CURVE_P256:
				groups[i] = WOLFSSL_ECC_SECP256R1;
				break;
			case CONF_CURVE_P384:
				groups[i] = WOLFSSL_ECC_SECP384R1;
				break;
			case CONF_CURVE_P521:
				groups[i] = WOLFSSL_ECC_SECP521R1;
				break;
			case CONF_CURVE_X448:
				groups[i] = WOLFSSL_ECC_X448;
				break;
			default:
				fatalx("tls: curve %d from conf",
				    ts->curves[i]);
			}
		}
		n = i;
	}
	if (wolfSSL_CTX_set_groups(tc->ctx, groups, n) != WOLFSSL_SUCCESS) {
		(void)snprintf(err, errlen,
		    "curves: the TLS library does not accept them");
		return -1;
	}
	return 0;
}

/* hands the password read from client_key_password_file to wolfSSL */
static int
passwd_cb(char *buf, int size, int rwflag, void *arg)
{
	const char	*pw = arg;
	size_t		 len;

	(void)rwflag;
	if (pw == NULL || size <= 0)
		return 0;
	len = strlen(pw);
	if (len >= (size_t)size)
		return 0;
	memcpy(buf, pw, len + 1);
	return (int)len;
}

/*
 * The client certificate (leaf first, then intermediates) and its key.
 * A password is read from its file, used once and wiped; the file must
 * not be readable by others, like every secret of the gateway.
 */
static int
ctx_client_cert(struct tls_client_ctx *tc, const struct conf_tls *ts,
    char *err, size_t errlen)
{
	char		 pw[PASSWORD_MAX];
	struct stat	 st;
	FILE		*fp;
	int		 r;

	if (ts->client_cert[0] == '\0')
		return 0;
	if (wolfSSL_CTX_use_certificate_chain_file(tc->ctx, ts->client_cert) !=
	    WOLFSSL_SUCCESS) {
		(void)snprintf(err, errlen, "client_cert %s: no PEM "
		    "certificate could be loaded", ts->client_cert);
		return -1;
	}
	pw[0] = '\0';
	if (ts->client_key_password_file[0] != '\0') {
		if ((fp = fopen(ts->client_key_password_file, "r")) == NULL ||
		    fstat(fileno(fp), &st) == -1) {
			(void)snprintf(err, errlen,
			    "client_key_password_file %s: %s",
			    ts->client_key_password_file, strerror(errno));
			if (fp != NULL)
				(void)fclose(fp);
			return -1;
		}
		if ((st.st_mode & 077) != 0) {
			(void)fclose(fp);
			(void)snprintf(err, errlen,
			    "client_key_password_file %s: readable by group "
			    "or others (chmod 600)",
			    ts->client_key_password_file);
			return -1;
		}
		if (fgets(pw, sizeof(pw), fp) == NULL)
			pw[0] = '\0';
		(void)fclose(fp);
		pw[strcspn(pw, "\r\n")] = '\0';
		wolfSSL_CTX_set_default_passwd_cb(tc->ctx, passwd_cb);
		wolfSSL_CTX_set_default_passwd_cb_userdata(tc->ctx, pw);
	}
	r = wolfSSL_CTX_use_PrivateKey_file(tc->ctx, ts->client_key,
	    WOLFSSL_FILETYPE_PEM);
	/* pw lives on this stack: no callback may see it after return */
	wolfSSL_CTX_set_default_passwd_cb(tc->ctx, NULL);
	wolfSSL_CTX_set_default_passwd_cb_userdata(tc->ctx, NULL);
	if (r != WOLFSSL_SUCCESS) {
		explicit_bzero(pw, sizeof(pw));
		(void)snprintf(err, errlen, "client_key %s: cannot load the "
		    "key (wrong format or password?)", ts->client_key);
		return -1;
	}
	if (wolfSSL_CTX_check_private_key(tc->ctx) != WOLFSSL_SUCCESS) {
		explicit_bzero(pw, sizeof(pw));
		(void)snprintf(err, errlen, "client_key %s does not belong to "
		    "client_cert %s", ts->client_key, ts->client_cert);
		return -1;
	}
	/* wolfSSL's check passes any key of the same curve */
	r = tls_key_matches(ts->client_cert, "client_cert", ts->client_key,
	    "client_key", pw[0] != '\0' ? pw : NULL, err, errlen);
	explicit_bzero(pw, sizeof(pw));
	return r;
}

/*
 * Every regular file of a directory, in name order, dot files excepted.
 * Each must load: wolfSSL's own directory loaders report success when
 * they skipped a file (shared/docs/wolfssl-notes.md section 4).
 */
static int
dir_files(const char *dir, int (*load)(struct tls_client_ctx *,
    const char *, char *, size_t), struct tls_client_ctx *tc,
    const char *key, char *err, size_t errlen)
{
	struct dirent	**names = NULL;
	struct stat	 st;
	char		 path[PATH_MAX];
	int		 i, n, nloaded = 0, r = 0;

	if ((n = scandir(dir, &names, NULL, alphasort)) == -1) {
		(void)snprintf(err, errlen, "%s %s: %s", key, dir,
		    strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (r == 0 && names[i]->d_name[0] != '.') {
			if (snprintf(path, sizeof(path), "%s/%s", dir,
			    names[i]->d_name) >= (int)sizeof(path)) {
				(void)snprintf(err, errlen, "%s %s: a file "
				    "name is too long", key, dir);
				r = -1;
			} else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (load(tc, path, err, errlen) == -1)
					r = -1;
				else
					nloaded++;
			}
		}
		free(names[i]);
	}
	free(names);
	if (r == 0 && nloaded == 0) {
		(void)snprintf(err, errlen, "%s %s: no files in the directory",
		    key, dir);
		r = -1;
	}
	return r;
}

static int
ctx_load_ca_path(struct tls_client_ctx *tc, const char *path, char *err,
    size_t errlen)
{
	char	 why[80];
	int	 r;

	r = wolfSSL_CTX_load_verify_locations(tc->ctx, path, NULL);
	if (r == 0 || r == WOLFSSL_FAILURE) {
		(void)snprintf(err, errlen, "ca_path: %s: holds no "
		    "certificate (a PEM file of \"-----BEGIN CERTIFICATE-----\" "
		    "blocks is needed)", path);
		return -1;
	}
	if (r != WOLFSSL_SUCCESS) {
		wolfSSL_ERR_error_string_n((unsigned long)r, why, sizeof(why));
		(void)snprintf(err, errlen, "ca_path: %s: no CA certificates "
		    "loaded (%s, %d)", path, why, r);
		return -1;
	}
	return 0;
}

/*
 * crl_read - the whole of a CRL file (a CRL of a large CA runs to
 * megabytes; more than CRL_FILE_MAX is no CRL we want in memory).
 */
#define CRL_FILE_MAX	(64 * 1024 * 1024)

static unsigned char *
crl_read(const char *path, size_t *lenp, char *err, size_t errlen)
{
	unsigned char	*buf = NULL, *nb;
	size_t		 len = 0, cap = 0, n;
	FILE		*fp;

	if ((fp = fopen(path, "rb")) == NULL) {
		(void)snprintf(err, errlen, "CRL %s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= CRL_FILE_MAX ||
			    (nb = realloc(buf, cap ? cap * 2 : 65536)) == NULL) {
				(void)snprintf(err, errlen, "CRL %s: %s", path,
				    cap >= CRL_FILE_MAX ? "larger than 64 MB" :
				    "out of memory");
				goto fail;
			}
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		(void)snprintf(err, errlen, "CRL %s: read error", path);
		goto fail;
	}
	(void)fclose(fp);
	*lenp = len;
	return buf;
fail:
	(void)fclose(fp);
	free(buf);
	return NULL;
}

/*
 * One CRL file, PEM or DER by its contents.  A CRL whose issuer is not a
 * trusted CA (an intermediate the server presents, with only the root in
 * ca_file) cannot be loaded into the context: it is kept and checked in
 * handshakes against the intermediate the chain validated (tls_crl.c).
 */
static int
ctx_load_crl(struct tls_client_ctx *tc, const char *path, char *err,
    size_t errlen)
{
	unsigned char	*buf;
	char		 why[80];
	size_t		 n;
	int		 r, type;

	if ((buf = crl_read(path, &n, err, errlen)) == NULL)
		return -1;
	/* a PEM-typed load of a DER file fails, and the reverse too */
	type = memmem(buf, n, "-----BEGIN X509 CRL-----", 24) != NULL ?
	    WOLFSSL_FILETYPE_PEM : WOLFSSL_FILETYPE_ASN1;
	r = n > LONG_MAX ? -1 : wolfSSL_CTX_LoadCRLBuffer(tc->ctx, buf,
	    (long)n, type);
	if (r == -190) {	/* ASN_CRL_NO_SIGNER_E: read, issuer unknown */
		r = tls_crlset_add(&tc->crls, buf, n, type);
		free(buf);
		if (r == -1) {
			(void)snprintf(err, errlen, "CRL %s: out of memory",
			    path);
			return -1;
		}
		/*
		 * A warning, not info: a CRL of a CA that never appears in
		 * the server's chain is never consulted, and with
		 * crl_missing = ignore revocation is then quietly off.
		 */
		if (tc->srv)
			log_warnx("tls listener=%s CRL %s: its issuer is not "
			    "in client_ca_file; it will be checked against "
			    "the intermediate CA the client presents",
			    tc->host, path);
		else
			log_warnx("tls upstream=%s:%u CRL %s: its issuer is "
			    "not in ca_file or ca_path; it will be checked "
			    "against the intermediate CA the server presents "
			    "(if none of its CAs issued it, revocation is not "
			    "checked)", tc->host, tc->port, path);
		return 0;
	}
	free(buf);
	if (r == WOLFSSL_SUCCESS)
		return 0;
	wolfSSL_ERR_error_string_n((unsigned long)(long)r, why, sizeof(why));
	(void)snprintf(err, errlen, "CRL %s: cannot be loaded (%s, %d)", path,
	    why, r);
	return -1;
}

/* CRL checking: on when a CRL file or directory is named */
int
tls_ctx_load_crls(struct tls_client_ctx *tc, const struct conf_tls *ts,
    char *err, size_t errlen)
{
	if (!tc->vp.crl_on)
		return 0;
	if (wolfSSL_CTX_EnableCRL(tc->ctx, ts->crl_check == CRL_CHECK_LEAF ?
	    0 : WOLFSSL_CRL_CHECKALL) != WOLFSSL_SUCCESS) {
		(void)snprintf(err, errlen, "cannot enable CRL checking");
		return -1;
	}
	if (ts->crl_file[0] != '\0' &&
	    ctx_load_crl(tc, ts->crl_file, err, errlen) == -1)
		return -1;
	if (ts->crl_path[0] != '\0' && dir_files(ts->crl_path, ctx_load_crl,
	    tc, "crl_path", err, errlen) == -1)
		return -1;
	return 0;
}

/* tls_client_ctx_set_probe - sessions of tc record instead of failing */
void
tls_client_ctx_set_probe(struct tls_client_ctx *tc)
{
	tc->probe = 1;
}

/* tls_client_ctx_free - sessions still running keep their own reference */
void
tls_client_ctx_free(struct tls_client_ctx *tc)
{
	if (tc == NULL)
		return;
	if (tc->ctx != NULL)
		wolfSSL_CTX_free(tc->ctx);
	tls_crlset_unref(tc->crls);
	tls_sesscache_unref(tc->sess);	/* live sessions keep theirs */
	free(tc);
}
