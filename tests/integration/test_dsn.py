#!/usr/bin/python3
"""DSN (RFC 3461) through the gateway, with Python's smtplib as the client
(it got 555 for RET=/ENVID= before smtpgate knew DSN).

A DSN-capable upstream (upstream.py --dsn, aiosmtpd taught DSN) gets RET,
ENVID, NOTIFY and ORCPT exactly as the client sent them; the default
upstream, which offers no DSN, gets the commands without them, as RFC 3461
section 4 says for a relay to a non-DSN server, the message is delivered,
and the gateway logs the drop at info.  Malformed values get 501 5.5.4."""

import os
import re
import smtplib
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    sample_message)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"
RCPT2 = "other@example.test"
ENVID = "QQ314159+2Bid"		# xtext: "QQ314159+id"
MAIL_OPTS = ["RET=HDRS", "ENVID=" + ENVID]
RCPT_OPTS = ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;" + RCPT]


def smtp(gw):
    s = smtplib.SMTP("127.0.0.1", gw.port, local_hostname="client.test",
                     timeout=gwtest.REPLY_TIMEOUT)
    return s


def send_dsn(gw, rcpts=(RCPT,)):
    """smtplib's sendmail with DSN options; returns its refused dict."""
    with smtp(gw) as s:
        code, _ = s.ehlo()
        check(code == 250, "EHLO: %d", code)
        check(s.has_extn("dsn"), "EHLO does not advertise DSN: %r",
              s.esmtp_features)
        refused = s.sendmail(SENDER, list(rcpts), sample_message("dsn"),
                             mail_options=MAIL_OPTS, rcpt_options=RCPT_OPTS)
        s.quit()
    return refused


def test_dsn_passed_to_dsn_upstream():
    up = Upstream("starttls", extra=["--dsn"])
    gw = Gateway(up)
    refused = send_dsn(gw, (RCPT, RCPT2))
    check(refused == {}, "recipients refused: %r", refused)
    m = up.wait_messages(1)
    check(len(m) == 1, "want 1 message upstream, got %r", m)
    meta = m[0].meta
    # exactly as smtplib sent them, in order, case kept (smtplib adds a
    # SIZE= of its own because the gateway offers SIZE)
    mail = [p for p in meta["mail_params"].split()
            if not p.lower().startswith("size=")]
    check(mail == MAIL_OPTS, "upstream MAIL parameters %r, want %r",
          meta["mail_params"], MAIL_OPTS)
    check(meta["rcpt_params"] == [" ".join(RCPT_OPTS)] * 2,
          "upstream RCPT parameters %r, want %r twice", meta["rcpt_params"],
          " ".join(RCPT_OPTS))
    args = [e["arg"] for e in up.events("RCPT_ARGS")]
    check(args == ["TO:<%s> %s" % (r, " ".join(RCPT_OPTS))
                   for r in (RCPT, RCPT2)], "upstream RCPT lines %r", args)
    check("dsn dropped" not in gw.log(), "DSN parameters dropped for a "
          "DSN upstream:\n%s" % gw.log())


def test_dsn_dropped_for_non_dsn_upstream():
    up = Upstream("starttls")		# aiosmtpd as it is: no DSN
    gw = Gateway(up)
    refused = send_dsn(gw, (RCPT, RCPT2))
    check(refused == {}, "recipients refused: %r", refused)
    m = up.wait_messages(1)
    check(len(m) == 1 and m[0].rcpt_tos == [RCPT, RCPT2],
          "want 1 message to both recipients upstream, got %r", m)
    for e in up.events("MAIL") + up.events("RCPT"):
        for o in e.get("options", []):
            check(o.split("=")[0] not in ("RET", "ENVID", "NOTIFY", "ORCPT"),
                  "DSN parameter reached a non-DSN upstream: %r", e)
    check([o for o in m[0].meta["mail_options"] if not o.startswith("SIZE=")]
          == [] and not m[0].meta["rcpt_options"],
          "parameters reached the upstream: %r", m[0].meta)
    # one info line per command kind and transaction, not per recipient
    check(gw.wait_log(r"relay dsn dropped .*command=RCPT"),
          "no RCPT drop line:\n%s" % gw.log())
    log = gw.log()
    mail = re.findall(r"info.* relay dsn dropped .*command=MAIL "
                      r"params=RET,ENVID reason=\"upstream does not offer "
                      r"DSN\"", log)
    rcpt = re.findall(r"relay dsn dropped .*command=RCPT "
                      r"params=NOTIFY,ORCPT", log)
    check(len(mail) == 1 and len(rcpt) == 1,
          "want one MAIL and one RCPT drop line at info, got %r %r:\n%s",
          mail, rcpt, log)


