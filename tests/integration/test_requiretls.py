#!/usr/bin/python3
"""REQUIRETLS (RFC 8689, issue 16 section 5) against real servers: the
project's aiosmtpd upstream taught REQUIRETLS (upstream.py --requiretls:
offered after TLS only, the parameter recorded), clients over STARTTLS
on a TLS listener and over plaintext.

- verified TLS to an upstream offering REQUIRETLS: delivered, REQUIRETLS
  on the upstream's MAIL;
- an upstream without it: 550 5.7.30, no MAIL sent, nothing stored; the
  same session then sends a plain message on the same connection;
- REQUIRETLS offered over TLS that passed only through an exception
  (accept = name-mismatch): 550 5.7.10, no MAIL sent;
- a plaintext client session: not offered, 530 5.7.10; requiretls =
  always offers it in plaintext (a loopback listener);
- TLS-Required: No relaxes nothing of the operator's TLS policy and is
  passed on unchanged;
- delivery = queue: the flag is kept in the envelope and goes on at
  delivery; an upstream without it fails the recipients for good with
  5.7.30 and the bounce is redacted (RFC 8689 5): no part of the
  original, sent without REQUIRETLS.
- a pipelined batch behind the refusal, and Python's smtplib as a real
  client."""

import email
import email.policy
import os
import smtplib
import ssl
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    newdir, pki, sample_message, wait_for)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"


def tls_listener(**extra):
    p = pki()
    d = {"tls": "starttls", "tls_cert": p["good-chain"],
         "tls_key": p["good.key"]}
    d.update(extra)
    return d


def starttls(c):
    """STARTTLS on a gwtest Client, then EHLO again; returns the EHLO."""
    check_reply(c.cmd("STARTTLS"), 220, "2.0.0", what="STARTTLS")
    check(c.buf == b"", "plaintext left before the handshake: %r", c.buf)
    ctx = ssl.create_default_context(cafile=pki()["ca-bundle"])
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
    r = c.ehlo()
    check_reply(r, 250, what="EHLO after STARTTLS")
    return r


def send(c, mail, msg, rcpt=RCPT):
    """MAIL (the whole argument given), RCPT, DATA; the replies."""
    r = c.cmd("MAIL " + mail)
    if r.code != 250:
        return [r]
    out = [r, c.cmd("RCPT TO:<%s>" % rcpt)]
    check_reply(out[-1], 250, what="RCPT")
    out.append(c.data(msg))
    return out


def mail_args(up):
    return [e["arg"] for e in up.events("MAIL_ARGS")]


def test_verified_upstream_gets_requiretls():
    up = Upstream("starttls", extra=["--requiretls"])
    gw = Gateway(up, listener=tls_listener())
    with gw.client() as c:
        r = c.start()
        check("REQUIRETLS" not in r.keywords,
              "REQUIRETLS offered before STARTTLS: %r", r.lines)
        r = starttls(c)
        check("REQUIRETLS" in r.keywords, "not offered after STARTTLS: %r",
              r.lines)
        out = send(c, "FROM:<%s> REQUIRETLS" % SENDER,
                   sample_message("rtls"))
        check_reply(out[-1], 250, "2.0.0", what="final dot")
        c.cmd("QUIT")
    m = up.wait_messages(1)
    check("REQUIRETLS" in m[0].meta["mail_params"].split(),
          "upstream MAIL params %r", m[0].meta["mail_params"])
    check(m[0].meta["tls_version"] is not None, "stored without TLS: %r",
          m[0].meta)
    check(m[0].data == sample_message("rtls"), "message changed")


def test_upstream_without_requiretls_refused():
    up = Upstream("starttls", extra=["--dsn"])	# records MAIL, no REQUIRETLS
    gw = Gateway(up, listener=tls_listener())
    with gw.client() as c:
        c.start()
        starttls(c)
        out = send(c, "FROM:<%s> REQUIRETLS" % SENDER, sample_message("x"))
        check_reply(out[0], 550, "5.7.30", what="MAIL REQUIRETLS")
        check(mail_args(up) == [], "a MAIL reached the upstream: %r",
              mail_args(up))
        # the session and its connection go on for mail without it
        out = send(c, "FROM:<%s>" % SENDER, sample_message("plain"))
        check_reply(out[-1], 250, "2.0.0", what="plain message")
        c.cmd("QUIT")
    m = up.wait_messages(1)
    check(len(m) == 1 and b"Subject: plain" in m[0].data,
          "want only the plain message stored: %r", m)
    check(gw.wait_log(r"mail refused by=gateway .*5\.7\.30"),
          "no refusal line:\n%s" % gw.log())


