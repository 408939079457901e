/*
 * relay_smime.c - S/MIME for the message of one session (docs/smime.md):
 * the [smime] section of the sender (smime_keys.c), the RCPT refused for
 * a missing certificate, and at the end of DATA the spooled message
 * replaced by its signed and/or encrypted form, before DKIM signs it.
 *
 * Same contract as relay_qp_encode (relay_qp.h): our Received header
 * stays first and outside, the new message replaces the spool, and the
 * DKIM state is rebuilt over the new message only, so DKIM's signature
 * covers what is sent.  The whole message is held in memory while it is
 * built (wolfCrypt's PKCS#7 works on buffers): a few times its size.
 */
#include <sys/random.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "dkim/dkim.h"
#include "obs/metrics.h"
#include "relay/relay_local.h"
#include "relay/signers.h"
#include "relay/smime_keys.h"
#include "relay/spool.h"
#include "relay/txlog.h"
#include "smime/smime_mime.h"
#include "smime/smime_pkcs7.h"
#include "smtp/smtp_server.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

#define SPOOL_MEM	(256 * 1024)	/* as relay.c's SPOOL_MEM_THRESHOLD */

/* one message being built */
struct smjob {
	const struct conf_smime	*conf;
	const struct smime_signer *signer;
	const struct smime_cert	**certs;	/* one per recipient */
	size_t			 ncerts;
	const char		*missing;	/* a recipient without one */
	int			 signed_, encrypted;
	int			 msgfault;	/* the message's fault: 5xx */
};

static int	sm_pick(const struct relay *);
static int	sm_read(struct spool *, char **, size_t *);
static int	sm_certs(struct relay *, int, struct smjob *);
static const char *sm_sign(struct smjob *, struct buf *, struct buf *);
static const char *sm_encrypt(struct smjob *, struct buf *);
static const char *sm_build(struct smjob *, const char *, size_t,
		    struct buf *);
static int	sm_replace(struct relay *, const char *, size_t,
		    const struct buf *);

/* the section index for r's sender, or -1 */
static int
sm_pick(const struct relay *r)
{
	if (r->env->smime == NULL || smime_keys_count(r->env->smime) == 0 ||
	    r->from == NULL)
		return -1;
	return smime_keys_pick(r->env->smime, r->l, r->from->addr);
}

int
relay_smime_applies(const struct relay *r)
{
	return sm_pick(r) >= 0;
}

int
relay_smime_signs(const struct relay *r)
{
	int	 idx;

	return (idx = sm_pick(r)) >= 0 &&
	    smime_keys_signer(r->env->smime, idx) != NULL;
}

/* relay_smime_rcpt - see relay_local.h */
int
relay_smime_rcpt(struct relay *r, const char *addr)
{
	const struct conf_smime	*c;
	char			 v[SMTP_PATH_MAX], text[SMTP_PATH_MAX + 128];
	int			 idx;

	if ((idx = sm_pick(r)) < 0)
		return 0;
	c = smime_keys_conf(r->env->smime, idx);
	if (!c->encrypt || c->missing != SMIME_MISSING_REFUSE ||
	    smime_keys_cert(r->env->smime, idx, addr) != NULL)
		return 0;
	(void)str_vis(v, sizeof(v), addr, strlen(addr));
	(void)snprintf(text, sizeof(text), "No S/MIME certificate for <%s>: "
	    "mail from this sender is sent encrypted only", v);
	metrics_rcpt_refused(0);
	txlog_refused(r->id, "rcpt", "gateway", smtp_server_info(r->srv)->peer,
	    smtp_server_info(r->srv)->proxy, r->from->addr, addr, 550, "5.7.1",
	    text);
	smtp_server_reply(r->srv, 550, "5.7.1", text);
	return 1;
}

