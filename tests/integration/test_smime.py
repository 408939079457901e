#!/usr/bin/python3
"""S/MIME at the gateway ([smime NAME] sections, docs/smime.md): messages
relayed through smtpgate to a real upstream (upstream.py stores them byte
for byte), and the stored messages checked by independent tools: OpenSSL's
"openssl cms -verify" (against the test CA) and "-decrypt" (with the
recipient's key), Python's email package for the MIME structure, and
python3-dkim for a DKIM signature made over the S/MIME result.
Certificates are made at test time with openssl; none is in the tree."""

import email
import email.policy
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    config_text, ini, newdir, transaction)

SENDER = "billing@example.com"
R1 = "alice@example.org"
R2 = "Bob@Example.org"		# its file is bob@example.org.pem
NOCERT = "carol@example.org"

_pki = {}


# ------------------------------------------------------------- PKI

def openssl(*args, data=None):
    p = subprocess.run(["openssl"] + list(args), input=data,
                       capture_output=True, timeout=60 * gwtest.TIME_SCALE)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def must(*args, data=None):
    rc, out, err = openssl(*args, data=data)
    check(rc == 0, "openssl %s: %s", " ".join(args), err)
    return out


def leaf(d, name, cn, ec=False):
    """A certificate for an e-mail address, issued by the test CA."""
    key = os.path.join(d, name + ".key")
    if ec:
        must("genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", key)
    else:
        must("genpkey", "-algorithm", "RSA", "-pkeyopt",
             "rsa_keygen_bits:2048", "-out", key)
    os.chmod(key, 0o600)
    csr = os.path.join(d, name + ".csr")
    must("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + cn)
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=email:%s\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=emailProtection\n" % cn)
    crt = os.path.join(d, name + ".crt")
    must("x509", "-req", "-in", csr, "-CA", _pki["ca.crt"], "-CAkey",
         _pki["ca.key"], "-CAcreateserial", "-out", crt, "-days", "30",
         "-extfile", ext)
    _pki[name + ".crt"] = crt
    _pki[name + ".key"] = key


def pki():
    """The CA, the sender's and the recipients' certificates; the
    recipients' directory named by address."""
    if _pki:
        return _pki
    d = newdir("smime-pki")
    _pki["dir"] = d
    _pki["ca.key"] = os.path.join(d, "ca.key")
    _pki["ca.crt"] = os.path.join(d, "ca.crt")
    must("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         _pki["ca.key"], "-out", _pki["ca.crt"], "-subj", "/CN=SMIME Test CA",
         "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    leaf(d, "sender", SENDER)
    leaf(d, "alice", R1)
    leaf(d, "bob", R2.lower())
    leaf(d, "ecsender", SENDER, ec=True)
    rdir = os.path.join(d, "recipients")
    os.mkdir(rdir)
    for n, a in (("alice", R1), ("bob", R2.lower())):
        with open(_pki[n + ".crt"], "rb") as f, \
                open(os.path.join(rdir, a + ".pem"), "wb") as g:
            g.write(f.read())
    with open(os.path.join(rdir, "README"), "w") as f:
        f.write("not a certificate: ignored\n")
    _pki["recipients"] = rdir
    return _pki


# ------------------------------------------------------------- helpers

def smime_section(**kw):
    p = pki()
    keys = {"senders": SENDER, "cert_file": p["sender.crt"],
            "key_file": p["sender.key"]}
    keys.update(kw)
    return ("smime billing", keys)


class SmimeGateway(Gateway):
    """The harness's gateway with more sections appended."""

    def __init__(self, upstream, sections, **kw):
        self.extra = sections
        Gateway.__init__(self, upstream, **kw)

    def _write(self, port):
        upstream, gateway, listener, upstream_conf, _, _ = self._args
        self.write_config(config_text(port, upstream.port, gateway,
                                      listener, upstream_conf, self.host) +
                          ini(self.extra))


BODY = (b"Hello Alice,\r\n"
        b".a line with a leading dot\r\n"
        b"trailing blanks   \r\n"
        b"\r\n"
        b"the secret is 4711\r\n")


def message(ctype=b"Content-Type: text/plain; charset=us-ascii\r\n"):
    return (b"From: Billing <billing@example.com>\r\n"
            b"To: Alice <alice@example.org>\r\n"
            b"Subject: invoice 42\r\n"
            b"Date: Sun, 06 Dec 2026 03:00:00 +0000\r\n"
            b"Message-ID: <smime.1@example.com>\r\n"
            b"MIME-Version: 1.0\r\n" + ctype +
            b"\r\n" + BODY)


def relay(up, gw, msg, rcpts, sender=SENDER, n=1):
    with gw.client() as c:
        c.start()
        replies = transaction(c, sender, rcpts, msg)
        c.cmd("QUIT")
    check_reply(replies[-1], 250, what="end of DATA")
    msgs = up.wait_messages(n, timeout=10 * gwtest.TIME_SCALE)
    check(len(msgs) == n, "want %d messages upstream, got %r", n, msgs)
    return msgs[-1].data


def save(data, name="msg.eml"):
    d = newdir("smime-out")
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def cms_verify(data):
    """openssl cms -verify against the test CA: the signed content."""
    path = save(data)
    rc, out, err = openssl("cms", "-verify", "-in", path, "-CAfile",
                           _pki["ca.crt"])
    check(rc == 0 and "Verification successful" in err,
          "openssl cms -verify failed: %s\n%r", err, data[:1200])
    return out


def cms_decrypt(data, who):
    path = save(data)
    rc, out, err = openssl("cms", "-decrypt", "-in", path, "-recip",
                           _pki[who + ".crt"], "-inkey", _pki[who + ".key"])
    check(rc == 0, "openssl cms -decrypt (%s) failed: %s", who, err)
    return out


def check_signed_structure(data, what="message"):
    """multipart/signed, two parts, the second the signature; the outer
    header fields kept outside."""
    m = email.message_from_bytes(data, policy=email.policy.default)
    check(m.get_content_type() == "multipart/signed", "%s: type %s", what,
          m.get_content_type())
    check(m.get_param("protocol") == "application/pkcs7-signature" and
          m.get_param("micalg") == "sha-256", "%s: params %r", what,
          m["Content-Type"])
    parts = m.get_payload()
    check(len(parts) == 2, "%s: %d parts", what, len(parts))
    check(parts[1].get_content_type() == "application/pkcs7-signature",
          "%s: second part %s", what, parts[1].get_content_type())
    check(parts[0].get_content_type() == "text/plain", "%s: first part %s",
          what, parts[0].get_content_type())
    return m


def check_outer(m, what):
    for h, v in (("Subject", "invoice 42"),
                 ("Message-ID", "<smime.1@example.com>"),
                 ("MIME-Version", "1.0")):
        check(m[h] == v, "%s: outer %s is %r", what, h, m[h])
    check(len(m.get_all("MIME-Version")) == 1, "%s: MIME-Version twice",
          what)


# ------------------------------------------------------------- tests

def test_sign():
    up = Upstream("starttls")
    gw = SmimeGateway(up, [smime_section()])
    data = relay(up, gw, message(), [R1])
    m = check_signed_structure(data)
    check_outer(m, "signed")
    content = cms_verify(data)
    # the signed part is the original content, with its Content-Type
    check(content.replace(b"\r\n", b"\n").endswith(
        BODY.replace(b"\r\n", b"\n")), "signed content: %r", content)
    check(b"Content-Type: text/plain; charset=us-ascii" in content,
          "Content-Type not inside: %r", content)
    check(b"Subject:" not in content, "Subject went inside: %r", content)
    # exactly as sent: the first part's bytes are what was signed
    check(re.search(rb"--smtpgate-smime-[0-9a-f]{32}\r\nContent-Type: "
                    rb"text/plain; charset=us-ascii\r\n\r\nHello Alice,",
                    data), "first part: %r", data[:1500])
    check(gw.wait_log(r"relay smime \[smime billing\] signed=yes "
                      r"encrypted=no"), "no smime log line")
    # a message without Content-Type: the default written inside
    msg = message(ctype=b"")
    data = relay(up, gw, msg, [R1], n=2)
    content = cms_verify(data)
    check(content.startswith(b"Content-Type: text/plain; charset=us-ascii"),
          "default Content-Type: %r", content)


def test_sign_ecdsa_and_other_sender_untouched():
    p = pki()
    up = Upstream("starttls")
    gw = SmimeGateway(up, [smime_section(cert_file=p["ecsender.crt"],
                                         key_file=p["ecsender.key"])])
    data = relay(up, gw, message(), [R1])
    check_signed_structure(data, "ECDSA")
    cms_verify(data)
    # another sender: not this section's, passed as it is
    data = relay(up, gw, message(), [R1], sender="other@example.com", n=2)
    check(data == message(), "other sender's message changed: %r",
          data[:600])


def test_sign_and_encrypt():
    p = pki()
    up = Upstream("starttls")
    gw = SmimeGateway(up, [smime_section(encrypt="yes",
                                         recipient_certs=p["recipients"])],
                      listener={"received_header": "yes"})
    data = relay(up, gw, message(), [R1, R2])
    # our trace field stays first, outside
    check(data.startswith(b"Received: from "), "Received not first: %r",
          data[:200])
    m = email.message_from_bytes(data, policy=email.policy.default)
    check(m.get_content_type() == "application/pkcs7-mime" and
          m.get_param("smime-type") == "enveloped-data" and
          m.get_param("name") == "smime.p7m", "outer type: %r",
          m["Content-Type"])
    check_outer(m, "encrypted")
    check(b"4711" not in data, "the secret is readable: %r", data)
    # each recipient decrypts it, and the inner signature verifies
    for who in ("alice", "bob"):
        inner = cms_decrypt(data, who)
        im = email.message_from_bytes(inner, policy=email.policy.default)
        check(im.get_content_type() == "multipart/signed",
              "%s: inner type %s", who, im.get_content_type())
        check_signed_structure(inner, "decrypted")
        content = cms_verify(inner)
        check(b"the secret is 4711" in content, "%s: content %r", who,
              content)
    check(gw.wait_log(r"relay smime \[smime billing\] signed=yes "
                      r"encrypted=yes recipients=2"), "no smime log line")


def test_encrypt_only():
    p = pki()
    up = Upstream("starttls")
    gw = SmimeGateway(up, [smime_section(sign="no", cert_file=None,
                                         key_file=None, encrypt="yes",
                                         recipient_certs=p["recipients"],
                                         cipher="aes128-cbc")])
    data = relay(up, gw, message(), [R1])
    inner = cms_decrypt(data, "alice")
    check(inner.startswith(b"Content-Type: text/plain; charset=us-ascii"
                           b"\r\n\r\nHello Alice,"), "inner: %r", inner)


def test_missing_certificate_refuse():
    p = pki()
    up = Upstream("starttls")
    gw = SmimeGateway(up, [smime_section(encrypt="yes",
                                         recipient_certs=p["recipients"],
                                         missing_recipient_cert="refuse")])
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250, what="MAIL")
        r = c.cmd("RCPT TO:<%s>" % NOCERT)
        check_reply(r, 550, "5.7.1", what="RCPT without certificate")
        check("S/MIME certificate" in r.text and NOCERT in r.text,
              "reply text: %r", r.text)
        check_reply(c.cmd("RCPT TO:<%s>" % R1), 250, what="RCPT")
        check_reply(c.cmd("DATA"), 354, what="DATA")
        c.send_message(message())
        check_reply(c.reply(timeout=60), 250, what="end of DATA")
        c.cmd("QUIT")
    msgs = up.wait_messages(1)
    check(msgs[0].rcpt_tos == [R1], "upstream recipients %r",
          msgs[0].rcpt_tos)
    cms_verify(cms_decrypt(msgs[0].data, "alice"))
    check(gw.wait_log(r"refused.*5\.7\.1|5\.7\.1.*refused|rcpt.*550"),
          "no refusal log line:\n%s", gw.log()[-1500:])


def test_missing_certificate_sign_only():
    p = pki()
    up = Upstream("starttls")
    gw = SmimeGateway(up, [smime_section(encrypt="yes",
                                         recipient_certs=p["recipients"])])
    data = relay(up, gw, message(), [R1, NOCERT])
    check_signed_structure(data, "sign-only")
    cms_verify(data)
    check(gw.wait_log(r"not encrypted: no certificate for %s" % NOCERT),
          "no log line for the missing certificate")


def test_dkim_over_smime():
    import dkim  # python3-dkim
    import base64
    p = pki()
    d = newdir("dkim-key")
    key = os.path.join(d, "dkim.pem")
    must("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", key)
    os.chmod(key, 0o600)
    spki = must("pkey", "-in", key, "-pubout", "-outform", "DER")
    rec = "v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode()
    up = Upstream("starttls")
    gw = SmimeGateway(up, [smime_section(encrypt="yes",
                                         recipient_certs=p["recipients"]),
                           ("dkim d", {"domain": "example.com",
                                       "selector": "s", "key_file": key})])
    data = relay(up, gw, message(), [R1])
    check(data.startswith(b"DKIM-Signature:"), "no DKIM signature first: %r",
          data[:300])

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        return (rec if n.rstrip(".") == "s._domainkey.example.com"
                else "").encode()
    check(dkim.DKIM(data).verify(dnsfunc=dnsfunc),
          "DKIM does not verify over the S/MIME message")
    cms_verify(cms_decrypt(data, "alice"))


def test_queue_mode():
    """delivery = queue goes through the same end of DATA: the stored and
    delivered message is the S/MIME one."""
    p = pki()
    up = Upstream("starttls")
    qdir = os.path.join(newdir("queue"), "q")
    gw = SmimeGateway(up, [smime_section(encrypt="yes",
                                         recipient_certs=p["recipients"])],
                      gateway={"queue_dir": qdir, "queue_retry": "1s"},
                      listener={"delivery": "queue"})
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [R1], message())
        c.cmd("QUIT")
    check_reply(replies[-1], 250, what="end of DATA (queued)")
    check("queued" in replies[-1].text, "not queued: %r", replies[-1].text)
    msgs = up.wait_messages(1, timeout=20 * gwtest.TIME_SCALE)
    check(len(msgs) == 1, "want 1 message upstream, got %r", msgs)
    check(b"4711" not in msgs[0].data, "queued message in clear")
    cms_verify(cms_decrypt(msgs[0].data, "alice"))


