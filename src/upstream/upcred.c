/*
 * upcred.c - upstream credential selection (pure, no I/O).
 */
#include <stdio.h>
#include <string.h>

#include "auth/secret.h"
#include "auth/users.h"
#include "upstream/upcred.h"

/* upcred_id - "<kind>:<name>", refused rather than cut */
static int
upcred_id(struct upcred *c, const char *kind, const char *name,
    const char **why)
{
	int	n;

	n = snprintf(c->identity, sizeof(c->identity), "%s:%s", kind, name);
	if (n < 0 || (size_t)n >= sizeof(c->identity)) {
		*why = "user name too long for an identity";
		return -1;
	}
	return 0;
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
	return upcred_id(c, "pass", f->user, why);
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

const struct smtp_client_auth *
upcred_auth(const struct upcred *c)
{
	return c->has_auth ? &c->auth : NULL;
}
