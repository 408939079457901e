/*
 * relay_8bit.c - eight_bit = convert: a message with 8-bit body octets
 * for an upstream that did not announce 8BITMIME (RFC 6152 3: such a
 * client must convert the message to 7 bits or refuse it; smtpgate
 * converts).  Each leaf entity whose body holds an 8-bit octet becomes
 * quoted-printable or base64 (relay_qp_8bit), at the end of DATA, after
 * long_lines = encode and before anything signs the message, so that
 * every signature covers the octets sent.  The BODY=8BITMIME parameter
 * itself is left out of MAIL for such an upstream (uptx_path_args).
 *
 * What is not converted, and why (docs/operations.md):
 * - 8-bit octets in header fields (raw UTF-8 subjects and names).  Their
 *   only lossless 7-bit form is RFC 2047 encoded-words, which are not
 *   allowed in many places of structured fields (addresses, Message-ID)
 *   and would change what a sender's DKIM signature covers in the
 *   headers; most servers without 8BITMIME take them as they are.
 * - a message/rfc822 part, and a part that says it is already encoded:
 *   RFC 2046 forbids encoding the first, and the second would decode to
 *   its encoded form.
 *
 * delivery = queue: the upstream is known only at delivery, and the
 * DKIM and S/MIME signatures are made at acceptance.  A message a [dkim]
 * or [smime] key may sign is converted at acceptance, whatever upstream
 * delivers it, so that the signature covers what any upstream gets; any
 * other one is stored as it came and converted at delivery if that
 * upstream lacks 8BITMIME
 * (relay_8bit_file).  What the first conversion left 8-bit cannot be
 * converted, so the second never touches a signed message.
 */
#include <sys/stat.h>
#include <inttypes.h>
#include <stddef.h>
#include <unistd.h>

#include "conf/conf.h"
#include "relay/relay_local.h"
#include "relay/relay_qp.h"
#include "relay/signers.h"
#include "relay/spool.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_parse.h"
#include "upstream/uptx.h"
#include "util/log.h"

static int	spool_8bit(struct spool *, size_t);
static int	convert_logged(uint64_t, struct spool **, size_t,
		    struct dkim_msg **, unsigned, int *);
static int	upstream_8bit(const struct smtp_client *);
static struct spool *file_spool(int, unsigned long long);

/* the upstream announced 8BITMIME */
static int
upstream_8bit(const struct smtp_client *c)
{
	return (smtp_client_ext(c)->flags & SMTP_EXT_8BITMIME) != 0;
}

/*
 * relay_8bit_may - might this session's message have to be converted?
 * Not under eight_bit = pass, nor for an upstream that announced
 * 8BITMIME; queued, when a key may sign it (r->dmsg, or an [smime]
 * section's key: the signature is made now, the upstream known later,
 * and a conversion at delivery would break it).
 */
int
relay_8bit_may(const struct relay *r)
{
	struct smtp_client	*c;

	if (r->l->eight_bit != EIGHT_BIT_CONVERT)
		return 0;
	if (r->l->delivery == DELIVERY_QUEUE)
		return r->dmsg != NULL || relay_smime_signs(r);
	if (r->tx == NULL || (c = uptx_client(r->tx)) == NULL)
		return 1;
	return !upstream_8bit(c);
}

/* an octet over 127 after the first skip octets; -1 on a read error */
static int
spool_8bit(struct spool *sp, size_t skip)
{
	char		 buf[8192];
	ssize_t		 n;
	size_t		 i;
	unsigned long long off = 0;
	int		 found = 0;

	if (spool_rewind(sp) == -1)
		return -1;
	while (!found && (n = spool_read(sp, buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)n; i++)
			if ((unsigned char)buf[i] > 127 && off + i >= skip) {
				found = 1;
				break;
			}
		off += (unsigned long long)n;
	}
	if (spool_rewind(sp) == -1 || (!found && n == -1))
		return -1;
	return found;
}

/* relay_qp_8bit and its log line: 1 converted, 0 not, -1 error */
static int
convert_logged(uint64_t id, struct spool **spp, size_t skip,
    struct dkim_msg **dmsgp, unsigned canons, int *dmsg_full)
{
	const char	*why;
	int		 rc;

	rc = relay_qp_8bit(spp, skip, SPOOL_MEM_THRESHOLD, dmsgp, canons,
	    dmsg_full, &why);
	if (rc == 1)
		log_info("%016" PRIx64 " 8-bit body converted to 7 bits "
		    "(the upstream lacks 8BITMIME or is not known yet)", id);
	else if (rc == 0)
		log_info("%016" PRIx64 " 8-bit octets passed as they are "
		    "(not converted: %s)", id, why);
	else
		log_warnx("%016" PRIx64 " 8-bit conversion: spool failure", id);
	return rc;
}

/*
 * relay_8bit - at the end of DATA, with the message spooled: converted
 * when it has to be.  A message that cannot be converted goes on as it
 * is (logged).  0, or -1 on a spool failure.
 */
int
relay_8bit(struct relay *r)
{
	int	 rc;

	if (!relay_8bit_may(r))
		return 0;
	if ((rc = spool_8bit(r->spool, r->recvlen)) != 1)
		return rc;
	rc = convert_logged(r->id, &r->spool, r->recvlen, &r->dmsg,
	    r->dmsg != NULL ? signers_body_canons(r->env->signers, r->l) : 0,
	    &r->dmsg_full);
	return rc == -1 ? -1 : 0;
}

/*
 * the stored message (its first size octets: its envelope follows)
 * copied into a spool (the queue's file, on the loop)
 */
static struct spool *
file_spool(int fd, unsigned long long size)
{
	struct spool		*sp;
	char			 buf[8192];
	unsigned long long	 left = size;
	ssize_t			 n;
	int			 err = 0;

	if (lseek(fd, 0, SEEK_SET) == -1 ||
	    (sp = spool_new(SPOOL_MEM_THRESHOLD, size + 1, NULL)) == NULL)
		return NULL;
	while (err == 0 && left > 0) {
		n = read(fd, buf, left < sizeof(buf) ? (size_t)left :
		    sizeof(buf));
		/* 0: the file is shorter than its envelope says */
		if (n <= 0 || spool_write(sp, buf, (size_t)n) == -1)
			err = 1;
		else
			left -= (unsigned long long)n;
	}
	if (err || spool_rewind(sp) == -1) {
		spool_free(sp);
		return NULL;
	}
	return sp;
}

/*
 * relay_8bit_file - a queued message (fd, its first size octets) about to
 * go to upstream c for listener l: *out the converted message when it
 * has to be, else NULL (send the file; fd is back at its start).  0, or
 * -1 on a read or spool failure (the delivery is deferred).
 */
int
relay_8bit_file(uint64_t id, int fd, unsigned long long size,
    const struct conf_listener *l, const struct smtp_client *c,
    struct spool **out)
{
	struct dkim_msg	*dmsg = NULL;
	struct spool	*sp;
	int		 full = 0, rc;

	*out = NULL;
	if (l == NULL || l->eight_bit != EIGHT_BIT_CONVERT ||
	    upstream_8bit(c))
		return 0;
	if ((sp = file_spool(fd, size)) == NULL)
		return -1;
	if ((rc = spool_8bit(sp, 0)) == 1 &&
	    (rc = convert_logged(id, &sp, 0, &dmsg, 0, &full)) == 1) {
		*out = sp;
		return 0;
	}
	spool_free(sp);
	if (rc == -1 || lseek(fd, 0, SEEK_SET) == -1)
		return -1;
	return 0;
}