def test_queue_8bit_signed_then_not_reencoded():
    """delivery = queue, sign = yes, no DKIM key, an 8-bit body and an
    upstream without 8BITMIME: converted before it is signed (at
    acceptance), so the conversion at delivery does not break the
    S/MIME signature."""
    up = Upstream("starttls", extra=["--no-8bitmime"])
    qdir = os.path.join(newdir("queue"), "q")
    gw = SmimeGateway(up, [smime_section()],
                      gateway={"queue_dir": qdir, "queue_retry": "1s"},
                      listener={"delivery": "queue"})
    msg = message(ctype=b"Content-Type: text/plain; charset=utf-8\r\n"
                  b"Content-Transfer-Encoding: 8bit\r\n").replace(
        b"Hello Alice,", "Grüße, Alice,".encode())
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [R1], msg)
        c.cmd("QUIT")
    check_reply(replies[-1], 250, what="end of DATA (queued)")
    msgs = up.wait_messages(1, timeout=20 * gwtest.TIME_SCALE)
    check(len(msgs) == 1, "want 1 message upstream, got %r", msgs)
    data = msgs[0].data
    check(all(b < 128 for b in data), "8-bit octets upstream: %r",
          data[:600])
    check_signed_structure(data, "queued 8-bit")
    content = cms_verify(data)
    m = email.message_from_bytes(content, policy=email.policy.default)
    check(m.get_content().startswith("Grüße, Alice,"),
          "signed content decodes to %r", m.get_content()[:80])


