/*
 * conf_smime_check.c - the cross-checks of the [smime] sections and of the
 * listeners' "smime =" lists (docs/smime.md).
 *
 * A section that would do nothing, or that could not do what it says,
 * is an error here rather than a surprise on the first message: encrypt
 * needs its recipients' directory, and a sender pattern belongs to one
 * section only (the choice per sender is then never ambiguous).  That
 * sign = yes has its certificate and key is the loader's check
 * (relay/smime_keys.c), which reads them at start, on SIGHUP and for -t.
 */
#include <string.h>

#include "conf/conf.h"
#include "conf/conf_check.h"
#include "util/str.h"

static void	check_smime(struct check *, const struct conf_smime *);

static void
check_smime(struct check *ck, const struct conf_smime *s)
{
	const struct conf_smime	*o;
	size_t			 i, j;

	if (!s->sign && !s->encrypt)
		conf_cerr(ck, s->line, "[smime %s]: sign and encrypt are both "
		    "no: the section would do nothing", s->name);
	if (s->encrypt && s->recipient_certs[0] == '\0')
		conf_cerr(ck, s->line, "[smime %s]: recipient_certs: required "
		    "when encrypt = yes (a directory of ADDRESS.pem files)",
		    s->name);
	if (!s->sign && s->chain_file[0] != '\0')
		conf_cerr(ck, s->line, "[smime %s]: chain_file: only with "
		    "sign = yes", s->name);
	/* one pattern, one section: the sections before this one */
	for (i = 0; i < s->nsenders; i++)
		for (o = ck->conf->smimes; o < s; o++)
			for (j = 0; j < o->nsenders; j++)
				if (str_ieq(o->senders[j], s->senders[i]))
					conf_cerr(ck, s->line, "[smime %s]: "
					    "senders: %s is in [smime %s] too",
					    s->name, s->senders[i], o->name);
}

/* conf_check_smime - see conf_check.h */
void
conf_check_smime(struct check *ck, struct gw_conf *c)
{
	struct conf_listener	*l;
	size_t			 i, j;

	for (i = 0; i < c->nlisteners; i++) {
		l = &c->listeners[i];
		for (j = 0; j < l->nsmime; j++)
			if ((l->smime[j] = conf_find_smime(c, l->smime_names[j]))
			    == NULL)
				conf_cerr(ck, l->line, "[listener %s]: smime: "
				    "no [smime %s] section", l->name,
				    l->smime_names[j]);
	}
	for (i = 0; i < c->nsmimes; i++)
		check_smime(ck, &c->smimes[i]);
}
