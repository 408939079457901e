#!/usr/bin/python3
"""SMTP smuggling: end-of-data look-alikes built from bare LF or bare CR
inside a message must never end the message, here or upstream.  A message
carrying them is refused (bare_newline = reject, the default) or passed on
as one normalised message (bare_newline = normalize); never two.  NUL
octets follow the same policy: refused, or removed."""

import os
import socket
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply)  # noqa: E402

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"

# End-of-data look-alikes, and the line ends used for the smuggled commands.
SEPARATORS = [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\n.\r",
              b"\r\n.\r"]
NEWLINES = [b"\r\n", b"\n"]
# Look-alikes with a NUL, which a peer reading C strings may drop or stop
# at (published probes).  Refused or removed under bare_newline, never
# relayed as they are.
NUL_SEPARATORS = [b"\r\n\x00.\r\n", b"\r\n.\x00\r\n", b"\r\n.\r\x00\n",
                  b"\r\n\x00.\n"]


def smuggling_message(sep, nl):
    """A message whose body hides a second transaction behind sep.  The
    only real end of data (CRLF.CRLF) is the one the client sends after
    it; the message itself contains no CRLF.CRLF."""
    msg = (b"From: <sender@example.test>\r\n"
           b"To: <rcpt@example.test>\r\n"
           b"Subject: smuggling test\r\n"
           b"\r\n"
           b"hello" + sep +
           b"MAIL FROM:<evil@x.test>" + nl +
           b"RCPT TO:<victim@y.test>" + nl +
           b"DATA" + nl +
           b"Subject: smuggled" + nl + nl +
           b"evil body" + sep +
           b"tail\r\n")
    assert b"\r\n.\r\n" not in msg
    return msg


def send_slowly(c, data):
    """Send in small pieces, so the look-alikes straddle reads."""
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(data), 3):
        c.send(data[i:i + 3])
        time.sleep(0.001)


def one_attempt(gw, sep, nl, slow):
    """Returns the final reply to the message."""
    msg = smuggling_message(sep, nl)
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250, what="MAIL")
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250, what="RCPT")
        check_reply(c.cmd("DATA"), 354, what="DATA")
        # No dot-stuffing: an attacker does not stuff, and the message has
        # no line starting with a dot after CRLF anyway.
        if slow:
            send_slowly(c, msg + b".\r\n")
        else:
            c.send(msg + b".\r\n")
        final = c.reply(timeout=30)
        # Exactly one reply for the message, and the session in step.
        check_reply(c.cmd("NOOP"), 250, what="NOOP after the message")
        check(not c.pending(0.2), "stray replies: %r", c.buf)
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    return final


def variants(seps=SEPARATORS):
    for sep in seps:
        for nl in NEWLINES:
            for slow in (False, True):
                yield sep, nl, slow


def label(sep, nl, slow):
    return "sep=%r nl=%r%s" % (sep, nl, " (slow)" if slow else "")


def no_smuggled_transaction(up, what):
    evil = [e for e in up.events()
            if "evil" in str(e.get("arg")) or "victim" in str(e.get("arg"))]
    check(not evil, "%s: smuggled command reached the upstream: %r",
          what, evil)
    for m in up.messages():
        check(m.rcpt_tos == [RCPT] and m.mail_from == SENDER,
              "%s: message with a smuggled envelope: %r", what, m)


@gwtest.timeout(120)
def test_bare_newline_reject_default():
    # streamed (stream_data = yes, the default): the part of the body
    # before the look-alike may have gone upstream; the connection is then
    # closed with no end of data, and the storing upstream has nothing
    up = Upstream("starttls")
    gw = Gateway(up)		# bare_newline not set: reject is the default
    reject_variants(up, gw)


@gwtest.timeout(120)
def test_bare_newline_reject_spooled():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"stream_data": "no"})
    reject_variants(up, gw)


def reject_variants(up, gw):
    for sep, nl, slow in variants():
        what = label(sep, nl, slow)
        r = one_attempt(gw, sep, nl, slow)
        check_reply(r, 550, "5.6.0", what=what)
        check(not up.messages(), "%s: refused message delivered: %r",
              what, up.messages())
        no_smuggled_transaction(up, what)


@gwtest.timeout(120)
def test_bare_newline_normalize_one_message():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"bare_newline": "normalize"})
    n = 0
    for sep, nl, slow in variants():
        what = label(sep, nl, slow)
        r = one_attempt(gw, sep, nl, slow)
        check_reply(r, 250, what=what)
        n += 1
        msgs = up.wait_messages(n)
        check(len(msgs) == n, "%s: want %d messages so far, got %d",
              what, n, len(msgs))
        data = msgs[-1].data
        check(b"evil@x.test" in data and data.endswith(b"tail\r\n"),
              "%s: the body was cut: %r", what, data)
        # Normalised: no bare CR or LF left.
        check(b"\r" not in data.replace(b"\r\n", b"") and
              b"\n" not in data.replace(b"\r\n", b""),
              "%s: bare CR/LF delivered: %r", what, data)
        no_smuggled_transaction(up, what)


@gwtest.timeout(120)
def test_nul_reject_default():
    up = Upstream("starttls")
    gw = Gateway(up)
    for sep, nl, slow in variants(NUL_SEPARATORS):
        what = label(sep, nl, slow)
        r = one_attempt(gw, sep, nl, slow)
        check_reply(r, 550, "5.6.0", what=what)
        check(not up.messages(), "%s: refused message delivered: %r",
              what, up.messages())
        no_smuggled_transaction(up, what)


@gwtest.timeout(120)
def test_nul_normalize_removed():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"bare_newline": "normalize"})
    n = 0
    for sep, nl, slow in variants(NUL_SEPARATORS):
        what = label(sep, nl, slow)
        r = one_attempt(gw, sep, nl, slow)
        check_reply(r, 250, what=what)
        n += 1
        msgs = up.wait_messages(n)
        check(len(msgs) == n, "%s: want %d messages so far, got %d",
              what, n, len(msgs))
        data = msgs[-1].data
        check(b"\x00" not in data, "%s: NUL delivered: %r", what, data)
        check(b"evil@x.test" in data and data.endswith(b"tail\r\n"),
              "%s: the body was cut: %r", what, data)
        no_smuggled_transaction(up, what)


def test_crlf_dot_inside_line_is_content():
    # A dot after a bare LF in the middle of a line, then a proper end:
    # the gateway must stuff every line that starts with "." upstream.
    up = Upstream("starttls")
    gw = Gateway(up, listener={"bare_newline": "normalize"})
    msg = b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nend\r\n"
    with gw.client() as c:
        c.start()
        replies = gwtest.transaction(c, SENDER, [RCPT], msg)
        check_reply(replies[-1], 250, what="end of DATA")
    m = up.wait_messages(1)
    check(len(m) == 1, "want 1 message, got %r", m)
    gwtest.check_same_bytes(m[0].data, msg)


if __name__ == "__main__":
    gwtest.main(globals())
