#!/usr/bin/python3
"""Relaying: what the client sends arrives upstream byte for byte, over
STARTTLS and implicit TLS, and the upstream's replies come back."""

import os
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    check_same_bytes, sample_message, big_message,
                    transaction)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"


def relay_one(up, gw, message, sender=SENDER, rcpts=(RCPT,)):
    """One transaction in lockstep; every step must succeed."""
    with gw.client() as c:
        c.start()
        replies = transaction(c, sender, list(rcpts), message)
        check(len(replies) == len(rcpts) + 3,
              "transaction stopped early: %r", replies)
        check_reply(replies[0], 250, what="MAIL")
        for r in replies[1:-2]:
            check_reply(r, 250, what="RCPT")
        check_reply(replies[-1], 250, what="end of DATA")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    msgs = up.wait_messages(1)
    check(len(msgs) == 1, "want 1 message upstream, got %r", msgs)
    return msgs[0]


def test_greeting_and_ehlo():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"max_message_size": "10M"})
    with gw.client() as c:
        g = c.greeting()
        check_reply(g, 220, what="greeting")
        check(g.lines[0] == "gw.test ESMTP smtpgate",
              "want greeting '220 gw.test ESMTP smtpgate', got %r", g)
        r = c.ehlo()
        check_reply(r, 250, what="EHLO")
        for kw in ("PIPELINING", "SIZE", "ENHANCEDSTATUSCODES", "8BITMIME",
                   "SMTPUTF8"):
            check(kw in r.keywords, "EHLO does not advertise %s: %r", kw, r)
        check(r.keywords["SIZE"] == [str(10 * 1024 * 1024)],
              "want SIZE 10485760 for max_message_size = 10M, got %r", r)
        check("STARTTLS" not in r.keywords and "AUTH" not in r.keywords,
              "EHLO advertises STARTTLS/AUTH the listener cannot do: %r", r)
        check_reply(c.cmd("NOOP"), 250, what="NOOP")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    check(not up.events(), "upstream contacted without MAIL: %r",
          up.events())


def test_starttls_relay_byte_identical():
    up = Upstream("starttls")
    gw = Gateway(up)
    msg = sample_message("starttls relay")
    m = relay_one(up, gw, msg)
    check_same_bytes(m.data, msg)
    check(m.mail_from == SENDER and m.rcpt_tos == [RCPT],
          "envelope changed: %r", m)
    check(m.meta["tls_version"] in ("TLSv1.2", "TLSv1.3"),
          "upstream saw no TLS: %r", m.meta)
    check(m.meta["helo"] == "gw.test", "want helo_name gw.test upstream, "
          "got %r", m.meta["helo"])
    check(all(e["tls"] for e in up.events() if e["event"] != "EHLO"),
          "a command went upstream before TLS: %r", up.events())
    check(gw.wait_log(r"tls=", 3), "no 'tls=' in smtpgate's log")


def test_implicit_tls_relay_byte_identical():
    up = Upstream("implicit")
    gw = Gateway(up, upstream_conf={"tls": "implicit"})
    msg = sample_message("implicit relay")
    m = relay_one(up, gw, msg)
    check_same_bytes(m.data, msg)
    check(m.meta["tls_version"] in ("TLSv1.2", "TLSv1.3"),
          "upstream saw no TLS: %r", m.meta)


def test_tls_auto_port_is_starttls():
    # tls = auto on a port other than 465 means STARTTLS (required).
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"tls": "auto"})
    msg = sample_message("auto")
    m = relay_one(up, gw, msg)
    check_same_bytes(m.data, msg)
    check(m.meta["tls_version"], "upstream saw no TLS: %r", m.meta)


def test_several_recipients():
    up = Upstream("starttls")
    gw = Gateway(up)
    msg = sample_message("three rcpts")
    rcpts = ["a@example.test", "b@example.test", "c@example.test"]
    m = relay_one(up, gw, msg, rcpts=rcpts)
    check(m.rcpt_tos == rcpts, "want %r, got %r", rcpts, m.rcpt_tos)
    check_same_bytes(m.data, msg)


def test_null_sender():
    # Bounces and notifications use the null reverse-path.
    up = Upstream("starttls")
    gw = Gateway(up)
    msg = sample_message("null sender")
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<>"), 250, what="MAIL FROM:<>")
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250, what="RCPT")
        check_reply(c.data(msg), 250, what="end of DATA")
    m = up.wait_messages(1)
    check(len(m) == 1 and m[0].mail_from == "<>",
          "want one message from <>, got %r", m)


def test_smtputf8_envelope():
    up = Upstream("starttls")
    gw = Gateway(up)
    sender = "j\u00f6rg@example.test"
    rcpt = "\u7528\u6237@example.test"
    msg = sample_message("utf8 envelope")
    with gw.client() as c:
        r = c.start()
        check("SMTPUTF8" in r.keywords, "no SMTPUTF8 in EHLO: %r", r)
        check_reply(c.cmd(("MAIL FROM:<%s> SMTPUTF8" % sender).encode()),
                    250, what="MAIL with SMTPUTF8")
        check_reply(c.cmd(("RCPT TO:<%s>" % rcpt).encode()), 250,
                    what="RCPT")
        check_reply(c.data(msg), 250, what="end of DATA")
    m = up.wait_messages(1)
    check(len(m) == 1, "want 1 message, got %r", m)
    check(m[0].mail_from == sender and m[0].rcpt_tos == [rcpt],
          "envelope changed: %r", m[0])
    check("SMTPUTF8" in m[0].meta["mail_options"],
          "SMTPUTF8 not passed upstream: %r", m[0].meta["mail_options"])
    check_same_bytes(m[0].data, msg)


