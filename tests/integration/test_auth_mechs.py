#!/usr/bin/python3
"""auth = inject with the mechanisms of issue 16 section 2 against a real
server: Dovecot's submission service (dovecot_sub.py) offering
SCRAM-SHA-256, SCRAM-SHA-1 and DIGEST-MD5 and relaying to an aiosmtpd
upstream.  Each mechanism named alone delivers; a wrong password fails
without a fallback after 535; "all" picks SCRAM-SHA-256; DIGEST-MD5 is
never chosen unless named.  A server that says 235 without proving it
knows the password (no v=, or a wrong one) is refused: that fault needs
a scripted server (faultup.py).

NTLM: Debian 12's Dovecot (2.3.19) is built without its NTLM mechanism
("Unknown authentication mechanism 'NTLM'"), so NTLM is tested against
Postfix's smtpd with Cyrus SASL's ntlm plugin (postfix_sasl.py), which
checks NTLMv2 responses (the gateway sends no other kind).  The same
Postfix checks SCRAM and DIGEST-MD5 against a second server
implementation (Cyrus SASL's)."""

import os
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (FaultUpstream, Gateway, Upstream,  # noqa: E402
                    check, check_reply, newdir, sample_message,
                    transaction, wait_for)
from dovecot_sub import DovecotSubmission  # noqa: E402
from postfix_sasl import PostfixSasl  # noqa: E402

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"
USER = "relay@example.test"
PASSWORD = "Corr3ct-horse battery,staple=\\\"q\\\""  # no ":" (passwd-file)
MECHS = ["scram-sha-256", "scram-sha-1", "digest-md5", "plain", "login",
         "cram-md5"]


def secret_file(text):
    path = os.path.join(newdir("secret"), "secret")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def inject(mechs=None, password=PASSWORD, user=USER):
    conf = {"auth": "inject", "username": user,
            "password_file": secret_file(password + "\n")}
    if mechs:
        conf["auth_mechanisms"] = ", ".join(mechs)
    return conf


def setup(mechs=MECHS):
    """An aiosmtpd relay and a Dovecot submission server in front."""
    relay = Upstream("plain")
    dv = DovecotSubmission({USER: PASSWORD}, mechs, relay.port,
                           realms=["example.test"])
    return relay, dv


def want_log(gw, pattern):
    check(gw.wait_log(pattern), "no /%s/ in the gateway's log:\n%s",
          pattern, gw.log()[-3000:])


def deliver(gw, subject):
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message(subject))
        c.cmd("QUIT")
    return replies


def expect_delivered(relay, dv, gw, mech):
    replies = deliver(gw, mech)
    check(all(r.code < 400 for r in replies), "transaction failed: %r",
          replies)
    msgs = relay.wait_messages(1, timeout=10)
    check(len(msgs) == 1, "want 1 message at the relay, got %r", msgs)
    check(("Subject: %s" % mech).encode() in msgs[0].data,
          "not the message sent: %r", msgs[0].data[:300])
    want_log(gw, r"auth mech=%s result=ok" % mech)
    check(wait_for(lambda: mech in dv.logins(USER), 5),
          "Dovecot logged no %s login: %s", mech, dv.text()[-2000:])


def expect_authfail(relay, gw, why):
    with gw.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check_reply(r, 451, "4.7.0", what="MAIL with failing AUTH")
        check("auth-failed" in r.text, "no auth-failed in %r", r)
        c.cmd("QUIT")
    check(not relay.messages(), "delivered despite a failed AUTH")
    want_log(gw, why)


def _alone(mech):
    relay, dv = setup()
    gw = Gateway(dv, upstream_conf=inject([mech]))
    expect_delivered(relay, dv, gw, mech)


def test_scram_sha256_alone():
    _alone("SCRAM-SHA-256")


def test_scram_sha1_alone():
    _alone("SCRAM-SHA-1")


