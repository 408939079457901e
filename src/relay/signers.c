/*
 * signers.c - load the [dkim] keys of a configuration and choose the
 * signers of a message.
 *
 * The configuration only names key files; reading them here, beside the
 * TLS contexts, means "smtpgate -t", start-up and SIGHUP all see the same
 * problems, and a reload with a bad key is refused as a whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/signers.h"

struct signers {
	const struct gw_conf	*conf;		/* the snapshot the set belongs to */
	struct dkim_key		*keys[CONF_MAX_DKIM];
	struct dkim_signer	 s[CONF_MAX_DKIM];	/* indexed like conf->dkims */
	size_t			 n;
};

static void	signer_fill(struct dkim_signer *, const struct conf_dkim *,
		    const struct dkim_key *);
static size_t	signers_ncand(const struct signers *,
		    const struct conf_listener *);
static int	signers_cand(const struct signers *,
		    const struct conf_listener *, size_t, size_t *);

/* the section's settings as the signing library wants them */
static void
signer_fill(struct dkim_signer *s, const struct conf_dkim *d,
    const struct dkim_key *key)
{
	size_t	 i;

	memset(s, 0, sizeof(*s));
	s->key = key;
	s->domain = d->domain;
	s->selector = d->selector;
	s->identity = d->identity;
	s->hcanon = d->canon[0] == CONF_CANON_RELAXED ? DKIM_CANON_RELAXED :
	    DKIM_CANON_SIMPLE;
	s->bcanon = d->canon[1] == CONF_CANON_RELAXED ? DKIM_CANON_RELAXED :
	    DKIM_CANON_SIMPLE;
	for (i = 0; i < d->nheaders && i < DKIM_MAX_HEADERS; i++)
		s->headers[i] = d->headers[i];
	s->nheaders = i;
	for (i = 0; i < d->noversign && i < DKIM_MAX_HEADERS; i++)
		s->oversign[i] = d->oversign[i];
	s->noversign = i;
	s->sign_date = d->sign_date;
	s->sign_message_id = d->sign_message_id;
	s->expire = d->expire;
}

/* signers_load - see signers.h */
int
signers_load(const struct gw_conf *conf, struct signers **out,
    conf_error_fn err, conf_error_fn warn, void *arg)
{
	_Static_assert(CONF_DKIM_HEADERS <= DKIM_MAX_HEADERS,
	    "conf allows more header names than dkim signs");
	const struct conf_dkim	*d;
	struct signers		*set;
	char			 why[512], msg[PATH_MAX + 700];
	size_t			 i;
	int			 weak, nerr = 0;

	*out = NULL;
	if ((set = calloc(1, sizeof(*set))) == NULL) {
		(void)snprintf(msg, sizeof(msg), "%s:0: out of memory",
		    conf->path);
		if (err != NULL)
			err(arg, msg);
		return 1;
	}
	set->conf = conf;
	for (i = 0; i < conf->ndkims; i++) {
		d = &conf->dkims[i];
		weak = 0;
		why[0] = '\0';
		if (dkim_key_load(d->key_file, &set->keys[i], &weak, why,
		    sizeof(why)) == -1) {
			(void)snprintf(msg, sizeof(msg), "%s:%d: [dkim %s]: "
			    "key_file: %s", conf->path, d->line, d->name,
			    why[0] != '\0' ? why : "cannot load the key");
			if (err != NULL)
				err(arg, msg);
			nerr++;
			continue;
		}
		/* 1024 bits still verify, but are within reach of attackers */
		if (weak && warn != NULL) {
			(void)snprintf(msg, sizeof(msg), "%s:%d: [dkim %s]: "
			    "key_file: warning: RSA key of %u bits; use 2048 "
			    "or more", conf->path, d->line, d->name,
			    dkim_key_bits(set->keys[i]));
			warn(arg, msg);
		}
		signer_fill(&set->s[i], d, set->keys[i]);
	}
	set->n = conf->ndkims;
	if (nerr != 0) {
		signers_free(set);
		return nerr;
	}
	*out = set;
	return 0;
}

/* signers_free - the keys and the set */
void
signers_free(struct signers *set)
{
	size_t	 i;

	if (set == NULL)
		return;
	for (i = 0; i < CONF_MAX_DKIM; i++)
		dkim_key_free(set->keys[i]);
	free(set);
}

size_t
signers_count(const struct signers *set)
{
	return set != NULL ? set->n : 0;
}

/* how many candidates: the listener's own list, else every section */
static size_t
signers_ncand(const struct signers *set, const struct conf_listener *l)
{
	return l != NULL && l->ndkim > 0 ? l->ndkim : set->n;
}

/* the set index of candidate i; -1 if it names no loaded key */
static int
signers_cand(const struct signers *set, const struct conf_listener *l,
    size_t i, size_t *idx)
{
	if (l != NULL && l->ndkim > 0) {
		if (l->dkim[i] == NULL)
			return -1;
		*idx = (size_t)(l->dkim[i] - set->conf->dkims);
	} else
		*idx = i;
	if (*idx >= set->n || set->keys[*idx] == NULL)
		return -1;
	return 0;
}

/*
 * signers_pick - see signers.h.  The From domain is matched even for a
 * listener's own list: a signature from a domain unrelated to From helps
 * no receiver (DMARC needs alignment) and would lend the domain's name to
 * whatever the legacy program writes.
 */
size_t
signers_pick(const struct signers *set, const struct conf_listener *l,
    const char *from_domain, const struct dkim_signer **out, size_t max)
{
	const struct conf_dkim	*d;
	size_t			 i, idx, n = 0;

	if (set == NULL || from_domain == NULL)
		return 0;
	for (i = 0; i < signers_ncand(set, l) && n < max; i++) {
		if (signers_cand(set, l, i, &idx) == -1)
			continue;
		d = &set->conf->dkims[idx];
		if (!dkim_domain_match(from_domain, d->domain, d->subdomains))
			continue;
		out[n++] = &set->s[idx];
	}
	return n;
}

unsigned
signers_body_canons(const struct signers *set, const struct conf_listener *l)
{
	unsigned		 mask = 0;
	size_t			 i, idx;

	if (set == NULL)
		return 0;
	for (i = 0; i < signers_ncand(set, l); i++)
		if (signers_cand(set, l, i, &idx) == 0)
			mask |= 1u << set->s[idx].bcanon;
	return mask;
}

const char *
signers_alg_name(const struct dkim_signer *s)
{
	return dkim_alg_name(dkim_key_alg(s->key));
}