def test_two_transactions_in_one_session():
    up = Upstream("starttls")
    gw = Gateway(up)
    m1 = sample_message("first")
    m2 = sample_message("second", extra=b"second body\r\n")
    with gw.client() as c:
        c.start()
        for m in (m1, m2):
            replies = transaction(c, SENDER, [RCPT], m)
            check_reply(replies[-1], 250, what="end of DATA")
        # An abandoned transaction must not leak into the next one.
        check_reply(c.cmd("MAIL FROM:<x@example.test>"), 250, what="MAIL")
        check_reply(c.cmd("RSET"), 250, what="RSET")
        replies = transaction(c, "third@example.test", [RCPT], m1)
        check_reply(replies[-1], 250, what="end of DATA after RSET")
        check_reply(c.cmd("QUIT"), 221)
    msgs = up.wait_messages(3)
    check(len(msgs) == 3, "want 3 messages, got %r", msgs)
    check_same_bytes(msgs[0].data, m1, "first message")
    check_same_bytes(msgs[1].data, m2, "second message")
    check(msgs[2].mail_from == "third@example.test",
          "third message has sender %r", msgs[2].mail_from)


def test_upstream_rcpt_rejection_passed_through():
    up = Upstream("starttls")
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250, what="MAIL")
        r = c.cmd("RCPT TO:<reject-me@example.test>")
        check_reply(r, 550, "5.1.1", what="RCPT rejected upstream")
        r = c.cmd("RCPT TO:<tempfail@example.test>")
        check_reply(r, 451, "4.3.0", what="RCPT tempfailed upstream")
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250, what="good RCPT")
        msg = sample_message("partial")
        check_reply(c.data(msg), 250, what="end of DATA")
    m = up.wait_messages(1)
    check(len(m) == 1 and m[0].rcpt_tos == [RCPT],
          "want one message to %s only, got %r", RCPT, m)


def test_upstream_mail_rejection_passed_through():
    up = Upstream("starttls", extra=["--mail-reply",
                                     "550 5.7.1 Sender refused here"])
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check_reply(r, 550, "5.7.1", what="MAIL rejected upstream")
        check_reply(c.cmd("QUIT"), 221)


def test_upstream_data_rejection_passed_through():
    up = Upstream("starttls", extra=["--data-reply",
                                     "554 5.6.0 Content refused"])
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("refused"))
        check_reply(replies[-1], 554, "5.6.0", what="end of DATA")
        check_reply(c.cmd("QUIT"), 221)
    check(not up.messages(), "a message was stored")


def test_pipelined_transaction():
    up = Upstream("starttls")
    gw = Gateway(up)
    msg = sample_message("pipelined")
    with gw.client() as c:
        c.start()
        c.send(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n"
               b"RCPT TO:<reject-x@example.test>\r\n"
               b"RCPT TO:<second@example.test>\r\nDATA\r\n"
               % (SENDER.encode(), RCPT.encode()))
        r = c.replies(5)
        check_reply(r[0], 250, what="MAIL")
        check_reply(r[1], 250, what="RCPT 1")
        check_reply(r[2], 550, "5.1.1", what="RCPT 2 (rejected)")
        check_reply(r[3], 250, what="RCPT 3")
        check_reply(r[4], 354, what="DATA")
        # The message, the end of data and the next commands in one write.
        c.send(gwtest.dot_stuff(msg) + b".\r\nNOOP\r\nQUIT\r\n")
        r = c.replies(3, timeout=30)
        check_reply(r[0], 250, what="end of DATA")
        check_reply(r[1], 250, what="NOOP")
        check_reply(r[2], 221, what="QUIT")
    m = up.wait_messages(1)
    check(len(m) == 1, "want 1 message, got %r", m)
    check(m[0].rcpt_tos == [RCPT, "second@example.test"],
          "recipients %r", m[0].rcpt_tos)
    check_same_bytes(m[0].data, msg)


def test_pipelined_refused_mail_real_server():
    # RFC 2920: MAIL refused, RCPT and DATA pipelined behind it reach the
    # upstream too (it offers PIPELINING), and the client gets the
    # upstream's own answers to them, in order; nothing is delivered.
    up = Upstream("starttls", extra=["--mail-reply", "550 5.7.1 Not you"])
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        c.send(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
               % (SENDER.encode(), RCPT.encode()))
        r = c.replies(3)
        check_reply(r[0], 550, "5.7.1", what="MAIL")
        check(r[1].code == 503 and r[2].code == 503,
              "want the upstream's 503 to RCPT and DATA: %r", r)
        check_reply(c.cmd("NOOP"), 250, what="NOOP after the batch")
        check_reply(c.cmd("QUIT"), 221)
    # the 503 is the upstream's (aiosmtpd's own text), logged as such
    check(gw.wait_log(r"relay rcpt refused by=upstream .*"
                      r"to=<%s> reply=\"503 " % RCPT),
          "the RCPT behind the refused MAIL was not answered by the "
          "upstream:\n%s", gw.log()[-3000:])
    check(not up.messages(), "delivered: %r", up.messages())