def test_pipelined_and_smtplib():
    """A pipelined batch behind a refused MAIL REQUIRETLS is refused in
    order and sends nothing; Python's smtplib (a real client) over
    STARTTLS with mail_options=["REQUIRETLS"] gets the refusal as an
    exception, and delivers when the upstream offers it."""
    up = Upstream("starttls", extra=["--dsn"])	# no REQUIRETLS
    gw = Gateway(up, listener=tls_listener())
    with gw.client() as c:
        c.start()
        starttls(c)
        # connection opened first, so the batch meets a ready upstream
        check_reply(c.cmd("NOOP"), 250, what="NOOP")
        c.send(("MAIL FROM:<%s> REQUIRETLS\r\nRCPT TO:<%s>\r\nDATA\r\n"
                % (SENDER, RCPT)).encode())
        r = c.replies(3)
        check_reply(r[0], 550, "5.7.30", what="pipelined MAIL")
        check(r[1].code // 100 == 5 and r[2].code // 100 == 5,
              "RCPT and DATA behind a refused MAIL: %r", r)
        c.cmd("QUIT")
    check(mail_args(up) == [], "a MAIL reached the upstream: %r",
          mail_args(up))
    ctx = ssl.create_default_context(cafile=pki()["ca-bundle"])

    def smtplib_send(gw, subject):
        with smtplib.SMTP("127.0.0.1", gw.port, local_hostname="client.test",
                          timeout=gwtest.REPLY_TIMEOUT) as s:
            s.starttls(context=ctx)
            s.ehlo()
            check(s.has_extn("requiretls"), "smtplib: not offered: %r",
                  s.esmtp_features)
            s.sendmail(SENDER, [RCPT], sample_message(subject),
                       mail_options=["REQUIRETLS"])
    try:
        smtplib_send(gw, "smtplib refused")
        check(False, "smtplib: no refusal")
    except smtplib.SMTPSenderRefused as e:
        check(e.smtp_code == 550 and e.smtp_error.startswith(b"5.7.30"),
              "smtplib: %r", e)
    gw.stop()
    up2 = Upstream("starttls", extra=["--requiretls"])
    gw = Gateway(up2, listener=tls_listener())
    smtplib_send(gw, "smtplib ok")
    m = up2.wait_messages(1)
    check("REQUIRETLS" in m[0].meta["mail_params"].split(),
          "upstream MAIL params %r", m[0].meta["mail_params"])


def test_unverified_tls_refused():
    """The upstream offers REQUIRETLS, but its certificate passed only
    through an exception: not RFC 6125 verified, so its EHLO is not
    trusted either."""
    up = Upstream("starttls", cert="wrongname",
                  extra=["--requiretls", "--dsn"])
    gw = Gateway(up, listener=tls_listener(),
                 upstream_conf={"accept": "name-mismatch"})
    with gw.client() as c:
        c.start()
        starttls(c)
        out = send(c, "FROM:<%s> REQUIRETLS" % SENDER, sample_message("x"))
        check_reply(out[0], 550, "5.7.10", what="MAIL REQUIRETLS")
        c.cmd("QUIT")
    time.sleep(0.3)
    check(mail_args(up) == [] and up.messages() == [],
          "something reached the upstream: %r", mail_args(up))


def test_plaintext_session():
    """Default (requiretls = tls): a plaintext session is not offered
    REQUIRETLS and may not use it; always: offered on loopback."""
    up = Upstream("starttls", extra=["--requiretls"])
    gw = Gateway(up, listener=tls_listener())
    with gw.client() as c:
        r = c.start()
        check("REQUIRETLS" not in r.keywords, "offered in plaintext: %r",
              r.lines)
        r = c.cmd("MAIL FROM:<%s> REQUIRETLS" % SENDER)
        check_reply(r, 530, "5.7.10", what="plaintext MAIL REQUIRETLS")
        c.cmd("QUIT")
    gw.stop()
    gw = Gateway(up, listener={"requiretls": "always"})
    with gw.client() as c:
        r = c.start()
        check("REQUIRETLS" in r.keywords, "always: not offered: %r",
              r.lines)
        out = send(c, "FROM:<%s> REQUIRETLS" % SENDER,
                   sample_message("loopback"))
        check_reply(out[-1], 250, "2.0.0", what="final dot")
        c.cmd("QUIT")
    m = up.wait_messages(1)
    check("REQUIRETLS" in m[0].meta["mail_params"].split(),
          "upstream MAIL params %r", m[0].meta["mail_params"])


