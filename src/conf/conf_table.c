/*
 * conf_table.c - the key table: every key of the file as one row (section,
 * name, type, default as file text, bounds, field), and the word lists of
 * its enumerated keys.
 *
 * conf.c reads the file through it, conf_print.c prints from it, and the
 * tests check docs/configuration.md and the man page against it.  Data
 * only, and the names of a few words.
 */
#include <stddef.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/conf_keys.h"
#include "conf/conf_table.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

static const struct conf_word words_log_target[] = {
	{ "stderr", 0 }, { "syslog", 1 }, { NULL, 0 }
};
static const struct conf_word words_log_format[] = {
	{ "text", 0 }, { "json", 1 }, { NULL, 0 }
};
static const struct conf_word words_tls[] = {
	{ "auto", TLS_AUTO },
	{ "none", TLS_NONE },
	{ "starttls", TLS_STARTTLS },
	{ "starttls-optional", TLS_STARTTLS_OPTIONAL },
	{ "implicit", TLS_IMPLICIT },
	{ NULL, 0 }
};
static const struct conf_word words_listen_tls[] = {
	{ "none", LISTEN_TLS_NONE },
	{ "starttls", LISTEN_TLS_STARTTLS },
	{ "implicit", LISTEN_TLS_IMPLICIT },
	{ NULL, 0 }
};
static const struct conf_word words_verify_client[] = {
	{ "none", VERIFY_CLIENT_NONE },
	{ "optional", VERIFY_CLIENT_OPTIONAL },
	{ "required", VERIFY_CLIENT_REQUIRED },
	{ NULL, 0 }
};
static const struct conf_word words_accept[] = {
	{ "self-signed", CONF_ACCEPT_SELF_SIGNED },
	{ "untrusted-root", CONF_ACCEPT_UNTRUSTED_ROOT },
	{ "expired", CONF_ACCEPT_EXPIRED },
	{ "not-yet-valid", CONF_ACCEPT_NOT_YET_VALID },
	{ "name-mismatch", CONF_ACCEPT_NAME_MISMATCH },
	{ "weak-rsa-key", CONF_ACCEPT_WEAK_RSA_KEY },
	{ "sha1-signature", CONF_ACCEPT_SHA1_SIGNATURE },
	{ NULL, 0 }
};
/* the first spelling of each is the one error messages list */
static const struct conf_word words_curves[] = {
	{ "X25519", CONF_CURVE_X25519 },
	{ "P-256", CONF_CURVE_P256 },
	{ "P-384", CONF_CURVE_P384 },
	{ "P-521", CONF_CURVE_P521 },
	{ "X448", CONF_CURVE_X448 },
	{ "secp256r1", CONF_CURVE_P256 },
	{ "prime256v1", CONF_CURVE_P256 },
	{ "secp384r1", CONF_CURVE_P384 },
	{ "secp521r1", CONF_CURVE_P521 },
	{ NULL, 0 }
};
static const struct conf_word words_crl_check[] = {
	{ "chain", CRL_CHECK_CHAIN },
	{ "leaf", CRL_CHECK_LEAF },
	{ "chain-except-root", CRL_CHECK_CHAIN_EXCEPT_ROOT },
	{ NULL, 0 }
};
static const struct conf_word words_crl_missing[] = {
	{ "ignore", 0 }, { "fail", 1 }, { NULL, 0 }
};
static const struct conf_word words_ocsp[] = {
	{ "off", OCSP_OFF }, { "soft", OCSP_SOFT }, { "hard", OCSP_HARD },
	{ NULL, 0 }
};
static const struct conf_word words_ocsp_check[] = {
	{ "leaf", 0 }, { "chain", 1 }, { NULL, 0 }
};
static const struct conf_word words_ocsp_stapling[] = {
	{ "off", STAPLING_OFF }, { "request", STAPLING_REQUEST },
	{ "require", STAPLING_REQUIRE }, { NULL, 0 }
};
static const struct conf_word words_auth[] = {
	{ "none", AUTH_NONE },
	{ "inject", AUTH_INJECT },
	{ "passthrough", AUTH_PASSTHROUGH },
	{ "map", AUTH_MAP },
	{ NULL, 0 }
};
static const struct conf_word words_pop_tls[] = {
	{ "implicit", POP_TLS_IMPLICIT },
	{ "stls", POP_TLS_STLS },
	{ "none", POP_TLS_NONE },
	{ NULL, 0 }
};
static const struct conf_word words_mechs[] = {
	{ "PLAIN", AUTH_MECH_PLAIN },
	{ "LOGIN", AUTH_MECH_LOGIN },
	{ "CRAM-MD5", AUTH_MECH_CRAM_MD5 },
	{ "XOAUTH2", AUTH_MECH_XOAUTH2 },
	{ "OAUTHBEARER", AUTH_MECH_OAUTHBEARER },
	{ "SCRAM-SHA-1", AUTH_MECH_SCRAM_SHA_1 },
	{ "SCRAM-SHA-256", AUTH_MECH_SCRAM_SHA_256 },
	{ "DIGEST-MD5", AUTH_MECH_DIGEST_MD5 },
	{ "NTLM", AUTH_MECH_NTLM },
	{ "GSSAPI", AUTH_MECH_GSSAPI },
	{ NULL, 0 }
};
static const struct conf_word words_long_lines[] = {
	{ "refuse", LONG_LINES_REFUSE },
	{ "pass", LONG_LINES_PASS },
	{ "encode", LONG_LINES_ENCODE },
	{ NULL, 0 }
};
static const struct conf_word words_eight_bit[] = {
	{ "convert", EIGHT_BIT_CONVERT },
	{ "pass", EIGHT_BIT_PASS },
	{ NULL, 0 }
};
static const struct conf_word words_proxy_protocol[] = {
	{ "no", PROXY_PROTOCOL_NO },
	{ "v1", PROXY_PROTOCOL_V1 },
	{ "v2", PROXY_PROTOCOL_V2 },
	{ "any", PROXY_PROTOCOL_ANY },
	{ NULL, 0 }
};
static const struct conf_word words_delivery[] = {
	{ "lockstep", DELIVERY_LOCKSTEP },
	{ "queue", DELIVERY_QUEUE },
	{ NULL, 0 }
};
static const struct conf_word words_requiretls[] = {
	{ "tls", REQUIRETLS_TLS },
	{ "always", REQUIRETLS_ALWAYS },
	{ "no", REQUIRETLS_NO },
	{ NULL, 0 }
};
static const struct conf_word words_smime_missing[] = {
	{ "sign-only", SMIME_MISSING_SIGN_ONLY },
	{ "refuse", SMIME_MISSING_REFUSE },
	{ NULL, 0 }
};
static const struct conf_word words_smime_cipher[] = {
	{ "aes256-cbc", SMIME_AES256_CBC },
	{ "aes128-cbc", SMIME_AES128_CBC },
	{ NULL, 0 }
};
static const struct conf_word words_bare_newline[] = {
	{ "reject", BARE_NEWLINE_REJECT },
	{ "normalize", BARE_NEWLINE_NORMALIZE },
	{ NULL, 0 }
};