def test_pipelined_whole_session_in_one_write():
    up = Upstream("starttls")
    gw = Gateway(up)
    msg = sample_message("one write")
    with gw.client() as c:
        check_reply(c.greeting(), 220)
        c.send(b"EHLO client.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n"
               b"DATA\r\n" % (SENDER.encode(), RCPT.encode()))
        r = c.replies(4, timeout=30)
        for want, got in zip((250, 250, 250, 354), r):
            check_reply(got, want)
        c.send(gwtest.dot_stuff(msg) + b".\r\n")
        check_reply(c.reply(), 250, what="end of DATA")
        check_reply(c.cmd("QUIT"), 221)
    m = up.wait_messages(1)
    check(len(m) == 1, "want 1 message, got %r", m)
    check_same_bytes(m[0].data, msg)


@gwtest.timeout(150)
def test_10mb_message_intact():
    up = Upstream("starttls")
    gw = Gateway(up)
    msg = big_message(10 * 1024 * 1024)
    with gw.client(timeout=120) as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg, size=len(msg))
        check_reply(replies[-1], 250, what="end of DATA")
        check_reply(c.cmd("QUIT"), 221)
    m = up.wait_messages(1, timeout=10)
    check(len(m) == 1, "want 1 message, got %r", m)
    check_same_bytes(m[0].data, msg, "10 MB message")


def test_received_header_yes():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"received_header": "yes"})
    msg = sample_message("received")
    m = relay_one(up, gw, msg)
    check(m.data.startswith(b"Received: "),
          "want a Received: header first, got %r", m.data[:80])
    check(m.data.endswith(msg), "message after the Received: header "
          "is not the client's: %r", m.data[:300])
    # The header is a proper header: folded lines only, CRLF-terminated.
    head = m.data[:len(m.data) - len(msg)]
    for ln in head.split(b"\r\n")[1:-1]:
        check(ln[:1] in (b" ", b"\t"), "bad Received: continuation %r", ln)


def refusal_lines(gw, what):
    """Fields of the log's "<what> refused" lines (what: rcpt, mail)."""
    return [gwtest.log_fields(ln) for ln in gw.log().splitlines()
            if " %s refused " % what in ln and " info: " in ln]


def test_refused_recipients_logged():
    # Issue 10, section 7: a recipient refused by the upstream or by the
    # gateway left no line at info.  Each gets one, with the addresses
    # and the reply exactly as the client got it.
    up = Upstream("starttls")
    gw = Gateway(up, listener={"max_recipients": "1"})
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250, what="MAIL")
        r_up = c.cmd("RCPT TO:<reject-me@example.test>")
        check_reply(r_up, 550, "5.1.1", what="RCPT rejected upstream")
        r_syn = c.cmd("RCPT TO:<no spaces@example.test>")
        check_reply(r_syn, 501, what="RCPT with a bad address")
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250, what="good RCPT")
        r_gw = c.cmd("RCPT TO:<one-too-many@example.test>")
        check_reply(r_gw, 452, "4.5.3", what="RCPT over max_recipients")
        check_reply(c.data(sample_message("one")), 250, what="DATA")
        check_reply(c.cmd("QUIT"), 221)
    want = [("upstream", "reject-me@example.test", r_up),
            ("gateway", "no spaces@example.test", r_syn),
            ("gateway", "one-too-many@example.test", r_gw)]
    gw.wait_log(r" rcpt refused .*one-too-many", 3)
    got = refusal_lines(gw, "rcpt")
    check(len(got) == len(want), "want %d rcpt refused lines, got %r",
          len(want), got)
    for f, (by, to, r) in zip(got, want):
        told = gwtest.reply_as_logged(r)
        check(f.get("by") == by and f.get("to") == to and
              f.get("from") == SENDER and f.get("reply") == told and
              f.get("client") == "127.0.0.1",
              "want by=%s to=%s from=%s reply=%r, got %r", by, to, SENDER,
              told, f)


def test_refused_sender_logged():
    up = Upstream("starttls", extra=["--mail-reply",
                                     "550 5.7.1 Sender refused here"])
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check_reply(r, 550, "5.7.1", what="MAIL rejected upstream")
        check_reply(c.cmd("QUIT"), 221)
    gw.wait_log(r" mail refused ", 3)
    got = refusal_lines(gw, "mail")
    told = gwtest.reply_as_logged(r)
    check(len(got) == 1 and got[0].get("by") == "upstream" and
          got[0].get("from") == SENDER and got[0].get("reply") == told,
          "want one mail refused line by=upstream reply=%r, got %r", told,
          got)


if __name__ == "__main__":
    gwtest.main(globals())
