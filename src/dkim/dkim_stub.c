/* temporary stubs: replaced by the real modules */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "dkim/dkim.h"

const char *const dkim_default_headers[] = {
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", NULL
};

int dkim_key_load(const char *p, struct dkim_key **o, int *w, char *e, size_t el) { (void)p; *o = NULL; *w = 0; if (el) snprintf(e, el, "not implemented"); return -1; }
void dkim_key_free(struct dkim_key *k) { (void)k; }
enum dkim_alg dkim_key_alg(const struct dkim_key *k) { (void)k; return DKIM_RSA_SHA256; }
unsigned dkim_key_bits(const struct dkim_key *k) { (void)k; return 0; }
int dkim_key_record(const struct dkim_key *k, char *o, size_t l) { (void)k; (void)o; (void)l; return -1; }
int dkim_keygen(enum dkim_alg a, unsigned b, const char *p, char *e, size_t el) { (void)a; (void)b; (void)p; if (el) snprintf(e, el, "not implemented"); return -1; }
struct dkim_msg *dkim_msg_new(void) { return NULL; }
int dkim_msg_write(struct dkim_msg *m, const char *p, size_t l) { (void)m; (void)p; (void)l; return -1; }
int dkim_msg_end(struct dkim_msg *m) { (void)m; return -1; }
const char *dkim_msg_from_domain(const struct dkim_msg *m, const char **why) { (void)m; *why = "not implemented"; return NULL; }
int dkim_msg_sign(const struct dkim_msg *m, const struct dkim_signer *s, time_t now, char *o, size_t ol, char *e, size_t el) { (void)m; (void)s; (void)now; (void)o; (void)ol; if (el) snprintf(e, el, "not implemented"); return -1; }
void dkim_msg_free(struct dkim_msg *m) { (void)m; }
int dkim_canon_parse(const char *s, enum dkim_canon *h, enum dkim_canon *b) { (void)s; *h = *b = DKIM_CANON_RELAXED; return 0; }
const char *dkim_canon_name(enum dkim_canon c) { return c == DKIM_CANON_RELAXED ? "relaxed" : "simple"; }
int dkim_domain_match(const char *f, const char *s, int sub) { (void)sub; return strcasecmp(f, s) == 0; }