#define F(type, m)	offsetof(struct type, m), sizeof(((struct type *)0)->m)
#define GW(m)		F(gw_conf, m), 0
#define LS(m)		F(conf_listener, m), 0
#define UP(m)		F(conf_upstream, m), 0
#define UPL(m, n)	F(conf_upstream, m), offsetof(struct conf_upstream, n)
/* a key of the TLS-settings block, inside [upstream] */
#define UT(m)		UP(tlsset.m)
#define UTL(m, n)	UPL(tlsset.m, tlsset.n)
#define GWL(m, n)	F(gw_conf, m), offsetof(struct gw_conf, n)
#define LSL(m, n)	F(conf_listener, m), offsetof(struct conf_listener, n)
/* a key of the listener's TLS-settings block */
#define LT(m)		LS(tlsset.m)
#define LTL(m, n)	LSL(tlsset.m, tlsset.n)
#define DK(m)		F(conf_dkim, m), 0
#define DKL(m, n)	F(conf_dkim, m), offsetof(struct conf_dkim, n)
#define RTL(m, n)	F(conf_route, m), offsetof(struct conf_route, n)
#define SM(m)		F(conf_smime, m), 0
#define SML(m, n)	F(conf_smime, m), offsetof(struct conf_smime, n)
/* the list; RFC 6376 5.4.1's advice without the trace headers */
#define DKIM_DEFAULT_HEADERS	"From, To, Cc, Subject, Date, Message-ID, " \
	"Reply-To, In-Reply-To, References, MIME-Version, Content-Type, " \
	"Content-Transfer-Encoding"

/*
 * The keys.  Bounds: UINT and SIZE in their unit, DURATION in seconds.
 * Keep docs/configuration.md in step: test_conf.c loads every default the
 * document shows and compares the result with the table's; test_conf_print.c
 * checks it and docs/man/smtpgate.ini.5 against this table, key by key.
 */
