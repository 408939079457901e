#!/usr/bin/python3
"""Limits on what a client may send: message size, SIZE at MAIL, command
line length, bare LF in commands, number of recipients."""

import os
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    big_message, sample_message, transaction)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"


@gwtest.timeout(90)
def test_oversize_message_552():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"max_message_size": "1M"})
    msg = big_message(2 * 1024 * 1024)
    with gw.client(timeout=60) as c:
        r = c.start()
        check(r.keywords.get("SIZE") == ["1048576"],
              "want SIZE 1048576, got %r", r)
        replies = transaction(c, SENDER, [RCPT], msg)
        check(len(replies) == 4, "transaction stopped early: %r", replies)
        check_reply(replies[-1], 552, "5.3.4", what="end of 2 MB DATA")
        # The session is still in step: one reply per command.
        check_reply(c.cmd("NOOP"), 250, what="NOOP after 552")
        check(not c.pending(0.3), "stray bytes after 552: %r", c.buf)
        check_reply(c.cmd("QUIT"), 221)
    check(not up.messages(), "oversize message delivered: %r",
          up.messages())


def test_message_under_limit_delivered():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"max_message_size": "1M"})
    msg = big_message(900 * 1024)
    with gw.client(timeout=60) as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg, size=len(msg))
        check_reply(replies[-1], 250, what="end of DATA (900 KiB)")
    m = up.wait_messages(1)
    check(len(m) == 1, "want one message, got %r", m)
    gwtest.check_same_bytes(m[0].data, msg)


def test_size_param_over_max_552_at_mail():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"max_message_size": "1M"})
    with gw.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s> SIZE=%d" % (SENDER, 2 * 1024 * 1024))
        check_reply(r, 552, "5.3.4", what="MAIL SIZE=2M")
        # Not a transaction: RCPT now is out of sequence.
        r = c.cmd("RCPT TO:<%s>" % RCPT)
        check_reply(r, 503, what="RCPT after refused MAIL")
        # The same client may go on with an acceptable size.
        r = c.cmd("MAIL FROM:<%s> SIZE=1000" % SENDER)
        check_reply(r, 250, what="MAIL SIZE=1000")
        check_reply(c.cmd("QUIT"), 221)
    check(not up.messages(), "something was delivered")


def test_command_line_too_long():
    up = Upstream("starttls")
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        r = c.cmd(b"NOOP " + b"x" * 600)
        check_reply(r, 500, "5.5.2", what="600-octet command")
        check_reply(c.cmd("NOOP"), 250, what="NOOP after the long line")
        # A long MAIL must not half-reach the upstream either.
        r = c.cmd(b"MAIL FROM:<" + b"a" * 1000 + b"@example.test>")
        check_reply(r, 500, "5.5.2", what="1000-octet MAIL")
        check_reply(c.cmd("QUIT"), 221)
    check(not up.events("MAIL"), "MAIL reached the upstream: %r",
          up.events("MAIL"))


def test_very_long_line_is_bounded():
    # 100 KB without a line end: the gateway refuses it and stays up.
    up = Upstream("starttls")
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        try:
            c.send(b"NOOP " + b"y" * 100000 + b"\r\n")
        except OSError:
            pass		# it may close on us; that is fine
        if not c.closed(0.5) or c.buf:
            r = c.reply()
            check_reply(r, "5", what="100 KB command line")
    with gw.client() as c:
        check_reply(c.greeting(), 220, what="a new session afterwards")


def test_bare_lf_in_command():
    up = Upstream("starttls")
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        c.send(b"MAIL FROM:<%s>\nRCPT TO:<%s>\r\n"
               % (SENDER.encode(), RCPT.encode()))
        r = c.reply()
        check_reply(r, "50", what="command with a bare LF")
        # Whatever it did next, it must not have taken the bare-LF line
        # as two commands.
        extra = c.pending(0.5)
        check(not extra.startswith(b"250"), "a second reply %r", extra)
    check(not up.events("MAIL"), "MAIL reached the upstream: %r",
          up.events("MAIL"))


def test_bare_lf_alone_is_not_a_command_end():
    up = Upstream("starttls")
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        c.send(b"NOOP\n")
        extra = c.pending(0.5)
        check(not extra.startswith(b"250"),
              "NOOP ended by a bare LF was accepted: %r", extra)


