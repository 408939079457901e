/*
 * smime_keys.c - load the [smime] sections' files and choose the section
 * of a message; see smime_keys.h.
 *
 * The recipients' certificates are read once, like the signing keys, at
 * start, on SIGHUP and for "smtpgate -t": a RCPT then costs a lookup in
 * memory, never a file read on the loop, and a certificate added to the
 * directory takes effect on the next SIGHUP (docs/smime.md).
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/route.h"
#include "relay/smime_keys.h"
#include "smime/smime_pkcs7.h"
#include "util/str.h"

struct rcert {
	char			*addr;		/* lower case */
	struct smime_cert	*cert;
};

struct section {
	const struct conf_smime	*conf;
	struct smime_signer	*signer;	/* sign = yes */
	struct rcert		*certs;		/* sorted by addr */
	size_t			 ncerts;
	const char		*senders[CONF_ROUTE_SENDERS];
};

struct smime_keys {
	const struct gw_conf	*conf;
	struct section		 s[CONF_MAX_SMIME];
	size_t			 n;
};

struct loadctx {
	const struct gw_conf	*conf;
	const struct conf_smime	*sm;
	conf_error_fn		 err;
	void			*arg;
	int			 nerr;
};

static void	lerr(struct loadctx *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	rcert_cmp(const void *, const void *);
static int	load_dir(struct loadctx *, struct section *);
static int	load_one(struct loadctx *, struct section *, const char *,
		    const char *);
static void	section_free(struct section *);

static void
lerr(struct loadctx *lc, const char *key, const char *fmt, ...)
{
	char	 why[PATH_MAX + 512], msg[2 * PATH_MAX + 700];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	(void)snprintf(msg, sizeof(msg), "%s:%d: [smime %s]: %s: %s",
	    lc->conf->path, lc->sm->line, lc->sm->name, key, why);
	if (lc->err != NULL)
		lc->err(lc->arg, msg);
	lc->nerr++;
}

static int
rcert_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rcert *)a)->addr,
	    ((const struct rcert *)b)->addr);
}

/* smime_cert_name - see smime_keys.h */
int
smime_cert_name(const char *file, char *out, size_t outlen, const char **why)
{
	size_t	 n = strlen(file), i;

	*why = NULL;
	if (file[0] == '.' || n < 5 || strcmp(file + n - 4, ".pem") != 0)
		return 0;
	n -= 4;
	if (n >= outlen || n >= CONF_ADDR_MAX) {
		*why = "the address is too long";
		return -1;
	}
	for (i = 0; i < n; i++)
		if (file[i] >= 'A' && file[i] <= 'Z') {
			*why = "the file name must be the address in lower case";
			return -1;
		}
	memcpy(out, file, n);
	out[n] = '\0';
	if (strchr(out, '@') == NULL || out[0] == '@' || out[n - 1] == '@') {
		*why = "the file name must be ADDRESS.pem (user@example.org.pem)";
		return -1;
	}
	return 1;
}

/* one certificate file of the directory */
static int
load_one(struct loadctx *lc, struct section *s, const char *dir,
    const char *file)
{
	char		 path[PATH_MAX], addr[CONF_ADDR_MAX], why[512];
	const char	*bad;
	struct rcert	*rc;
	int		 r;

	if ((r = smime_cert_name(file, addr, sizeof(addr), &bad)) == 0)
		return 0;
	if (r == -1) {
		lerr(lc, "recipient_certs", "%s/%s: %s", dir, file, bad);
		return -1;
	}
	if (s->ncerts == SMIME_CERTS_MAX) {
		lerr(lc, "recipient_certs", "%s: more than %d certificates",
		    dir, SMIME_CERTS_MAX);
		return -1;
	}
	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    (int)sizeof(path)) {
		lerr(lc, "recipient_certs", "%s/%s: path too long", dir, file);
		return -1;
	}
	rc = &s->certs[s->ncerts];
	if (smime_cert_load(path, &rc->cert, why, sizeof(why)) == -1) {
		lerr(lc, "recipient_certs", "%s: %s", path, why);
		return -1;
	}
	if ((rc->addr = strdup(addr)) == NULL) {
		smime_cert_free(rc->cert);
		lerr(lc, "recipient_certs", "out of memory");
		return -1;
	}
	s->ncerts++;
	return 0;
}

/* every ADDRESS.pem of recipient_certs, sorted for the lookup */
static int
load_dir(struct loadctx *lc, struct section *s)
{
	const char	*dir = lc->sm->recipient_certs;
	struct dirent	*de;
	DIR		*d;
	size_t		 cap = 0;
	int		 rc = 0;

	if ((d = opendir(dir)) == NULL) {
		lerr(lc, "recipient_certs", "%s: cannot open the directory",
		    dir);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (s->ncerts == cap) {
			struct rcert *n;

			cap = cap == 0 ? 64 : cap * 2;
			if ((n = reallocarray(s->certs, cap + 1,
			    sizeof(*n))) == NULL) {
				lerr(lc, "recipient_certs", "out of memory");
				rc = -1;
				break;
			}
			s->certs = n;
		}
		rc = load_one(lc, s, dir, de->d_name);
	}
	(void)closedir(d);
	if (rc == 0 && s->ncerts > 0)
		qsort(s->certs, s->ncerts, sizeof(*s->certs), rcert_cmp);
	return rc;
}

