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
 * Where the upstream is not known when the message is taken
 * (delivery = queue: the signature is made at acceptance), an 8-bit
 * message is converted at acceptance, whatever upstream delivers it: the
 * result is valid for every upstream and the signature stays good.
 */
#include <inttypes.h>
#include <stddef.h>

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

/*
 * relay_8bit_may - might this session's message have to be converted?
 * Not under eight_bit = pass, nor for an upstream that announced
 * 8BITMIME; yes when the upstream is not known yet (queue).
 */
int
relay_8bit_may(const struct relay *r)
{
	struct smtp_client	*c;

	if (r->l->eight_bit != EIGHT_BIT_CONVERT)
		return 0;
	if (r->l->delivery == DELIVERY_QUEUE || r->tx == NULL ||
	    (c = uptx_client(r->tx)) == NULL)
		return 1;
	return !(smtp_client_ext(c)->flags & SMTP_EXT_8BITMIME);
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

/*
 * relay_8bit - at the end of DATA, with the message spooled: converted
 * when it has to be.  A message that cannot be converted goes on as it
 * is (logged).  0, or -1 on a spool failure.
 */
int
relay_8bit(struct relay *r)
{
	const char	*why;
	int		 rc;

	if (!relay_8bit_may(r))
		return 0;
	if ((rc = spool_8bit(r->spool, r->recvlen)) != 1)
		return rc;
	rc = relay_qp_8bit(&r->spool, r->recvlen, SPOOL_MEM_THRESHOLD,
	    &r->dmsg, r->dmsg != NULL ? signers_body_canons(r->env->signers,
	    r->l) : 0, &r->dmsg_full, &why);
	if (rc == 1)
		log_info("%016" PRIx64 " 8-bit body converted to 7 bits "
		    "(the upstream lacks 8BITMIME or is not known yet)", r->id);
	else if (rc == 0)
		log_info("%016" PRIx64 " 8-bit octets passed as they are "
		    "(not converted: %s)", r->id, why);
	else
		log_warnx("%016" PRIx64 " 8-bit conversion: spool failure",
		    r->id);
	return rc == -1 ? -1 : 0;
}