def test_reload_reads_new_certificate():
    """A certificate put into recipient_certs is used after SIGHUP."""
    import signal
    p = pki()
    rdir = newdir("rcerts")
    with open(p["alice.crt"], "rb") as f, \
            open(os.path.join(rdir, R1 + ".pem"), "wb") as g:
        g.write(f.read())
    up = Upstream("starttls")
    gw = SmimeGateway(up, [smime_section(encrypt="yes",
                                         recipient_certs=rdir)])
    data = relay(up, gw, message(), [R2])
    check_signed_structure(data, "before reload")
    with open(p["bob.crt"], "rb") as f, \
            open(os.path.join(rdir, R2.lower() + ".pem"), "wb") as g:
        g.write(f.read())
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"reload: new configuration in use", 10 *
                      gwtest.TIME_SCALE, start=mark), "no reload in the log")
    data = relay(up, gw, message(), [R2], n=2)
    cms_verify(cms_decrypt(data, "bob"))


def check_t(text, want_rc):
    d = newdir("conf-t")
    path = os.path.join(d, "smtpgate.ini")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([gwtest.BIN, "-t", "-c", path], capture_output=True,
                       timeout=30 * gwtest.TIME_SCALE)
    out = r.stderr.decode(errors="replace")
    check(r.returncode == want_rc, "-t: want exit %d, got %d: %s", want_rc,
          r.returncode, out)
    return path, out