def test_digest_md5_alone():
    """DIGEST-MD5, realm from the challenge (Dovecot then looks the user
    up as user@realm: the account is relay@example.test, realm
    example.test, so the user name sent is "relay")."""
    relay = Upstream("plain")
    dv = DovecotSubmission({USER: PASSWORD}, MECHS, relay.port,
                           realms=["example.test"])
    gw = Gateway(dv, upstream_conf=inject(["DIGEST-MD5"], user="relay"))
    replies = deliver(gw, "DIGEST-MD5")
    check(all(r.code < 400 for r in replies), "transaction failed: %r",
          replies)
    check(len(relay.wait_messages(1, timeout=10)) == 1, "not relayed")
    want_log(gw, r"auth mech=DIGEST-MD5 result=ok")
    check(wait_for(lambda: "DIGEST-MD5" in dv.logins(USER), 5),
          "Dovecot logged no DIGEST-MD5 login: %s", dv.text()[-2000:])


def test_all_picks_scram_sha256():
    relay, dv = setup()
    gw = Gateway(dv, upstream_conf=inject())
    expect_delivered(relay, dv, gw, "SCRAM-SHA-256")


def test_all_without_tls_picks_scram_sha256():
    """No TLS to the upstream (tls = none): SCRAM keeps the password off
    the wire, so "all" still logs in, without auth_allow_cleartext."""
    relay, dv = setup()
    gw = Gateway(dv, upstream_conf=dict(inject(), tls="none"))
    expect_delivered(relay, dv, gw, "SCRAM-SHA-256")
    check(not gw.wait_log(r"CLEARTEXT", timeout=0.5), "cleartext warning")


def test_non_ascii_password_skips_scram():
    """SASLprep is not implemented: a non-ASCII password is not sent with
    SCRAM (no failed login), the next candidate (PLAIN under TLS) is."""
    pw = "p\u00e4ssw\u00f6rd-\u20ac"
    relay = Upstream("plain")
    dv = DovecotSubmission({USER: pw}, MECHS, relay.port)
    gw = Gateway(dv, upstream_conf=inject(password=pw))
    expect_delivered(relay, dv, gw, "PLAIN")
    want_log(gw, r"auth mech=SCRAM-SHA-256 not tried: SCRAM: the password "
             r"is not printable ASCII")
    check("SCRAM" not in " ".join(dv.logins(USER)) and
          "auth failed" not in dv.text(), "SCRAM tried: %s",
          dv.text()[-2000:])


def test_all_never_digest_md5():
    """DIGEST-MD5 only when named: a server offering nothing else gets no
    AUTH from "all"."""
    relay, dv = setup(["digest-md5"])
    gw = Gateway(dv, upstream_conf=inject())
    expect_authfail(relay, gw, r"no usable AUTH mechanism")
    check(not dv.logins(USER), "logged in: %s", dv.text()[-2000:])


def _wrong(mechs, first):
    relay, dv = setup()
    gw = Gateway(dv, upstream_conf=dict(inject(mechs, password="wrong"),
                                        auth_fallback="yes"))
    expect_authfail(relay, gw, r"auth mech=%s result=failed reply=\"535" %
                    first)
    # one failed login at Dovecot, not one per mechanism
    text = dv.text()
    check(text.count("auth failed, 1 attempts") +
          text.count("Disconnected: Aborted login (auth failed") <= 1,
          "more than one login tried: %s", text[-2000:])
    check(not gw.wait_log(r"auth mech=SCRAM-SHA-1", timeout=1),
          "fell back after 535:\n%s", gw.log()[-2000:])


def test_wrong_password_scram_no_fallback():
    _wrong(["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"], "SCRAM-SHA-256")


def test_wrong_password_digest_md5():
    relay, dv = setup()
    gw = Gateway(dv, upstream_conf=inject(["DIGEST-MD5"], user="relay",
                                          password="wrong"))
    expect_authfail(relay, gw, r"auth mech=DIGEST-MD5 result=failed")


def _impostor(fault, why):
    up = FaultUpstream(fault)
    gw = Gateway(up, upstream_conf=inject(["SCRAM-SHA-256"]))
    with gw.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check_reply(r, 451, "4.7.0", what="MAIL after a proofless 235")
        c.cmd("QUIT")
    want_log(gw, why)
    check(not [e for e in up.events("cmd") if e["line"].startswith("MAIL")],
          "MAIL sent to a server that did not prove itself: %r",
          up.events())
    check(not up.events("delivered"), "delivered: %r", up.events())


def test_235_without_scram_proof_refused():
    _impostor("scram-no-proof", r"235 without the server's proof")