/* smime_keys_load - see smime_keys.h */
int
smime_keys_load(const struct gw_conf *conf, struct smime_keys **out,
    conf_error_fn err, void *arg)
{
	struct loadctx		 lc = { conf, NULL, err, arg, 0 };
	struct smime_keys	*set;
	struct section		*s;
	const char		*which;
	char			 why[512];
	size_t			 i, j;

	*out = NULL;
	if ((set = calloc(1, sizeof(*set))) == NULL) {
		char	 msg[PATH_MAX + 32];

		(void)snprintf(msg, sizeof(msg), "%s:0: out of memory",
		    conf->path);
		if (err != NULL)
			err(arg, msg);
		return 1;
	}
	set->conf = conf;
	for (i = 0; i < conf->nsmimes; i++) {
		s = &set->s[i];
		lc.sm = s->conf = &conf->smimes[i];
		for (j = 0; j < s->conf->nsenders; j++)
			s->senders[j] = s->conf->senders[j];
		if (s->conf->sign && (s->conf->cert_file[0] == '\0' ||
		    s->conf->key_file[0] == '\0'))
			lerr(&lc, s->conf->cert_file[0] == '\0' ? "cert_file" :
			    "key_file", "required when sign = yes");
		else if (s->conf->sign && smime_signer_load(s->conf->cert_file,
		    s->conf->key_file, s->conf->chain_file, &s->signer, &which,
		    why, sizeof(why)) == -1)
			lerr(&lc, which, "%s", why);
		if (s->conf->encrypt)
			(void)load_dir(&lc, s);
	}
	set->n = conf->nsmimes;
	if (lc.nerr != 0) {
		smime_keys_free(set);
		return lc.nerr;
	}
	*out = set;
	return 0;
}

static void
section_free(struct section *s)
{
	size_t	 i;

	smime_signer_free(s->signer);
	for (i = 0; i < s->ncerts; i++) {
		free(s->certs[i].addr);
		smime_cert_free(s->certs[i].cert);
	}
	free(s->certs);
}

void
smime_keys_free(struct smime_keys *set)
{
	size_t	 i;

	if (set == NULL)
		return;
	for (i = 0; i < CONF_MAX_SMIME; i++)
		section_free(&set->s[i]);
	free(set);
}

size_t
smime_keys_count(const struct smime_keys *set)
{
	return set != NULL ? set->n : 0;
}

/* smime_keys_pick - see smime_keys.h */
int
smime_keys_pick(const struct smime_keys *set, const struct conf_listener *l,
    const char *sender)
{
	struct route		 cand[CONF_MAX_SMIME];
	const struct route	*r;
	size_t			 i, idx, n = 0, ncand, at[CONF_MAX_SMIME];

	if (set == NULL || set->n == 0)
		return -1;
	ncand = l != NULL && l->nsmime > 0 ? l->nsmime : set->n;
	for (i = 0; i < ncand; i++) {
		if (l != NULL && l->nsmime > 0) {
			if (l->smime[i] == NULL)
				continue;
			idx = (size_t)(l->smime[i] - set->conf->smimes);
		} else
			idx = i;
		if (idx >= set->n)
			continue;
		memset(&cand[n], 0, sizeof(cand[n]));
		cand[n].name = set->s[idx].conf->name;
		cand[n].senders = set->s[idx].senders;
		cand[n].nsenders = set->s[idx].conf->nsenders;
		at[n++] = idx;
	}
	if ((r = route_choose(cand, n, sender)) == NULL)
		return -1;
	return (int)at[r - cand];
}

const struct conf_smime *
smime_keys_conf(const struct smime_keys *set, int i)
{
	return set->s[i].conf;
}

const struct smime_signer *
smime_keys_signer(const struct smime_keys *set, int i)
{
	return set->s[i].signer;
}

/* smime_keys_cert - see smime_keys.h */
const struct smime_cert *
smime_keys_cert(const struct smime_keys *set, int i, const char *addr)
{
	const struct section	*s = &set->s[i];
	struct rcert		 key, *hit;
	char			 low[CONF_ADDR_MAX];
	size_t			 j;

	if (s->ncerts == 0 || strlen(addr) >= sizeof(low))
		return NULL;
	for (j = 0; addr[j] != '\0'; j++)
		low[j] = (addr[j] >= 'A' && addr[j] <= 'Z') ?
		    (char)(addr[j] - 'A' + 'a') : addr[j];
	low[j] = '\0';
	key.addr = low;
	hit = bsearch(&key, s->certs, s->ncerts, sizeof(*s->certs), rcert_cmp);
	return hit != NULL ? hit->cert : NULL;
}