def test_max_recipients():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"max_recipients": "2"})
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        check_reply(c.cmd("RCPT TO:<r1@example.test>"), 250)
        check_reply(c.cmd("RCPT TO:<r2@example.test>"), 250)
        r = c.cmd("RCPT TO:<r3@example.test>")
        check_reply(r, 452, "4.5.3", what="third RCPT, max_recipients = 2")
        check_reply(c.data(sample_message("max rcpt")), 250)
    m = up.wait_messages(1)
    check(len(m) == 1 and m[0].rcpt_tos == ["r1@example.test",
                                            "r2@example.test"],
          "want one message to r1, r2; got %r", m)


def test_long_data_line_refused():
    # long_lines = refuse: RFC 5321 4.5.3.1.6, 1000 octets with CRLF;
    # longer lines are refused (folding them would change the message).
    up = Upstream("starttls")
    gw = Gateway(up, listener={"long_lines": "refuse"})
    msg = b"Subject: long\r\n\r\n" + b"x" * 1200 + b"\r\nend\r\n"
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg)
        check_reply(replies[-1], 550, "5.6.0", what="1200-octet line")
        check_reply(c.cmd("NOOP"), 250, what="NOOP afterwards")
    check(not up.messages(), "delivered: %r", up.messages())


def test_long_data_line_passed():
    # long_lines = pass (the default): a 5,000-octet line (HTML written on
    # one line) is relayed byte for byte, as Postfix does.
    up = Upstream("starttls", extra=("--line-limit", "100000"))
    gw = Gateway(up)
    html = b"<html><body>" + b"<p>x</p>" * 630 + b"</body></html>"
    check(len(html) > 5000, "test line too short")
    msg = (b"Subject: long\r\nContent-Type: text/html\r\n\r\n" + html +
           b"\r\n.dot line\r\nend\r\n")
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg)
        check_reply(replies[-1], 250, what="5,000-octet line")
    m = up.wait_messages(1)
    check(len(m) == 1, "want one message, got %r", m)
    gwtest.check_same_bytes(m[0].data, msg)
    check(gw.wait_log(r"lines over 998 octets, long_lines=pass"),
          "no log line for the long line")


@gwtest.timeout(90)
def test_long_data_line_over_hard_bound_refused():
    # pass has a hard bound (1 MiB before CRLF), so no line is unbounded.
    up = Upstream("starttls")
    gw = Gateway(up)
    msg = b"Subject: huge line\r\n\r\n" + b"y" * (1024 * 1024 + 1) + b"\r\n"
    with gw.client(timeout=60) as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg)
        check_reply(replies[-1], 550, "5.6.0", what="line over 1 MiB")
        check_reply(c.cmd("NOOP"), 250, what="NOOP afterwards")
    check(not up.messages(), "delivered: %r", up.messages())


def test_commands_out_of_sequence():
    # RFC 5321 3.3: DATA without MAIL or without an accepted RCPT gets
    # 503 (out of sequence) or 554 (no valid recipients).
    up = Upstream("starttls")
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        r = c.cmd("DATA")
        check(r.code in (503, 554), "DATA before MAIL: got %r", r)
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 503,
                    what="RCPT before MAIL")
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        r = c.cmd("DATA")
        check(r.code in (503, 554), "DATA before RCPT: got %r", r)
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 503,
                    what="nested MAIL")
        check_reply(c.cmd("RCPT TO:<reject-1@example.test>"), 550)
        r = c.cmd("DATA")
        check(r.code in (503, 554), "DATA with no accepted RCPT: got %r", r)
        check_reply(c.cmd("QUIT"), 221)
    check(not up.messages(), "delivered: %r", up.messages())


def test_mail_before_ehlo_503():
    up = Upstream("starttls")
    gw = Gateway(up)
    with gw.client() as c:
        check_reply(c.greeting(), 220)
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 503,
                    what="MAIL before EHLO")
        r = c.cmd("VRFY postmaster")
        check(r.code != 250, "VRFY verified something: %r", r)
        check_reply(c.cmd("QUIT"), 221)
    check(not up.events(), "upstream contacted: %r", up.events())


def test_idle_client_timeout():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"command_timeout": "1s"})
    with gw.client() as c:
        c.start()
        r = c.reply(timeout=10)
        check_reply(r, 421, "4.4.2", what="idle client after 1 s")
        check(c.closed(5), "connection not closed after 421")