static const struct conf_key keytab[] = {
	/* sec, name, type, default, derive, min, max, field */
	{ SEC_GATEWAY, "hostname", KT_HOST, NULL, DERIVE_SYSHOST, 0, 0,
	    GW(hostname), NULL, 0 },
	{ SEC_GATEWAY, "user", KT_NAME, "", DERIVE_NONE, 0, 0,
	    GW(user), NULL, 1 },
	{ SEC_GATEWAY, "log_level", KT_LOGLEVEL, "info", DERIVE_NONE, 0, 0,
	    GW(log_level), NULL, 0 },
	{ SEC_GATEWAY, "log_facilities", KT_LOGFAC, "all", DERIVE_NONE, 0, 0,
	    GW(log_facilities), NULL, 0 },
	{ SEC_GATEWAY, "log_target", KT_ENUM, "stderr", DERIVE_NONE, 0, 0,
	    GW(log_syslog), words_log_target, 0 },
	{ SEC_GATEWAY, "log_format", KT_ENUM, "text", DERIVE_NONE, 0, 0,
	    GW(log_json), words_log_format, 0 },
	{ SEC_GATEWAY, "max_sessions", KT_UINT, "1000", DERIVE_NONE,
	    1, 100000, GW(max_sessions), NULL, 0 },
	{ SEC_GATEWAY, "auth_fail_limit", KT_UINT, "10", DERIVE_NONE,
	    0, 1000, GW(auth_fail_limit), NULL, 0 },
	{ SEC_GATEWAY, "auth_fail_window", KT_DURATION, "15m", DERIVE_NONE,
	    1, 86400, GW(auth_fail_window), NULL, 0 },
	{ SEC_GATEWAY, "auth_fail_delay_max", KT_DURATION, "8s", DERIVE_NONE,
	    0, 60, GW(auth_fail_delay_max), NULL, 0 },
	{ SEC_GATEWAY, "http_listen", KT_LISTEN, "", DERIVE_NONE,
	    0, 1, GWL(http_listen, nhttp_listen), NULL, 0 },
	{ SEC_GATEWAY, "ready_window", KT_DURATION, "60s", DERIVE_NONE,
	    2, 3600, GW(ready_window), NULL, 0 },
	/* failover and store and forward (docs/queue.md) */
	{ SEC_GATEWAY, "upstream_down_time", KT_DURATION, "30s", DERIVE_NONE,
	    1, 3600, GW(upstream_down_time), NULL, 0 },
	{ SEC_GATEWAY, "upstream_down_time_max", KT_DURATION, "10m",
	    DERIVE_NONE, 1, 86400, GW(upstream_down_time_max), NULL, 0 },
	{ SEC_GATEWAY, "failover_timeout", KT_DURATION, "2m", DERIVE_NONE,
	    1, 3600, GW(failover_timeout), NULL, 0 },
	{ SEC_GATEWAY, "queue_dir", KT_PATH, "", DERIVE_NONE, 0, 0,
	    GW(queue_dir), NULL, 1 },
	{ SEC_GATEWAY, "queue_max_messages", KT_UINT, "10000", DERIVE_NONE,
	    1, 10000000, GW(queue_max_messages), NULL, 0 },
	{ SEC_GATEWAY, "queue_max_size", KT_SIZE, "1G", DERIVE_NONE,
	    1024 * KB, 1024 * GB, GW(queue_max_size), NULL, 0 },
	{ SEC_GATEWAY, "queue_lifetime", KT_DURATION, "5d", DERIVE_NONE,
	    1, 60 * 86400, GW(queue_lifetime), NULL, 0 },
	{ SEC_GATEWAY, "queue_retry", KT_DURATION, "5m", DERIVE_NONE,
	    1, 86400, GW(queue_retry), NULL, 0 },
	{ SEC_GATEWAY, "queue_retry_max", KT_DURATION, "1h", DERIVE_NONE,
	    1, 86400, GW(queue_retry_max), NULL, 0 },
	{ SEC_GATEWAY, "queue_parallel", KT_UINT, "4", DERIVE_NONE,
	    1, 100, GW(queue_parallel), NULL, 0 },

	{ SEC_LISTENER, "listen", KT_LISTEN, NULL, DERIVE_NONE,
	    1, CONF_MAX_LISTEN, LSL(listen, nlisten), NULL, 0 },
	{ SEC_LISTENER, "allow", KT_CIDRS, "127.0.0.0/8, ::1/128",
	    DERIVE_NONE, 1, CONF_MAX_ALLOW, LSL(allow, nallow), NULL, 0 },
	/* an ordered list: the first, then the next when one is unreachable */
	{ SEC_LISTENER, "upstream", KT_NAMES, NULL, DERIVE_NONE,
	    1, CONF_MAX_UPLIST, LSL(upstreams.names, upstreams.n), NULL, 0 },
	{ SEC_LISTENER, "delivery", KT_ENUM, "lockstep", DERIVE_NONE, 0, 0,
	    LS(delivery), words_delivery, 0 },
	{ SEC_LISTENER, "max_message_size", KT_SIZE, "50M", DERIVE_NONE,
	    1 * KB, 2 * GB, LS(max_message_size), NULL, 0 },
	{ SEC_LISTENER, "max_recipients", KT_UINT, "100", DERIVE_NONE,
	    1, 10000, LS(max_recipients), NULL, 0 },
	{ SEC_LISTENER, "banner", KT_BANNER, NULL, DERIVE_BANNER, 0, 0,
	    LS(banner), NULL, 0 },
	{ SEC_LISTENER, "command_timeout", KT_DURATION, "5m", DERIVE_NONE,
	    1, 3600, LS(command_timeout), NULL, 0 },
	{ SEC_LISTENER, "data_timeout", KT_DURATION, "10m", DERIVE_NONE,
	    1, 3600, LS(data_timeout), NULL, 0 },
	{ SEC_LISTENER, "max_sessions_per_client", KT_UINT, "50", DERIVE_NONE,
	    1, 100000, LS(max_sessions_per_client), NULL, 0 },
	{ SEC_LISTENER, "bare_newline", KT_ENUM, "reject", DERIVE_NONE, 0, 0,
	    LS(bare_newline), words_bare_newline, 0 },
	{ SEC_LISTENER, "long_lines", KT_ENUM, "pass", DERIVE_NONE, 0, 0,
	    LS(long_lines), words_long_lines, 0 },
	{ SEC_LISTENER, "eight_bit", KT_ENUM, "convert", DERIVE_NONE, 0, 0,
	    LS(eight_bit), words_eight_bit, 0 },
	{ SEC_LISTENER, "max_session_time", KT_DURATION, "1h", DERIVE_NONE,
	    1, 86400, LS(max_session_time), NULL, 0 },
	{ SEC_LISTENER, "max_junk_commands", KT_UINT, "100", DERIVE_NONE,
	    1, 100000, LS(max_junk_commands), NULL, 0 },
	{ SEC_LISTENER, "min_data_rate", KT_UINT, "500", DERIVE_NONE,
	    0, 1000000000, LS(min_data_rate), NULL, 0 },
	{ SEC_LISTENER, "received_header", KT_BOOL, "no", DERIVE_NONE, 0, 0,
	    LS(received_header), NULL, 0 },
	{ SEC_LISTENER, "stream_data", KT_BOOL, "yes", DERIVE_NONE, 0, 0,
	    LS(stream_data), NULL, 0 },
	{ SEC_LISTENER, "dkim", KT_NAMES, "", DERIVE_NONE, 0, CONF_MAX_DKIM,
	    LSL(dkim_names, ndkim), NULL, 1 },
	{ SEC_LISTENER, "dkim_required", KT_BOOL, "no", DERIVE_NONE, 0, 0,
	    LS(dkim_required), NULL, 0 },
	{ SEC_LISTENER, "smime", KT_NAMES, "", DERIVE_NONE, 0, CONF_MAX_SMIME,
	    LSL(smime_names, nsmime), NULL, 1 },
	{ SEC_LISTENER, "tls", KT_ENUM, "none", DERIVE_NONE, 0, 0,
	    LS(tls), words_listen_tls, 0 },
	{ SEC_LISTENER, "tls_cert", KT_FILE, "", DERIVE_NONE, 0, 0,
	    LS(tls_cert), NULL, 1 },
	{ SEC_LISTENER, "tls_key", KT_SECRET, "", DERIVE_NONE, 0, 0,
	    LS(tls_key), NULL, 1 },
	{ SEC_LISTENER, "tls_required", KT_BOOL, "no", DERIVE_NONE, 0, 0,
	    LS(tls_required), NULL, 0 },
	{ SEC_LISTENER, "requiretls", KT_ENUM, "tls", DERIVE_NONE, 0, 0,
	    LS(requiretls), words_requiretls, 0 },
	{ SEC_LISTENER, "tls_handshake_timeout", KT_DURATION, "10s",
	    DERIVE_NONE, 1, 300, LS(tls_handshake_timeout), NULL, 0 },
	{ SEC_LISTENER, "tls_min_version", KT_TLSVER, "1.2", DERIVE_NONE, 0, 0,
	    LT(tls_min_version), NULL, 0 },
	{ SEC_LISTENER, "tls_max_version", KT_TLSVER, "1.3", DERIVE_NONE, 0, 0,
	    LT(tls_max_version), NULL, 0 },
	{ SEC_LISTENER, "ciphers", KT_CIPHERS12, "", DERIVE_NONE, 0, 0,
	    LT(ciphers), NULL, 1 },
	{ SEC_LISTENER, "ciphersuites", KT_CIPHERS13, "", DERIVE_NONE, 0, 0,
	    LT(ciphersuites), NULL, 1 },
	{ SEC_LISTENER, "curves", KT_CURVES, "", DERIVE_NONE,
	    0, CONF_MAX_CURVES, LTL(curves, ncurves), words_curves, 1 },
	{ SEC_LISTENER, "verify_client", KT_ENUM, "none", DERIVE_NONE, 0, 0,
	    LS(verify_client), words_verify_client, 0 },
	{ SEC_LISTENER, "client_ca_file", KT_FILE, "", DERIVE_NONE, 0, 0,
	    LT(ca_file), NULL, 1 },
	{ SEC_LISTENER, "client_cert_pins", KT_PINS, "", DERIVE_NONE,
	    0, CONF_MAX_PINS, LTL(pins, npins), NULL, 1 },
	{ SEC_LISTENER, "crl_file", KT_FILE, "", DERIVE_NONE, 0, 0,
	    LT(crl_file), NULL, 1 },
	{ SEC_LISTENER, "crl_path", KT_DIR, "", DERIVE_NONE, 0, 0,
	    LT(crl_path), NULL, 1 },
	{ SEC_LISTENER, "crl_check", KT_ENUM, "chain", DERIVE_NONE, 0, 0,
	    LT(crl_check), words_crl_check, 0 },
	{ SEC_LISTENER, "crl_missing", KT_ENUM, "ignore", DERIVE_NONE, 0, 0,
	    LT(crl_missing_fail), words_crl_missing, 0 },
	{ SEC_LISTENER, "auth_allow_cleartext", KT_BOOL, "no", DERIVE_NONE,
	    0, 0, LS(auth_allow_cleartext), NULL, 0 },
	{ SEC_LISTENER, "rate_connections", KT_RATE, "off", DERIVE_NONE,
	    0, 0, LS(rate_connections), NULL, 0 },
	{ SEC_LISTENER, "rate_messages", KT_RATE, "off", DERIVE_NONE,
	    0, 0, LS(rate_messages), NULL, 0 },
	{ SEC_LISTENER, "rate_recipients", KT_RATE, "off", DERIVE_NONE,
	    0, 0, LS(rate_recipients), NULL, 0 },
	{ SEC_LISTENER, "rate_user_messages", KT_RATE, "off", DERIVE_NONE,
	    0, 0, LS(rate_user_messages), NULL, 0 },
	{ SEC_LISTENER, "proxy_protocol", KT_ENUM, "no", DERIVE_NONE, 0, 0,
	    LS(proxy_protocol), words_proxy_protocol, 0 },
	{ SEC_LISTENER, "proxy_from", KT_CIDRS, "", DERIVE_NONE,
	    0, CONF_MAX_ALLOW, LSL(proxy_from, nproxy_from), NULL, 0 },
	{ SEC_LISTENER, "proxy_timeout", KT_DURATION, "10s", DERIVE_NONE,
	    1, 300, LS(proxy_timeout), NULL, 0 },

	{ SEC_UPSTREAM, "host", KT_HOST, NULL, DERIVE_NONE, 0, 0,
	    UP(host), NULL, 0 },
	{ SEC_UPSTREAM, "port", KT_UINT, "587", DERIVE_NONE, 1, 65535,
	    UP(port), NULL, 0 },
	{ SEC_UPSTREAM, "tls", KT_ENUM, "auto", DERIVE_NONE, 0, 0,
	    UP(tls), words_tls, 0 },
	{ SEC_UPSTREAM, "ca_file", KT_CAFILE, "system", DERIVE_NONE, 0, 0,
	    UT(ca_file), NULL, 0 },
	{ SEC_UPSTREAM, "verify_hostname", KT_BOOL, "yes", DERIVE_NONE, 0, 0,
	    UT(verify_hostname), NULL, 0 },
	{ SEC_UPSTREAM, "tls_name", KT_HOST, NULL, DERIVE_UPHOST, 0, 0,
	    UT(tls_name), NULL, 0 },
	{ SEC_UPSTREAM, "tls_min_version", KT_TLSVER, "1.2", DERIVE_NONE, 0, 0,
	    UT(tls_min_version), NULL, 0 },
	{ SEC_UPSTREAM, "tls_max_version", KT_TLSVER, "1.3", DERIVE_NONE, 0, 0,
	    UT(tls_max_version), NULL, 0 },
	{ SEC_UPSTREAM, "ca_path", KT_DIR, "", DERIVE_NONE, 0, 0,
	    UT(ca_path), NULL, 1 },
	{ SEC_UPSTREAM, "verify_chain", KT_NBOOL, "yes", DERIVE_NONE, 0, 0,
	    UT(no_verify_chain), NULL, 0 },
	{ SEC_UPSTREAM, "accept", KT_FLAGS, "", DERIVE_NONE, 0, 0,
	    UT(accept), words_accept, 1 },
	{ SEC_UPSTREAM, "pin_sha256", KT_PINS, "", DERIVE_NONE,
	    0, CONF_MAX_PINS, UTL(pins, npins), NULL, 1 },
	{ SEC_UPSTREAM, "ciphers", KT_CIPHERS12, "", DERIVE_NONE, 0, 0,
	    UT(ciphers), NULL, 1 },
	{ SEC_UPSTREAM, "ciphersuites", KT_CIPHERS13, "", DERIVE_NONE, 0, 0,
	    UT(ciphersuites), NULL, 1 },
	{ SEC_UPSTREAM, "curves", KT_CURVES, "", DERIVE_NONE,
	    0, CONF_MAX_CURVES, UTL(curves, ncurves), words_curves, 1 },
	{ SEC_UPSTREAM, "client_cert", KT_FILE, "", DERIVE_NONE, 0, 0,
	    UT(client_cert), NULL, 1 },
	{ SEC_UPSTREAM, "client_key", KT_FILE, "", DERIVE_NONE, 0, 0,
	    UT(client_key), NULL, 1 },
	{ SEC_UPSTREAM, "client_key_password_file", KT_FILE, "", DERIVE_NONE,
	    0, 0, UT(client_key_password_file), NULL, 1 },
	{ SEC_UPSTREAM, "crl_file", KT_FILE, "", DERIVE_NONE, 0, 0,
	    UT(crl_file), NULL, 1 },
	{ SEC_UPSTREAM, "crl_path", KT_DIR, "", DERIVE_NONE, 0, 0,
	    UT(crl_path), NULL, 1 },
	{ SEC_UPSTREAM, "crl_check", KT_ENUM, "chain", DERIVE_NONE, 0, 0,
	    UT(crl_check), words_crl_check, 0 },
	{ SEC_UPSTREAM, "crl_missing", KT_ENUM, "ignore", DERIVE_NONE, 0, 0,
	    UT(crl_missing_fail), words_crl_missing, 0 },
	{ SEC_UPSTREAM, "ocsp", KT_ENUM, "off", DERIVE_NONE, 0, 0,
	    UT(ocsp), words_ocsp, 0 },
	{ SEC_UPSTREAM, "ocsp_url", KT_BANNER, "", DERIVE_NONE, 0, 0,
	    UT(ocsp_url), NULL, 1 },
	{ SEC_UPSTREAM, "ocsp_nonce", KT_BOOL, "no", DERIVE_NONE, 0, 0,
	    UT(ocsp_nonce), NULL, 0 },
	{ SEC_UPSTREAM, "ocsp_check", KT_ENUM, "leaf", DERIVE_NONE, 0, 0,
	    UT(ocsp_chain), words_ocsp_check, 0 },
	{ SEC_UPSTREAM, "ocsp_timeout", KT_DURATION, "10s", DERIVE_NONE,
	    1, 300, UT(ocsp_timeout), NULL, 0 },
	{ SEC_UPSTREAM, "ocsp_stapling", KT_ENUM, "off", DERIVE_NONE, 0, 0,
	    UT(ocsp_stapling), words_ocsp_stapling, 0 },
	{ SEC_UPSTREAM, "tls_resume", KT_BOOL, "yes", DERIVE_NONE, 0, 0,
	    UT(tls_resume), NULL, 0 },
	{ SEC_UPSTREAM, "helo_name", KT_HOST, NULL, DERIVE_GWHOST, 0, 0,
	    UP(helo_name), NULL, 0 },
	{ SEC_UPSTREAM, "connect_timeout", KT_DURATION, "30s", DERIVE_NONE,
	    1, 3600, UP(connect_timeout), NULL, 0 },
	{ SEC_UPSTREAM, "command_timeout", KT_DURATION, "5m", DERIVE_NONE,
	    1, 3600, UP(command_timeout), NULL, 0 },
	{ SEC_UPSTREAM, "slow_reply_warning", KT_DURATION, "25s", DERIVE_NONE,
	    0, 3600, UP(slow_reply_warning), NULL, 0 },
	{ SEC_UPSTREAM, "pool", KT_BOOL, "yes", DERIVE_NONE, 0, 0,
	    UP(pool), NULL, 0 },
	{ SEC_UPSTREAM, "pool_max_idle", KT_UINT, "4", DERIVE_NONE,
	    0, 1000, UP(pool_max_idle), NULL, 0 },
	{ SEC_UPSTREAM, "pool_idle_timeout", KT_DURATION, "60s", DERIVE_NONE,
	    1, 3600, UP(pool_idle_timeout), NULL, 0 },
	{ SEC_UPSTREAM, "pool_max_messages", KT_UINT, "100", DERIVE_NONE,
	    1, 100000, UP(pool_max_messages), NULL, 0 },
	{ SEC_UPSTREAM, "pool_min_idle", KT_UINT, "0", DERIVE_NONE,
	    0, 1000, UP(pool_min_idle), NULL, 0 },
	{ SEC_UPSTREAM, "auth", KT_ENUM, "none", DERIVE_NONE, 0, 0,
	    UP(auth), words_auth, 0 },
	{ SEC_UPSTREAM, "username", KT_BANNER, "", DERIVE_NONE, 0, 0,
	    UP(username), NULL, 1 },
	{ SEC_UPSTREAM, "password_file", KT_SECRET, "", DERIVE_NONE, 0, 0,
	    UP(password_file), NULL, 1 },
	{ SEC_UPSTREAM, "token_file", KT_SECRET, "", DERIVE_NONE, 0, 0,
	    UP(token_file), NULL, 1 },
	{ SEC_UPSTREAM, "token_command", KT_BANNER, "", DERIVE_NONE, 0, 0,
	    UP(token_command), NULL, 1 },
	{ SEC_UPSTREAM, "token_timeout", KT_DURATION, "10s", DERIVE_NONE,
	    1, 300, UP(token_timeout), NULL, 0 },
	{ SEC_UPSTREAM, "gssapi_keytab", KT_SECRET, "", DERIVE_NONE, 0, 0,
	    UP(gssapi_keytab), NULL, 1 },
	{ SEC_UPSTREAM, "gssapi_principal", KT_BANNER, "", DERIVE_NONE, 0, 0,
	    UP(gssapi_principal), NULL, 1 },
	{ SEC_UPSTREAM, "gssapi_service", KT_BANNER, "", DERIVE_NONE, 0, 0,
	    UP(gssapi_service), NULL, 1 },
	{ SEC_UPSTREAM, "users_file", KT_SECRET, "", DERIVE_NONE, 0, 0,
	    UP(users_file), NULL, 1 },
	{ SEC_UPSTREAM, "auth_mechanisms", KT_MECHS, "all", DERIVE_NONE,
	    0, CONF_MAX_MECHS, UPL(auth_mechs, nauth_mechs), words_mechs, 0 },
	{ SEC_UPSTREAM, "auth_fallback", KT_BOOL, "yes", DERIVE_NONE, 0, 0,
	    UP(auth_fallback), NULL, 0 },
	{ SEC_UPSTREAM, "auth_allow_cleartext", KT_BOOL, "no", DERIVE_NONE,
	    0, 0, UP(auth_allow_cleartext), NULL, 0 },
	{ SEC_UPSTREAM, "pop_before_smtp", KT_HOSTPORT, "", DERIVE_NONE, 0, 0,
	    UP(pop_server), NULL, 1 },
	{ SEC_UPSTREAM, "pop_tls", KT_ENUM, "implicit", DERIVE_NONE, 0, 0,
	    UP(pop_tls), words_pop_tls, 0 },
	{ SEC_UPSTREAM, "pop_timeout", KT_DURATION, "30s", DERIVE_NONE,
	    1, 300, UP(pop_timeout), NULL, 0 },
	{ SEC_UPSTREAM, "pop_interval", KT_DURATION, "0s", DERIVE_NONE,
	    0, 3600, UP(pop_interval), NULL, 0 },
	{ SEC_UPSTREAM, "proxy", KT_PROXY, "", DERIVE_NONE, 0, 0,
	    UP(proxy), NULL, 1 },
	{ SEC_UPSTREAM, "proxy_password_file", KT_SECRET, "", DERIVE_NONE,
	    0, 0, UP(proxy_password_file), NULL, 1 },

	{ SEC_DKIM, "domain", KT_DOMAIN, NULL, DERIVE_NONE, 0, 0,
	    DK(domain), NULL, 0 },
	{ SEC_DKIM, "selector", KT_DOMAIN, NULL, DERIVE_NONE, 0, 0,
	    DK(selector), NULL, 0 },
	{ SEC_DKIM, "key_file", KT_FILE, NULL, DERIVE_NONE, 0, 0,
	    DK(key_file), NULL, 0 },
	{ SEC_DKIM, "canonicalization", KT_CANON, "relaxed/relaxed",
	    DERIVE_NONE, 0, 0, DK(canon), NULL, 0 },
	{ SEC_DKIM, "headers", KT_HDRLIST, DKIM_DEFAULT_HEADERS, DERIVE_NONE,
	    1, CONF_DKIM_HEADERS, DKL(headers, nheaders), NULL, 0 },
	{ SEC_DKIM, "oversign", KT_HDRLIST, "From", DERIVE_NONE,
	    0, CONF_DKIM_HEADERS, DKL(oversign, noversign), NULL, 1 },
	{ SEC_DKIM, "sign_date", KT_BOOL, "yes", DERIVE_NONE, 0, 0,
	    DK(sign_date), NULL, 0 },
	{ SEC_DKIM, "sign_message_id", KT_BOOL, "yes", DERIVE_NONE, 0, 0,
	    DK(sign_message_id), NULL, 0 },
	/* 0 = no x=; else at most a year: a longer x= is as good as none */
	{ SEC_DKIM, "expire", KT_DURATION, "0", DERIVE_NONE, 0, 366 * 86400,
	    DK(expire), NULL, 0 },
	{ SEC_DKIM, "identity", KT_IDENTITY, "", DERIVE_NONE, 0, 0,
	    DK(identity), NULL, 1 },
	{ SEC_DKIM, "subdomains", KT_BOOL, "no", DERIVE_NONE, 0, 0,
	    DK(subdomains), NULL, 0 },

	{ SEC_ROUTE, "sender", KT_SENDERS, NULL, DERIVE_NONE,
	    1, CONF_ROUTE_SENDERS, RTL(senders, nsenders), NULL, 0 },
	{ SEC_ROUTE, "upstream", KT_NAMES, NULL, DERIVE_NONE,
	    1, CONF_MAX_UPLIST, RTL(upstreams.names, upstreams.n), NULL, 0 },

	/* S/MIME (docs/smime.md) */
	{ SEC_SMIME, "senders", KT_SENDERS, NULL, DERIVE_NONE,
	    1, CONF_ROUTE_SENDERS, SML(senders, nsenders), NULL, 0 },
	{ SEC_SMIME, "sign", KT_BOOL, "yes", DERIVE_NONE, 0, 0,
	    SM(sign), NULL, 0 },
	{ SEC_SMIME, "cert_file", KT_FILE, "", DERIVE_NONE, 0, 0,
	    SM(cert_file), NULL, 1 },
	{ SEC_SMIME, "key_file", KT_SECRET, "", DERIVE_NONE, 0, 0,
	    SM(key_file), NULL, 1 },
	{ SEC_SMIME, "chain_file", KT_FILE, "", DERIVE_NONE, 0, 0,
	    SM(chain_file), NULL, 1 },
	{ SEC_SMIME, "encrypt", KT_BOOL, "no", DERIVE_NONE, 0, 0,
	    SM(encrypt), NULL, 0 },
	{ SEC_SMIME, "recipient_certs", KT_DIR, "", DERIVE_NONE, 0, 0,
	    SM(recipient_certs), NULL, 1 },
	{ SEC_SMIME, "missing_recipient_cert", KT_ENUM, "sign-only",
	    DERIVE_NONE, 0, 0, SM(missing), words_smime_missing, 0 },
	{ SEC_SMIME, "cipher", KT_ENUM, "aes256-cbc", DERIVE_NONE, 0, 0,
	    SM(cipher), words_smime_cipher, 0 },
};

_Static_assert(nitems(keytab) <= CONF_KEYS_MAX, "raise CONF_KEYS_MAX");
const struct conf_key *const conf_keys = keytab;
const size_t conf_nkeys = nitems(keytab);

/* auth_mech_name - the name a mechanism has in EHLO and in the file */
const char *
auth_mech_name(int m)
{
	const struct conf_word	*w;

	for (w = words_mechs; w->word != NULL; w++)
		if (w->value == m)
			return w->word;
	return "none";
}

/* auth_mode_name - the word the file uses */
const char *
auth_mode_name(enum auth_mode m)
{
	const struct conf_word	*w;

	for (w = words_auth; w->word != NULL; w++)
		if (w->value == (int)m)
			return w->word;
	return "unknown";
}

/* conf_sec_name - see conf_keys.h */
const char *
conf_sec_name(enum sec_kind k)
{
	static const char *const names[] = {
		"gateway", "listener", "upstream", "dkim", "route", "smime"
	};

	return (size_t)k < nitems(names) ? names[k] : "?";
}