/* the whole spool into memory (a NUL after it) */
static int
sm_read(struct spool *sp, char **out, size_t *lenp)
{
	unsigned long long	 size = spool_size(sp);
	char			*buf;
	size_t			 len = 0;
	ssize_t			 n;

	*out = NULL;
	if (size > SIZE_MAX / 2 || spool_rewind(sp) == -1 ||
	    (buf = malloc((size_t)size + 1)) == NULL)
		return -1;
	while (len < size && (n = spool_read(sp, buf + len,
	    (size_t)size - len)) > 0)
		len += (size_t)n;
	if (len != size || spool_rewind(sp) == -1) {
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	*out = buf;
	*lenp = len;
	return 0;
}

/* the certificates of the transaction's recipients; 0, or -1 (memory) */
static int
sm_certs(struct relay *r, int idx, struct smjob *j)
{
	const struct smime_cert	*c;
	unsigned		 i;

	j->ncerts = 0;
	j->missing = NULL;
	if (!j->conf->encrypt)
		return 0;
	/*
	 * The list is the transaction log's, which a failed allocation may
	 * have left short: a recipient missing from it would get a message
	 * it cannot read, or (refuse) the message would go unencrypted.
	 */
	if (r->accepted.n != r->nrcpt)
		return -1;
	if (r->accepted.n == 0) {
		j->missing = "(no recipient)";
		return 0;
	}
	if ((j->certs = calloc(r->accepted.n, sizeof(*j->certs))) == NULL)
		return -1;
	for (i = 0; i < r->accepted.n; i++) {
		c = smime_keys_cert(r->env->smime, idx, r->accepted.addr[i]);
		if (c == NULL) {
			/* sign-only: one missing sends it to nobody encrypted */
			j->missing = r->accepted.addr[i];
			j->ncerts = 0;
			return 0;
		}
		j->certs[j->ncerts++] = c;
	}
	return 0;
}

/* sign inner into the multipart/signed entity in out */
static const char *
sm_sign(struct smjob *j, struct buf *inner, struct buf *out)
{
	static char	 why[256];
	unsigned char	*der, rnd[16];
	char		 boundary[64];
	size_t		 derlen, i;
	const char	*e;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return "no random octets for the boundary";
	(void)snprintf(boundary, sizeof(boundary), "smtpgate-smime-");
	for (i = 0; i < sizeof(rnd); i++)
		(void)snprintf(boundary + strlen(boundary), sizeof(boundary) -
		    strlen(boundary), "%02x", rnd[i]);
	if (smime_sign(j->signer, buf_data(inner), buf_len(inner), &der,
	    &derlen, why, sizeof(why)) == -1)
		return why;
	buf_init(out, smime_signed_max(buf_len(inner), derlen));
	e = smime_signed(buf_data(inner), buf_len(inner), der, derlen,
	    boundary, out);
	free(der);
	return e;
}

/* encrypt the entity in io (replaced by the enveloped entity) */
static const char *
sm_encrypt(struct smjob *j, struct buf *io)
{
	static char	 why[256];
	struct buf	 env;
	unsigned char	*der;
	size_t		 derlen;
	const char	*e;

	if (smime_encrypt(j->certs, j->ncerts, j->conf->cipher ==
	    SMIME_AES128_CBC ? SMIME_ENC_AES128_CBC : SMIME_ENC_AES256_CBC,
	    buf_data(io), buf_len(io), &der, &derlen, why, sizeof(why)) == -1)
		return why;
	buf_init(&env, smime_enveloped_max(derlen));
	e = smime_enveloped(der, derlen, &env);
	free(der);
	buf_release(io);
	*io = env;
	return e;
}

/* the new message (without our Received) into out */
static const char *
sm_build(struct smjob *j, const char *msg, size_t len, struct buf *out)
{
	struct buf	 outer, inner, ent;
	const char	*e;

	buf_init(&outer, smime_split_max(len));
	buf_init(&inner, smime_split_max(len));
	buf_init(&ent, 0);
	if ((e = smime_split(msg, len, &outer, &inner)) != NULL) {
		/* "out of room" is memory (the sizes are computed): 451 */
		j->msgfault = strcmp(e, "out of room") != 0;
		goto done;
	}
	if (j->signer != NULL) {
		if ((e = sm_sign(j, &inner, &ent)) != NULL)
			goto done;
		buf_release(&inner);
		j->signed_ = 1;
	} else {
		ent = inner;
		buf_init(&inner, 0);
	}
	if (j->ncerts > 0) {
		if ((e = sm_encrypt(j, &ent)) != NULL)
			goto done;
		j->encrypted = 1;
	}
	buf_init(out, smime_message_max(buf_len(&outer), buf_len(&ent)));
	/* no outer field at all: buf_data() of a buffer never filled is NULL */
	e = smime_message(buf_len(&outer) > 0 ? buf_data(&outer) : "",
	    buf_len(&outer), buf_data(&ent), buf_len(&ent), out);
done:
	buf_release(&outer);
	buf_release(&inner);
	buf_release(&ent);
	return e;
}

/* the new spool (our Received, then msg) and a new DKIM state over msg */
static int
sm_replace(struct relay *r, const char *recv, size_t recvlen,
    const struct buf *msg)
{
	struct spool		*sp;
	struct dkim_msg		*dm = NULL;
	int			 full = 0;

	if ((sp = spool_new(SPOOL_MEM, recvlen + buf_len(msg) + 1, NULL)) ==
	    NULL)
		return -1;
	if ((recvlen > 0 && spool_write(sp, recv, recvlen) == -1) ||
	    spool_write(sp, buf_data(msg), buf_len(msg)) == -1 ||
	    spool_rewind(sp) == -1) {
		spool_free(sp);
		return -1;
	}
	if (r->dmsg != NULL) {
		if ((dm = dkim_msg_new_canons(signers_body_canons(
		    r->env->signers, r->l))) == NULL) {
			spool_free(sp);
			return -1;
		}
		/* too large a header block: unsignable, not failed */
		if (dkim_msg_write(dm, buf_data(msg), buf_len(msg)) == -1)
			full = 1;
		dkim_msg_free(r->dmsg);
		r->dmsg = dm;
		r->dmsg_full = full;
	}
	spool_free(r->spool);
	r->spool = sp;
	return 0;
}

/* the transaction line and the client's reply for a failure */
static int
sm_fail(struct relay *r, const struct smjob *j, const char *why)
{
	char	 v[256], text[320];

	(void)str_vis(v, sizeof(v), why, strlen(why));
	log_warnx("%016" PRIx64 " relay smime [smime %s] failed: %s", r->id,
	    j->conf->name, v);
	if (j->msgfault) {
		(void)snprintf(text, sizeof(text), "Message cannot be signed "
		    "or encrypted with S/MIME: %s", v);
		relay_tx_reply(r, 550, "5.6.0", text, MX_CLASS_SMIME);
	} else
		relay_tx_reply(r, 451, "4.3.0", "S/MIME processing failed, try "
		    "again later", MX_CLASS_SMIME);
	return -1;
}

/* relay_smime - see relay_local.h */
int
relay_smime(struct relay *r)
{
	struct smjob	 j;
	struct buf	 out;
	const char	*e;
	char		*msg = NULL, v[SMTP_PATH_MAX];
	size_t		 len;
	int		 idx;

	if ((idx = sm_pick(r)) < 0)
		return 0;
	memset(&j, 0, sizeof(j));
	buf_init(&out, 0);
	j.conf = smime_keys_conf(r->env->smime, idx);
	j.signer = smime_keys_signer(r->env->smime, idx);
	if (sm_certs(r, idx, &j) == -1) {
		free(j.certs);
		return sm_fail(r, &j, "out of memory");
	}
	if (j.missing != NULL) {
		(void)str_vis(v, sizeof(v), j.missing, strlen(j.missing));
		/* the RCPT was refused for this; never send it unencrypted */
		if (j.conf->missing == SMIME_MISSING_REFUSE) {
			free(j.certs);
			return sm_fail(r, &j, "a recipient without a "
			    "certificate (missing_recipient_cert = refuse)");
		}
		log_info("%016" PRIx64 " relay smime [smime %s] not encrypted: "
		    "no certificate for %s", r->id, j.conf->name, v);
	}
	if (j.signer == NULL && j.ncerts == 0) {
		free(j.certs);
		return 0;
	}
	if (sm_read(r->spool, &msg, &len) == -1 || len < r->recvlen) {
		free(msg);
		free(j.certs);
		return sm_fail(r, &j, "spool failure");
	}
	e = sm_build(&j, msg + r->recvlen, len - r->recvlen, &out);
	if (e == NULL && sm_replace(r, msg, r->recvlen, &out) == -1)
		e = "spool failure";
	free(msg);
	free(j.certs);
	buf_release(&out);
	if (e != NULL)
		return sm_fail(r, &j, e);
	log_info("%016" PRIx64 " relay smime [smime %s] signed=%s "
	    "encrypted=%s recipients=%zu", r->id, j.conf->name,
	    j.signed_ ? "yes" : "no", j.encrypted ? "yes" : "no", j.ncerts);
	return 0;
}
