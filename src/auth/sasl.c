/* sasl.c - SASL client mechanisms and their choice (see sasl.h); stub */
#include <string.h>

#include "auth/sasl.h"

unsigned
sasl_offered(const char *list)
{
	(void)list;
	return 0;
}

unsigned
sasl_usable(int have_token, int tls, int cleartext_ok)
{
	(void)have_token; (void)tls; (void)cleartext_ok;
	return 0;
}

int
sasl_choose(const struct sasl_choice *ch, int *cleartext)
{
	(void)ch;
	*cleartext = 0;
	return AUTH_MECH_NONE;
}

const char *
sasl_start(int mech, const struct sasl_cred *cr, char *out, size_t outlen)
{
	(void)mech; (void)cr; (void)out; (void)outlen;
	return "not implemented";
}

const char *
sasl_step(int mech, int step, const struct sasl_cred *cr,
    const char *challenge, size_t len, char *out, size_t outlen,
    int *expect_fail)
{
	(void)mech; (void)step; (void)cr; (void)challenge; (void)len;
	(void)out; (void)outlen; (void)expect_fail;
	return "not implemented";
}

const char *
sasl_cram_md5(const char *user, const char *password,
    const unsigned char *challenge, size_t len, char *out, size_t outlen)
{
	(void)user; (void)password; (void)challenge; (void)len; (void)out;
	(void)outlen;
	return "not implemented";
}
