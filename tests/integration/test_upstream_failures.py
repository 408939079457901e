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


if __name__ == "__main__":
    gwtest.main(globals())