def test_tls_required_no_header():
    """TLS-Required: No asks to ignore recipient-domain policy (MTA-STS,
    DANE); the gateway's upstream TLS is the operator's: still required,
    and the header goes on unchanged."""
    hdr = b"TLS-Required: No\r\n"
    msg = hdr + sample_message("tls-required-no")
    plain = Upstream("plain")			# offers no STARTTLS
    gw = Gateway(plain)
    with gw.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check(r.code // 100 == 4, "tls = starttls to a server without it: "
              "want 4xx, got %r", r)
        c.cmd("QUIT")
    check(plain.messages() == [], "sent in cleartext: %r", plain.messages())
    gw.stop()
    up = Upstream("starttls", extra=["--requiretls"])
    gw = Gateway(up, listener=tls_listener())
    with gw.client() as c:
        c.start()
        starttls(c)
        # with REQUIRETLS the header is ignored (RFC 8689), not obeyed
        out = send(c, "FROM:<%s> REQUIRETLS" % SENDER, msg)
        check_reply(out[-1], 250, "2.0.0", what="final dot")
        c.cmd("QUIT")
    m = up.wait_messages(1)
    check(m[0].data == msg, "header or message changed")
    check(m[0].meta["tls_version"] is not None, "not over TLS")


def test_queue_delivered_with_requiretls():
    """The flag kept in the envelope (its mail-params record) goes on at
    delivery to an upstream that meets the rule."""
    up = Upstream("starttls", extra=["--requiretls"])
    qdir = os.path.join(newdir("queue"), "q")
    gw = Gateway(up, gateway={"queue_dir": qdir, "queue_retry": "1s",
                              "queue_retry_max": "2s"},
                 listener={"delivery": "queue", "requiretls": "always"})
    with gw.client() as c:
        c.start()
        out = send(c, "FROM:<%s> REQUIRETLS" % SENDER,
                   sample_message("queued rtls"))
        check_reply(out[-1], 250, "2.0.0", what="queued")
        c.cmd("QUIT")
    m = up.wait_messages(1, timeout=15)
    check(m[0].mail_from == SENDER and
          "REQUIRETLS" in m[0].meta["mail_params"].split(),
          "upstream MAIL %r params %r", m[0].mail_from,
          m[0].meta["mail_params"])
    check(m[0].meta["tls_version"] is not None, "not over TLS")


def test_queue_bounce_redacted():
    up = Upstream("starttls", extra=["--dsn"])	# no REQUIRETLS
    qdir = os.path.join(newdir("queue"), "q")
    gw = Gateway(up, gateway={"queue_dir": qdir, "queue_retry": "1s",
                              "queue_retry_max": "2s"},
                 listener={"delivery": "queue", "requiretls": "always"})
    with gw.client() as c:
        c.start()
        out = send(c, "FROM:<%s> REQUIRETLS" % SENDER,
                   sample_message("secret subject"))
        check_reply(out[-1], 250, "2.0.0", what="queued")
        c.cmd("QUIT")
    got = up.wait_messages(1, timeout=15)
    check(len(got) == 1 and got[0].mail_from in ("", "<>") and
          got[0].rcpt_tos == [SENDER], "want only the bounce: %r", got)
    check(all(a.split(">")[0] == "FROM:<" for a in mail_args(up)),
          "the original's MAIL reached the upstream: %r", mail_args(up))
    check("REQUIRETLS" not in got[0].meta["mail_params"],
          "the redacted bounce asked for REQUIRETLS: %r", got[0].meta)
    d = email.message_from_bytes(got[0].data, policy=email.policy.compat32)
    parts = d.get_payload()
    check(d.get_content_type() == "multipart/report" and len(parts) == 2,
          "want a two-part report: %s, %d parts", d.get_content_type(),
          len(parts))
    status = parts[1].as_string()
    check("Status: 5.7.30" in status and "Action: failed" in status,
          "status part: %s", status)
    check(b"secret subject" not in got[0].data,
          "the original's header was returned")
    check(b"REQUIRETLS" in parts[0].as_bytes(), "text does not say why")
    wait_for(lambda: not [f for f in os.listdir(qdir)
                          if f.endswith(".msg")], 10)


if __name__ == "__main__":
    gwtest.main(globals())