def test_data_timeout_nothing_delivered():
    up = Upstream("starttls")
    # min_data_rate off: its deadline (data_timeout plus the octets
    # sent at the rate) would race the idle timeout this test is about
    gw = Gateway(up, listener={"data_timeout": "1s", "min_data_rate": "0"})
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250)
        check_reply(c.cmd("DATA"), 354)
        c.send(b"Subject: stalled\r\n\r\nhalf a message\r\n")
        r = c.reply(timeout=10)
        check_reply(r, 421, "4.4.2", what="stalled DATA after 1 s")
        check(c.closed(5), "connection not closed after 421")
    check(not up.messages(), "a partial message was delivered: %r",
          up.messages())


def test_too_many_errors_421():
    up = Upstream("starttls")
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        got = None
        for i in range(15):
            r = c.cmd("BOGUS%d" % i)
            if r.code == 421:
                got = (i, r)
                break
            check_reply(r, "5", what="unknown command %d" % i)
        check(got is not None, "15 bad commands and no 421")
        check_reply(got[1], 421, "4.7.0", what="after %d errors" % got[0])
        check(got[0] >= 9, "421 already after %d errors", got[0])
        check(c.closed(5), "connection not closed after 421")


def message_refused(gw, reason):
    """Fields of the log's "message refused" line with this reason."""
    m = gw.wait_log(r"^.* info: .* message refused .*reason=%s .*$" % reason,
                    3)
    check(m, "no info line 'message refused ... reason=%s'" % reason)
    return gwtest.log_fields(m.group(0))


def check_refused(f, reply, rcpts="1"):
    told = gwtest.reply_as_logged(reply)
    check(f.get("from") == SENDER and f.get("rcpts") == rcpts and
          f.get("by") == "gateway" and f.get("reply") == told and
          f.get("client") == "127.0.0.1",
          "want from=%s rcpts=%s reply=%r, got %r", SENDER, rcpts, told, f)


# Issue 10, section 7: a message the gateway itself refused (size, bare
# line end, spool failure) left no line at info.  Each now has one with
# the addresses and the reply as the client got it.

def test_refused_messages_logged():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"max_message_size": "64K"})
    with gw.client(timeout=60) as c:
        c.start()
        big = transaction(c, SENDER, [RCPT], big_message(128 * 1024))
        check_reply(big[-1], 552, "5.3.4", what="end of 128 KiB DATA")
        check_refused(message_refused(gw, "too-big"), big[-1])
        bare = transaction(c, SENDER, [RCPT],
                           b"Subject: bare\r\n\r\nbare\nLF\r\n")
        check_reply(bare[-1], 550, "5.6.0", what="bare LF in the body")
        check_refused(message_refused(gw, "bare-newline"), bare[-1])
        r = c.cmd("MAIL FROM:<%s> SIZE=%d" % (SENDER, 1024 * 1024))
        check_reply(r, 552, "5.3.4", what="MAIL SIZE=1M")
        f = message_refused(gw, "size-param")
        check_refused(f, r, rcpts="0")
        check(f.get("size") == str(1024 * 1024), "want the SIZE, got %r", f)
        check_reply(c.cmd("QUIT"), 221)
    check(not up.messages(), "a refused message was delivered")


def test_spool_failure_logged():
    # Messages over 256 KiB go to a file in TMPDIR; one that does not exist
    # makes the spool fail (452 4.3.1).  valgrind needs TMPDIR itself.
    # Only a spooled message (stream_data = no) has a spool.
    gwtest.skip_under_valgrind("valgrind cannot start without TMPDIR")
    up = Upstream("starttls")
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = os.path.join(gwtest.tmpdir(), "no-such-dir")
    try:
        gw = Gateway(up, listener={"stream_data": "no"})
    finally:
        if old is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = old
    with gw.client(timeout=60) as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], big_message(400 * 1024))
        check_reply(replies[-1], 452, "4.3.1", what="end of DATA, no spool")
        check_reply(c.cmd("QUIT"), 221)
    check_refused(message_refused(gw, "spool-failure"), replies[-1])
    check(not up.messages(), "delivered without a spool")


