/*
 * relay_dkim.c - DKIM for the message of one session: which of the
 * [dkim] signers apply (signers.c) and their DKIM-Signature headers,
 * made at the end of DATA from what srv_data_write() fed to r->dmsg.
 * What happened is left in r->dkim and r->dkim_log for the reply and
 * the transaction line.
 *
 * Moved out of relay.c as it was (issue 11, part 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "dkim/dkim.h"
#include "relay/relay_local.h"
#include "relay/signers.h"
#include "util/str.h"

static void	relay_dkim_unsigned(struct relay *, const char *);

/* relay_dkim_reset - forget the DKIM state of the last message */
void
relay_dkim_reset(struct relay *r)
{
	dkim_msg_free(r->dmsg);
	r->dmsg = NULL;
	r->dmsg_full = 0;
	free(r->sigs);
	r->sigs = NULL;
	r->siglen = r->sigoff = 0;
	r->dkim = RD_OFF;
	r->dkim_log[0] = '\0';
}

static void
relay_dkim_unsigned(struct relay *r, const char *why)
{
	char	 v[DKIM_LOG_MAX - 16];

	r->dkim = RD_UNSIGNED;
	(void)str_vis(v, sizeof(v), why, strlen(why));
	(void)snprintf(r->dkim_log, sizeof(r->dkim_log), "unsigned(%s)", v);
}

/*
 * relay_dkim_sign - at the end of DATA: which signers apply, and their
 * signatures into r->sigs.  Sets r->dkim to what happened.
 */
void
relay_dkim_sign(struct relay *r)
{
	const struct dkim_signer	*pick[CONF_MAX_DKIM];
	const char			*dom, *why = NULL;
	char				 err[256], v[200];
	size_t				 i, n, off, used;
	int				 rc;
	time_t				 now = time(NULL);

	if (r->dmsg == NULL)
		return;
	/* an unsignable message says why (header block too large, ...) */
	(void)dkim_msg_end(r->dmsg);
	if ((dom = dkim_msg_from_domain(r->dmsg, &why)) == NULL) {
		relay_dkim_unsigned(r, why != NULL ? why : "no From domain");
		return;
	}
	n = signers_pick(r->env->signers, r->l, dom, pick, CONF_MAX_DKIM);
	if (n == 0) {
		(void)str_vis(v, sizeof(v), dom, strlen(dom));
		(void)snprintf(err, sizeof(err), "no key for %s", v);
		relay_dkim_unsigned(r, err);
		return;
	}
	if ((r->sigs = malloc(n * DKIM_SIG_MAX)) == NULL) {
		r->dkim = RD_ERROR;
		(void)snprintf(r->dkim_log, sizeof(r->dkim_log),
		    "error(out of memory)");
		return;
	}
	/* the same time in every signature of the message */
	for (i = 0, off = 0; i < n; i++) {
		err[0] = '\0';
		if ((rc = dkim_msg_sign(r->dmsg, pick[i], now, r->sigs + off,
		    n * DKIM_SIG_MAX - off, err, sizeof(err))) != 0) {
			free(r->sigs);
			r->sigs = NULL;
			r->siglen = 0;
			/* caused by the message: it would fail again */
			if (rc == DKIM_ERR_MESSAGE) {
				relay_dkim_unsigned(r, err);
				return;
			}
			r->dkim = RD_ERROR;
			(void)str_vis(v, sizeof(v), err, strlen(err));
			(void)snprintf(r->dkim_log, sizeof(r->dkim_log),
			    "error(d=%s,s=%s: %s)", pick[i]->domain,
			    pick[i]->selector, v);
			return;
		}
		off += strlen(r->sigs + off);
	}
	r->siglen = off;
	r->sigoff = 0;
	r->dkim = RD_SIGNED;
	for (i = 0; i < n; i++) {
		used = strlen(r->dkim_log);
		(void)snprintf(r->dkim_log + used, sizeof(r->dkim_log) - used,
		    "%ssigned(d=%s,s=%s,a=%s)", i > 0 ? "," : "",
		    pick[i]->domain, pick[i]->selector,
		    signers_alg_name(pick[i]));
	}
}
