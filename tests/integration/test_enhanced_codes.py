#!/usr/bin/python3
"""ENHANCEDSTATUSCODES kept: smtpgate advertises it, so an upstream reply
without an enhanced status code (aiosmtpd's and Exim's "250 OK", "550 no
such user here") reaches the client with the RFC 3463 code that fits the
command and the reply (docs/replies.md), on every line of a multi-line
reply; a code the upstream gave is passed on as it was."""

import os
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    sample_message)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"


def check_every_line(r, enh, what):
    for ln in r.lines:
        check(ln == enh or ln.startswith(enh + " "),
              "%s: line %r lacks %s: %r", what, ln, enh, r)


def test_bare_upstream_replies_get_codes():
    up = Upstream("starttls", extra=[
        "--bare-replies",
        "--reject", "nouser=550 no such user here",
        "--reject", "later=451 try later",
        "--reject", "multi=550-no such user here\r\n550 and not there",
    ])
    gw = Gateway(up)
    with gw.client() as c:
        r = c.start()
        check("ENHANCEDSTATUSCODES" in r.keywords,
              "EHLO lacks ENHANCEDSTATUSCODES: %r", r)
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check_reply(r, 250, "2.1.0", what="MAIL")
        check(r.lines == ["2.1.0 OK"], "MAIL text changed: %r", r)
        r = c.cmd("RCPT TO:<nouser@example.test>")
        check_reply(r, 550, "5.0.0", what="RCPT refused")
        check(r.lines == ["5.0.0 no such user here"],
              "RCPT refusal text changed: %r", r)
        r = c.cmd("RCPT TO:<later@example.test>")
        check_reply(r, 451, "4.0.0", what="RCPT tempfailed")
        r = c.cmd("RCPT TO:<multi@example.test>")
        check_reply(r, 550, "5.0.0", what="RCPT refused, two lines")
        check(len(r.lines) == 2, "want two lines, got %r", r)
        check_every_line(r, "5.0.0", "multi-line RCPT refusal")
        r = c.cmd("RCPT TO:<%s>" % RCPT)
        check_reply(r, 250, "2.1.5", what="RCPT")
        r = c.data(sample_message("bare"))
        check_reply(r, 250, "2.0.0", what="end of DATA")
        check(r.lines == ["2.0.0 OK"], "end of DATA text changed: %r", r)
        check_reply(c.cmd("QUIT"), 221)
    m = up.wait_messages(1)
    check(len(m) == 1 and m[0].rcpt_tos == [RCPT], "want 1 message, got %r",
          m)
    # the transaction line says what the client was told
    check(gw.wait_log(r'relay client=.* reply="250 2\.0\.0 OK"'),
          "transaction line without the code:\n%s" % gw.log())


def test_upstream_codes_kept():
    up = Upstream("starttls", extra=["--mail-reply",
                                     "550 5.7.1 Sender refused here"])
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check_reply(r, 550, "5.7.1", what="MAIL refused with a code")
        check(r.lines == ["5.7.1 Sender refused here"], "text: %r", r)
        check_reply(c.cmd("QUIT"), 221)


def test_bare_data_refusal_gets_code():
    up = Upstream("starttls", extra=["--bare-replies", "--data-reply",
                                     "554 Transaction failed"])
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250, "2.1.0")
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250, "2.1.5")
        r = c.data(sample_message("refused"))
        check_reply(r, 554, "5.0.0", what="end of DATA refused")
        check(r.lines == ["5.0.0 Transaction failed"], "text: %r", r)
        check_reply(c.cmd("QUIT"), 221)


if __name__ == "__main__":
    gwtest.main(globals())