def test_bare_lf_commands_under_normalize():
    # bare_newline = normalize: legacy scripts end commands with LF alone.
    up = Upstream("starttls")
    gw = Gateway(up, listener={"bare_newline": "normalize"})
    with gw.client() as c:
        check_reply(c.greeting(), 220)
        c.send(b"EHLO client.test\n")
        check_reply(c.reply(), 250, what="EHLO ended by LF")
        c.send(b"MAIL FROM:<%s>\nRCPT TO:<%s>\n"
               % (SENDER.encode(), RCPT.encode()))
        check_reply(c.reply(), 250, what="MAIL ended by LF")
        check_reply(c.reply(), 250, what="RCPT ended by LF")
        c.send(b"DATA\n")
        check_reply(c.reply(), 354, what="DATA ended by LF")
        # LF lines in the body are normalised; only CRLF.CRLF ends it.
        c.send(b"Subject: lf\n\nline one\n.\nline two\r\n.\r\n")
        check_reply(c.reply(), 250, what="end of DATA")
        c.send(b"QUIT\n")
        check_reply(c.reply(), 221, what="QUIT ended by LF")
    m = up.wait_messages(1)
    check(len(m) == 1, "want one message, got %r", m)
    gwtest.check_same_bytes(
        m[0].data, b"Subject: lf\r\n\r\nline one\r\n.\r\nline two\r\n")


def test_bare_cr_command_still_refused_under_normalize():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"bare_newline": "normalize"})
    with gw.client() as c:
        c.start()
        c.send(b"MAIL FROM:<%s>\rRCPT TO:<%s>\r\n"
               % (SENDER.encode(), RCPT.encode()))
        check_reply(c.reply(), 500, "5.5.2", what="command with a bare CR")
        check(c.closed(5), "connection not closed after a bare CR")
    check(not up.events("MAIL"), "MAIL reached the upstream: %r",
          up.events("MAIL"))


def test_junk_commands_421():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"max_junk_commands": "5"})
    with gw.client() as c:
        c.start()			# EHLO counts
        got = None
        for i in range(10):
            r = c.cmd(["NOOP", "RSET", "VRFY x", "HELP"][i % 4])
            if r.code == 421:
                got = i
                break
        check(got == 4, "want 421 at the 5th command after EHLO, got %r",
              got)
        check_reply(r, 421, "4.7.0", what="junk command limit")
        check(c.closed(5), "connection not closed after 421")
    check(gw.wait_log(r"session limit=junk-commands"),
          "no log line for the junk command limit")


def test_session_time_421():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"max_session_time": "2s"})
    with gw.client() as c:
        c.start()
        t0 = time.monotonic()
        r = None
        while time.monotonic() - t0 < 10 * gwtest.TIME_SCALE:
            c.send(b"MAIL FROM:<%s>\r\n" % SENDER.encode())
            r = c.reply(timeout=5)
            if r.code == 421:
                break
            check_reply(r, "2", what="MAIL")
            # the limit may fall on either command (seen under valgrind)
            r = c.cmd("RSET")
            if r.code == 421:
                break
            check_reply(r, 250, what="RSET")
            time.sleep(0.2)
        check_reply(r, 421, "4.7.0", what="after max_session_time")
        check(c.closed(5), "connection not closed after 421")
    check(gw.wait_log(r"session limit=session-time"),
          "no log line for the session time limit")


def test_data_drip_421():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"data_timeout": "2s",
                               "min_data_rate": "1000"})
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250)
        check_reply(c.cmd("DATA"), 354)
        t0 = time.monotonic()
        # A byte every 0.2 s: never silent for data_timeout, far too slow.
        while time.monotonic() - t0 < 10 * gwtest.TIME_SCALE:
            try:
                c.send(b"x")
            except OSError:
                break
            if c.pending(0.2):
                break
        r = c.reply(timeout=5)
        check_reply(r, 421, "4.7.0", what="dripping DATA")
        took = time.monotonic() - t0
        check(took >= 1.5, "cut after %.1f s, before data_timeout", took)
        check(c.closed(5), "connection not closed after 421")
    check(gw.wait_log(r"session limit=min-data-rate"),
          "no log line for the data rate limit")
    check(not up.messages(), "a partial message was delivered: %r",
          up.messages())


if __name__ == "__main__":
    gwtest.main(globals())
