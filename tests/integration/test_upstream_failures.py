#!/usr/bin/python3
"""Upstream failures other than TLS: unreachable, slow, connection lost at
each step.  The client always gets a 4xx (so it keeps the message), never
a 250 the upstream did not give, and the next transaction can succeed."""

import os
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    sample_message, transaction)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"


def first_failure(gw):
    """Run one transaction; return (replies, first reply >= 400)."""
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("fail"))
        bad = [r for r in replies if r.code >= 400]
        check(bad, "the transaction succeeded: %r", replies)
        check_reply(c.cmd("RSET"), 250, what="RSET after the failure")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    return replies, bad[0]


def test_upstream_unreachable():
    port = gwtest.free_port()	# nobody listens there
    gw = Gateway(upstream_conf={"port": str(port)})
    replies, r = first_failure(gw)
    check(r is replies[0], "want the failure at MAIL: %r", replies)
    check_reply(r, 451, "4.4.1", what="MAIL, upstream unreachable")
    check("(connect)" in r.text, "want (connect) in %r", r)


def test_upstream_timeout_at_mail():
    up = Upstream("starttls", extra=["--delay-at", "MAIL=4"])
    gw = Gateway(up, upstream_conf={"command_timeout": "1s"})
    replies, r = first_failure(gw)
    check(r is replies[0], "want the failure at MAIL: %r", replies)
    check_reply(r, 451, "4.4.2", what="MAIL, upstream silent")
    check("(timeout)" in r.text, "want (timeout) in %r", r)


def test_upstream_drops_at_mail():
    up = Upstream("starttls", extra=["--drop-at", "MAIL", "--drop-count",
                                     "1"])
    gw = Gateway(up)
    replies, r = first_failure(gw)
    check(r is replies[0], "want the failure at MAIL: %r", replies)
    check_reply(r, 451, "4.4.2", what="MAIL, upstream gone")
    check("(closed)" in r.text, "want (closed) in %r", r)
    # The next MAIL opens a new upstream connection.
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("again"))
        check_reply(replies[-1], 250, what="next transaction")
    check(len(up.wait_messages(1)) == 1, "retry not delivered")


def test_upstream_drops_at_rcpt():
    up = Upstream("starttls", extra=["--drop-at", "RCPT"])
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        r = c.cmd("RCPT TO:<%s>" % RCPT)
        check_reply(r, "4", what="RCPT, upstream gone")
        r = c.cmd("DATA")
        check(r.code >= 400, "DATA after the lost upstream: %r", r)
        check_reply(c.cmd("QUIT"), 221)
    check(not up.messages(), "delivered: %r", up.messages())


def test_upstream_drops_after_final_dot():
    # The upstream read the whole message and vanished without a reply:
    # it may or may not have taken it, so the client gets a 4xx (it will
    # retry; a duplicate is possible), never 250.
    up = Upstream("starttls", extra=["--drop-at", "DATA", "--drop-count",
                                     "1"])
    gw = Gateway(up)
    replies, r = first_failure(gw)
    check(r is replies[-1], "want the failure at the end of DATA: %r",
          replies)
    check_reply(r, 451, "4.4.2", what="end of DATA, upstream gone")
    # smtpgate logs the possible duplicate explicitly.
    check(gw.wait_log(r"(?i)twice|duplicate|more than once", 2),
          "no log line about a possible duplicate")
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("again"))
        check_reply(replies[-1], 250, what="next transaction")
    check(len(up.wait_messages(1)) == 1, "retry not delivered")


def test_upstream_slow_but_within_timeout():
    up = Upstream("starttls", extra=["--delay-at", "DATA=1.5"])
    gw = Gateway(up, upstream_conf={"command_timeout": "5s"})
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("slow"))
        check_reply(replies[-1], 250, what="end of DATA, slow upstream")
    check(len(up.wait_messages(1)) == 1, "not delivered")


# The gateway's command_timeout for the timeout at the final dot; valgrind
# needs longer for the TLS handshake and EHLO before it.
DOT_TIMEOUT = 8 if gwtest.VALGRIND else 1


def tx_line(gw, timeout=5):
    """The fields of the gateway's first transaction line (relay client=)."""
    m = gw.wait_log(r"^.* relay client=.*$", timeout)
    check(m, "no transaction line in smtpgate's log")
    return gwtest.log_fields(m.group(0))


def test_timeout_at_final_dot_logged_as_told():
    # Issue 10, section 7: after an upstream timeout at the final dot the
    # transaction line said tls="none" although TLS 1.3 was up, and a
    # reply text ("451 4.4.2 timeout") the client never got.
    up = Upstream("starttls", extra=["--delay-at", "DATA=%d" %
                                     (DOT_TIMEOUT + 3), "--tls-min", "1.3"])
    gw = Gateway(up, upstream_conf={"command_timeout": "%ds" % DOT_TIMEOUT})
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("dot"))
        r = replies[-1]
        check(len(replies) == 4, "want the failure at the final dot: %r",
              replies)
        check_reply(r, 451, "4.4.2", what="final dot, upstream silent")
    f = tx_line(gw)
    told = gwtest.reply_as_logged(r)
    check(f.get("reply") == told, "log says reply=%r, the client got %r",
          f.get("reply"), told)
    check(f.get("tls", "").startswith("TLSv1.3"),
          "log says tls=%r, TLS 1.3 was up", f.get("tls"))
    check(f.get("from") == SENDER and f.get("rcpts") == "1",
          "log has from=%r rcpts=%r", f.get("from"), f.get("rcpts"))


def test_delivered_logged_as_told():
    # The same promise for a delivered message: the 250 as the client saw
    # it, and the TLS that carried it.
    up = Upstream("starttls", extra=["--tls-min", "1.3"])
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("ok"))
        check_reply(replies[-1], 250, what="end of DATA")
    f = tx_line(gw)
    told = gwtest.reply_as_logged(replies[-1])
    check(f.get("reply") == told, "log says reply=%r, the client got %r",
          f.get("reply"), told)
    check(f.get("tls", "").startswith("TLSv1.3"), "log says tls=%r",
          f.get("tls"))


def test_slow_final_reply_warned():
    # Issue 10, section 6: the client waits as long as the upstream takes
    # for the final dot; past slow_reply_warning the gateway says that a
    # client may have given up (and may send the message again).
    up = Upstream("starttls", extra=["--delay-at", "DATA=2"])
    gw = Gateway(up, upstream_conf={"command_timeout": "30s",
                                    "slow_reply_warning": "1s"})
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("slow"))
        check_reply(replies[-1], 250, what="end of DATA, slow upstream")
    m = gw.wait_log(r"^.* relay slow-reply .*$", 5)
    check(m, "no slow-reply warning in smtpgate's log")
    check("warning" in m.group(0), "not a warning: %r", m.group(0))
    f = gwtest.log_fields(m.group(0))
    check(float(f.get("waited", "0s").rstrip("s")) >= 1.0 and
          f.get("limit") == "1s" and f.get("code") == "250",
          "slow-reply line has %r", f)
    check(len(up.wait_messages(1)) == 1, "not delivered")


def test_prompt_final_reply_not_warned():
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"slow_reply_warning": "5s"})
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("fast"))
        check_reply(replies[-1], 250, what="end of DATA")
    tx_line(gw)
    check("slow-reply" not in gw.log(), "a slow-reply warning for a "
          "prompt reply")


if __name__ == "__main__":
    gwtest.main(globals())