def test_bad_files_refused():
    p = pki()
    base = config_text(2525, 2526)
    # the configuration as the tests above use it: fine
    check_t(base + ini([smime_section(encrypt="yes",
                                      recipient_certs=p["recipients"])]), 0)
    # a key that is not the certificate's
    path, out = check_t(base + ini([smime_section(key_file=p["alice.key"])]),
                        1)
    check(re.search(r"smtpgate\.ini:\d+: \[smime billing\]: key_file: the "
                    r"key does not sign for the certificate", out),
          "mismatched key: %s", out)
    # a certificate file that is not one
    path, out = check_t(base + ini([smime_section(
        cert_file=p["sender.key"])]), 1)
    check(re.search(r"\[smime billing\]: cert_file: not a PEM certificate",
                    out), "bad cert_file: %s", out)
    # sign = yes without a key
    path, out = check_t(base + ini([smime_section(key_file=None)]), 1)
    check("[smime billing]: key_file: required when sign = yes" in out,
          "missing key_file: %s", out)
    # recipients: an upper-case name, an ECDSA certificate
    for fname, src, want in (
            ("Dave@example.org.pem", "alice.crt", "lower case"),
            ("erin@example.org.pem", "ecsender.crt", "RSA certificate")):
        rdir = newdir("rcerts")
        with open(p[src], "rb") as f, \
                open(os.path.join(rdir, fname), "wb") as g:
            g.write(f.read())
        path, out = check_t(base + ini([smime_section(
            encrypt="yes", recipient_certs=rdir)]), 1)
        check(re.search(r"\[smime billing\]: recipient_certs: .*%s.*%s" %
                        (re.escape(fname), want), out),
              "%s: %s", fname, out)
    # the cross-checks
    path, out = check_t(base + ini([smime_section(sign="no")]), 1)
    check("sign and encrypt are both no" in out, "nothing to do: %s", out)
    path, out = check_t(base.replace("upstream = up", "upstream = up\n"
                                     "smime = nosuch") +
                        ini([smime_section()]), 1)
    check("[listener test]: smime: no [smime nosuch] section" in out,
          "unknown name: %s", out)
    # and the gateway refuses to start with a bad key, naming it
    path, _ = check_t(base + ini([smime_section(key_file=p["alice.key"])]),
                      1)
    r = subprocess.run([gwtest.BIN, "-c", path], capture_output=True,
                       timeout=30 * gwtest.TIME_SCALE)
    out = (r.stdout + r.stderr).decode(errors="replace")
    check(r.returncode != 0 and "[smime billing]: key_file: the key does "
          "not sign" in out, "start-up: exit %d: %s", r.returncode, out)

if __name__ == "__main__":
    gwtest.main(globals())