def test_wrong_scram_server_signature_refused():
    _impostor("scram-bad-proof", r"the server signature is wrong")


def test_cyrus_sasl_interop():
    """A second implementation of the server side: SCRAM-SHA-256,
    SCRAM-SHA-1 and DIGEST-MD5 against Postfix with Cyrus SASL (its
    server-final and rspauth come the same way, as a 334)."""
    relay = Upstream("plain")
    pf = PostfixSasl({"relay": PASSWORD}, ["SCRAM-SHA-256", "SCRAM-SHA-1",
                                           "DIGEST-MD5"], relay.port)
    for n, mech in enumerate(["SCRAM-SHA-256", "SCRAM-SHA-1",
                              "DIGEST-MD5"]):
        gw = Gateway(pf, upstream_conf=inject([mech], user="relay"))
        replies = deliver(gw, mech)
        check(all(r.code < 400 for r in replies), "%s: transaction "
              "failed: %r", mech, replies)
        want_log(gw, r"auth mech=%s result=ok" % mech)
        check(len(relay.wait_messages(n + 1, timeout=10)) == n + 1,
              "%s: not relayed", mech)
        check(wait_for(lambda: ("%s" % mech, "relay@EXAMPLE") in
                       pf.logins(), 5), "Postfix logged no %s login: %s",
              mech, pf.text()[-2000:])
        gw.stop()


def _ntlm(users, login, password=PASSWORD):
    relay = Upstream("plain")
    pf = PostfixSasl(users, ["NTLM"], relay.port, realm="EXAMPLE")
    gw = Gateway(pf, upstream_conf=inject(["NTLM"], user=login,
                                          password=password))
    return relay, pf, gw


def test_ntlm_domain_user():
    """DOMAIN\\user as Exchange expects: the domain in its own field."""
    relay, pf, gw = _ntlm({"relay": PASSWORD}, "EXAMPLE\\relay")
    replies = deliver(gw, "NTLM")
    check(all(r.code < 400 for r in replies), "transaction failed: %r",
          replies)
    check(len(relay.wait_messages(1, timeout=10)) == 1, "not relayed")
    want_log(gw, r"auth mech=NTLM result=ok")
    check(wait_for(lambda: ("NTLM", "relay@EXAMPLE") in pf.logins(), 5),
          "Postfix logged no NTLM login: %s", pf.text()[-2000:])


def test_ntlm_user_at_domain():
    """user@domain goes as the user name, as is."""
    relay, pf, gw = _ntlm({"relay": PASSWORD}, "relay@EXAMPLE")
    replies = deliver(gw, "NTLM")
    check(all(r.code < 400 for r in replies), "transaction failed: %r",
          replies)
    check(len(relay.wait_messages(1, timeout=10)) == 1, "not relayed")


def test_ntlm_wrong_password():
    relay, pf, gw = _ntlm({"relay": PASSWORD}, "EXAMPLE\\relay",
                          password="wrong")
    expect_authfail(relay, gw, r"auth mech=NTLM result=failed reply=\"535")
    check(wait_for(lambda: len(pf.failures()) == 1, 5),
          "want one failed login at Postfix: %s", pf.text()[-2000:])


def test_ntlm_without_tls_only_when_named():
    """Without TLS, "all" never picks NTLM (anyone on the path could relay
    the login); named in auth_mechanisms, it is used."""
    relay = Upstream("plain")
    pf = PostfixSasl({"relay": PASSWORD}, ["NTLM"], relay.port)
    gw = Gateway(pf, upstream_conf=dict(inject(user="EXAMPLE\\relay"),
                                        tls="none"))
    replies = deliver(gw, "NTLM")
    check(any(r.code >= 400 for r in replies), "relayed with all: %r",
          replies)
    want_log(gw, r"no usable AUTH mechanism")
    check(len(pf.failures()) == 0, "a login was tried: %s",
          pf.text()[-2000:])
    gw.stop()
    gw = Gateway(pf, upstream_conf=dict(
        inject(["NTLM"], user="EXAMPLE\\relay"), tls="none"))
    replies = deliver(gw, "NTLM")
    check(all(r.code < 400 for r in replies), "transaction failed: %r",
          replies)
    want_log(gw, r"auth mech=NTLM result=ok")


if __name__ == "__main__":
    gwtest.main(globals())
