/*
 * upcred.c - upstream credential selection (pure, no I/O).
 */
#include <sys/random.h>
#include <stdio.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "auth/secret.h"
#include "auth/users.h"
#include "upstream/upcred.h"
#include "util/str.h"

/* upcred_idbuf - "<kind>:<name>" into id, refused rather than cut */
static int
upcred_idbuf(char *id, size_t len, const char *kind, const char *name,
    const char **why)
{
	int	n;

	n = snprintf(id, len, "%s:%s", kind, name);
	if (n < 0 || (size_t)n >= len) {
		*why = "user name too long for an identity";
		return -1;
	}
	return 0;
}

static int
upcred_id(struct upcred *c, const char *kind, const char *name,
    const char **why)
{
	return upcred_idbuf(c->identity, sizeof(c->identity), kind, name, why);
}

/*
 * upcred_pass_id - "pass:<user>:<hex HMAC-SHA256(key, user NUL password)>".
 * The key is drawn once per process: proofs are never comparable across
 * restarts, and nothing logged can be checked against a guessed password
 * without it.  Every local derived from the password (the HMAC state, the
 * MAC, its hex) is wiped on every way out, and a refused id too.
 */
static int
upcred_pass_id(char *id, size_t len, const char *user, const char *secret,
    const char **why)
{
	static unsigned char	 key[32];
	static int		 have_key;
	Hmac			 h;
	unsigned char		 mac[WC_SHA256_DIGEST_SIZE];
	char			 hex[2 * sizeof(mac) + 1];
	size_t			 i;
	int			 n, rc = -1;

	*why = "cannot compute the passthrough identity";
	if (!have_key) {
		if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
			/* a short read left part of a key: not kept */
			explicit_bzero(key, sizeof(key));
			return -1;
		}
		have_key = 1;
	}
	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		goto out;
	rc = wc_HmacSetKey(&h, WC_SHA256, key, sizeof(key));
	if (rc == 0)
		rc = wc_HmacUpdate(&h, (const byte *)user,
		    (word32)strlen(user) + 1);
	if (rc == 0)
		rc = wc_HmacUpdate(&h, (const byte *)secret,
		    (word32)strlen(secret));
	if (rc == 0)
		rc = wc_HmacFinal(&h, mac);
	wc_HmacFree(&h);
	if (rc != 0) {
		rc = -1;
		goto out;
	}
	for (i = 0; i < sizeof(mac); i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	n = snprintf(id, len, "pass:%s:%s", user, hex);
	if (n < 0 || (size_t)n >= len) {
		/* a cut id may still hold part of the proof */
		if (len > 0)
			explicit_bzero(id, len);
		*why = "user name too long for an identity";
		rc = -1;
	}
out:
	explicit_bzero(&h, sizeof(h));
	explicit_bzero(mac, sizeof(mac));
	explicit_bzero(hex, sizeof(hex));
	return rc;
}

/* no SMTP AUTH: the connection is as good as the POP login, if any */
static int
upcred_none(const struct upcred_facts *f, struct upcred *c, const char **why)
{
	if (f->pop_user == NULL) {
		(void)snprintf(c->identity, sizeof(c->identity), "none");
		return 0;
	}
	return upcred_id(c, "pop", f->pop_user, why);
}

static int
upcred_inject(const struct upcred_facts *f, struct upcred *c,
    const char **why)
{
	if (f->inject == NULL || f->inject->user == NULL) {
		*why = "inject credentials not fetched";
		return -1;
	}
	c->auth.user = f->inject->user;
	c->auth.secret = f->inject->password;
	c->auth.token = f->inject->token;
	c->auth.keytab = f->inject->keytab;
	c->auth.principal = f->inject->principal;
	c->has_auth = 1;
	return upcred_id(c, "inject", f->inject->user, why);
}