def test_dsn_long_orcpt_passed():
    """RFC 3461 4: RCPT may be 500 octets longer than RFC 5321's 512."""
    up = Upstream("starttls", extra=["--dsn"])
    gw = Gateway(up)
    orcpt = "rfc822;" + "o" * 460 + "+2B@example.test"
    rcpt = "TO:<%s> NOTIFY=FAILURE,DELAY ORCPT=%s" % (RCPT, orcpt)
    check(len("RCPT " + rcpt) > 510, "test line too short")
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s> RET=FULL" % SENDER), 250)
        check_reply(c.cmd("RCPT " + rcpt), 250, "2.1.5", what="long RCPT")
        check_reply(c.data(sample_message("long-orcpt")), 250)
        check_reply(c.cmd("QUIT"), 221)
    up.wait_messages(1)
    args = [e["arg"] for e in up.events("RCPT_ARGS")]
    check(args == [rcpt], "upstream RCPT %r, want %r", args, rcpt)


def test_dsn_later_transactions():
    """The MAIL parameters reach the upstream on every path the relay takes:
    the first MAIL waits for the connection, a later one goes at once, and
    one after a transaction the gateway refused (bare LF, 550 5.6.0) waits
    for the RSET that ends the upstream's open transaction."""
    up = Upstream("starttls", extra=["--dsn"])
    gw = Gateway(up)
    opts = ["RET=HDRS ENVID=first", "RET=FULL ENVID=second",
            "ENVID=third+2B RET=HDRS"]
    with gw.client() as c:
        c.start()
        for i, o in enumerate(opts):
            check_reply(c.cmd("MAIL FROM:<%s> %s" % (SENDER, o)), 250,
                        what="MAIL %d" % i)
            check_reply(c.cmd("RCPT TO:<%s> NOTIFY=NEVER" % RCPT), 250,
                        what="RCPT %d" % i)
            if i == 1:
                # refused by the gateway: the upstream has MAIL open
                check_reply(c.cmd("DATA"), 354, what="DATA")
                c.send(b"Subject: bare\n\nbare LF\r\n.\r\n")
                check_reply(c.reply(), 550, "5.6.0", what="bare LF")
                continue
            check_reply(c.data(sample_message("later-%d" % i)), 250,
                        what="message %d" % i)
        check_reply(c.cmd("QUIT"), 221)
    m = up.wait_messages(2)
    got = [" ".join(p for p in x.meta["mail_params"].split()
                    if not p.lower().startswith("size="))
           for x in m]
    check(got == [opts[0], opts[2]], "upstream MAIL parameters %r, want %r",
          got, [opts[0], opts[2]])
    mails = [e["arg"] for e in up.events("MAIL_ARGS")]
    check(mails == ["FROM:<%s> %s" % (SENDER, o) for o in opts],
          "upstream MAIL lines %r", mails)


def test_dsn_malformed_values_refused():
    up = Upstream("starttls", extra=["--dsn"])
    gw = Gateway(up)
    bad_mail = ["RET=HEADERS", "ENVID=a+0D+0AX:+20y", "ENVID=a+2b",
                "ENVID=" + "e" * 101, "RET"]
    bad_rcpt = ["NOTIFY=NEVER,SUCCESS", "NOTIFY=SUCCESS,", "NOTIFY=ALWAYS",
                "ORCPT=rfc822;", "ORCPT=a@b.example", "ORCPT=rfc822;a+0A@b"]
    # a session per value: the gateway ends one after too many errors
    for p in bad_mail:
        with gw.client() as c:
            c.start()
            check_reply(c.cmd("MAIL FROM:<%s> %s" % (SENDER, p)), 501,
                        "5.5.4", what="MAIL " + p)
    for p in bad_rcpt:
        with gw.client() as c:
            c.start()
            check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250, what="MAIL")
            check_reply(c.cmd("RCPT TO:<%s> %s" % (RCPT, p)), 501, "5.5.4",
                        what="RCPT " + p)
    with gw.client() as c:
        c.start()
        # parameters of the other command are unknown here: 555 as before
        check_reply(c.cmd("MAIL FROM:<%s> NOTIFY=NEVER" % SENDER), 555,
                    "5.5.4", what="MAIL NOTIFY")
        check_reply(c.cmd("MAIL FROM:<%s> ENVID=%s" % (SENDER, "e" * 100)),
                    250, what="MAIL with a 100-octet ENVID")
        check_reply(c.cmd("RCPT TO:<%s> RET=FULL" % RCPT), 555, "5.5.4",
                    what="RCPT RET")
        check_reply(c.cmd("RCPT TO:<%s> XFOO=1" % RCPT), 555, "5.5.4",
                    what="RCPT unknown parameter")
        check_reply(c.cmd("RCPT TO:<%s> NOTIFY=never" % RCPT), 250,
                    what="RCPT NOTIFY=never")
        check_reply(c.cmd("QUIT"), 221)
    args = [e["arg"] for e in up.events("RCPT_ARGS")]
    check(args == ["TO:<%s> NOTIFY=never" % RCPT],
          "only the valid RCPT may reach the upstream: %r", args)


if __name__ == "__main__":
    gwtest.main(globals())