static int
upcred_map(const struct upcred_facts *f, struct upcred *c, const char **why)
{
	if (f->map == NULL) {
		*why = "no users_file entry for the client";
		return -1;
	}
	c->auth.user = f->map->up_user;
	c->auth.secret = f->map->up_secret;
	c->has_auth = 1;
	return upcred_id(c, "map", f->map->up_user, why);
}

static int
upcred_pass(const struct upcred_facts *f, struct upcred *c, const char **why)
{
	if (f->user == NULL || f->secret == NULL) {
		*why = "no credentials from the client";
		return -1;
	}
	c->auth.user = f->user;
	c->auth.secret = f->secret;
	/* the client's password: no fallback (smtp_client.h says why) */
	c->auth.one_try = 1;
	c->has_auth = 1;
	if (f->identity != NULL) {
		if (str_copy(c->identity, f->identity,
		    sizeof(c->identity)) == -1) {
			*why = "user name too long for an identity";
			return -1;
		}
		return 0;
	}
	return upcred_pass_id(c->identity, sizeof(c->identity), f->user,
	    f->secret, why);
}

int
upcred_select(const struct upcred_facts *f, struct upcred *c,
    const char **why)
{
	int	rc = -1;

	memset(c, 0, sizeof(*c));
	*why = "unknown auth mode";
	switch (f->mode) {
	case AUTH_NONE:
		rc = upcred_none(f, c, why);
		break;
	case AUTH_INJECT:
		rc = upcred_inject(f, c, why);
		break;
	case AUTH_MAP:
		rc = upcred_map(f, c, why);
		break;
	case AUTH_PASSTHROUGH:
		rc = upcred_pass(f, c, why);
		break;
	}
	/* nothing half-chosen is left for a caller that ignores -1 */
	if (rc == -1)
		memset(c, 0, sizeof(*c));
	return rc;
}

int
upcred_identity(const struct upcred_facts *f, char *id, size_t len,
    const char **why)
{
	*why = "unknown auth mode";
	switch (f->mode) {
	case AUTH_NONE:
		if (f->pop_user == NULL)
			return str_copy(id, "none", len) == 0 ? 0 : -1;
		return upcred_idbuf(id, len, "pop", f->pop_user, why);
	case AUTH_INJECT:
		if (f->inject_user == NULL) {
			*why = "no inject user name";
			return -1;
		}
		return upcred_idbuf(id, len, "inject", f->inject_user, why);
	case AUTH_MAP:
		if (f->map == NULL) {
			*why = "no users_file entry for the client";
			return -1;
		}
		return upcred_idbuf(id, len, "map", f->map->up_user, why);
	case AUTH_PASSTHROUGH:
		if (f->user == NULL || f->secret == NULL) {
			*why = "no credentials from the client";
			return -1;
		}
		return upcred_pass_id(id, len, f->user, f->secret, why);
	}
	return -1;
}

/* upcred_id_log - id for a log line, passthrough's proof left out */
const char *
upcred_id_log(const char *id, char *out, size_t len)
{
	static const char	 pass[] = "pass:", hidden[] = "***";
	const char		*proof;
	size_t			 n;

	if (strncmp(id, pass, sizeof(pass) - 1) != 0)
		return str_vis(out, len, id, strlen(id));
	/*
	 * The proof is hex, after the last colon (a user name may hold
	 * one); without a colon after the prefix, hide all that follows.
	 */
	if ((proof = strrchr(id, ':')) == id + sizeof(pass) - 2)
		proof = NULL;
	n = proof != NULL ? (size_t)(proof - id) + 1 : sizeof(pass) - 1;
	(void)str_vis(out, len, id, n);
	/* a cut user name ends in "..." already: nothing to add */
	if (strlen(out) + sizeof(hidden) <= len)
		(void)gw_strlcat(out, hidden, len);
	return out;
}

const struct smtp_client_auth *
upcred_auth(const struct upcred *c)
{
	return c->has_auth ? &c->auth : NULL;
}
