#!/usr/bin/python3
"""Upstream faults a real server cannot be made to show (faultup.py), and
limits under load: a slow-drip client, max_sessions, 2000 idle sessions.

For every upstream fault the client gets a 4xx with the failure class of
docs/replies.md in the text, never a 250 for a message the upstream did
not take, nothing is delivered, nothing goes out in cleartext after a
failed STARTTLS, and the gateway goes on serving: the next transaction,
through the same upstream behaving again, is delivered byte for byte."""

import os
import resource
import select
import socket
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (FaultUpstream, Gateway, Upstream,  # noqa: E402
                    big_message, check, check_reply, check_same_bytes,
                    sample_message, transaction)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"

# The gateway's upstream command_timeout in the timeout tests.  Short, so
# the tests are quick; under valgrind a TLS handshake in wolfSSL alone can
# take two seconds, so the recovery transaction needs more.
UP_TIMEOUT = 8 if gwtest.VALGRIND else 2


# ------------------------------------------------------------- helpers

def relay_ok(gw, message, what="next transaction"):
    """One whole session that must succeed: 250 to the final dot."""
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], message)
        check_reply(replies[-1], 250, what=what)
        check_reply(c.cmd("QUIT"), 221, what="QUIT")


def fault_case(fault, enh, cls, message=None, mode="starttls",
               upstream_conf=None, at="MAIL", extra=(), listener=None):
    """Relay one message through a gateway whose upstream shows fault on
    its first connection.  The failure must be a 451 with enhanced code
    enh and "(cls)" in the text, at MAIL (the upstream connection is made
    for MAIL), at RCPT or at the final dot; nothing may be delivered.
    Then the same session must still answer, and a new session must
    deliver through the same upstream, now behaving.  Returns
    (FaultUpstream, Gateway)."""
    up = FaultUpstream(fault, mode=mode, count=1, extra=extra)
    gw = Gateway(up, upstream_conf=upstream_conf, listener=listener)
    message = message or sample_message(fault)
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], message)
        for r in replies:
            check(r.code < 500, "5xx for an upstream fault: %r", replies)
        bad = [r for r in replies if r.code >= 400]
        check(bad, "the transaction succeeded despite %s: %r", fault,
              replies)
        r = bad[0]
        if at == "MAIL":
            check(r is replies[0], "want the failure at MAIL: %r", replies)
        elif at == "RCPT":
            check(r is replies[1] and len(replies) == 2,
                  "want the failure at RCPT: %r", replies)
        elif at == "DATA":
            # streamed (stream_data = yes): DATA gets the upstream's
            # answer, and no body is sent
            check(r is replies[2] and len(replies) == 3,
                  "want the failure at DATA: %r", replies)
        else:
            check(r is replies[-1] and len(replies) == 4,
                  "want the failure at the final dot: %r", replies)
        check_reply(r, 451, enh, what="%s at %s" % (fault, at))
        check("(%s)" % cls in r.text, "want (%s) in %r", cls, r)
        # The session goes on after the failure.
        check_reply(c.cmd("RSET"), 250, what="RSET after the failure")
        check_reply(c.cmd("NOOP"), 250, what="NOOP after the failure")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    check(gw.alive(), "smtpgate exited after %s", fault)
    check(not up.messages(), "delivered despite %s: %d message(s)", fault,
          len(up.messages()))
    check(not up.events("delivered"), "faultup delivered: %r",
          up.events("delivered"))
    check(up.events("connect", conn=1), "the gateway never connected")
    # Recovery: a new session, a new upstream connection, delivered.
    good = sample_message("after " + fault)
    relay_ok(gw, good, "transaction after %s" % fault)
    msgs = up.messages()
    check(len(msgs) == 1, "want 1 message after recovery, got %d",
          len(msgs))
    check_same_bytes(msgs[0], good, "message delivered after " + fault)
    return up, gw


def no_cleartext_after_starttls(up, conn=1):
    """On conn, nothing but EHLO and STARTTLS went out in cleartext."""
    verbs = [e["line"].split(" ")[0].upper()
             for e in up.events("cmd", conn=conn)]
    check(verbs and verbs[-1] == "STARTTLS",
          "want the cleartext part to end at STARTTLS, saw %r", verbs)
    check(set(verbs) <= {"EHLO", "STARTTLS"},
          "cleartext commands after a failed STARTTLS: %r", verbs)


def saw_clienthello(up, conn=1):
    """The gateway began a TLS handshake on conn (a handshake record)."""
    hello = up.events("clienthello", conn=conn)
    check(hello, "no ClientHello arrived: %r", up.events(conn=conn))
    check(hello[0]["handshake"], "first bytes after 220 are not a TLS "
          "handshake record: %r", hello[0])


# ------------------------------------------------------------- faults

def test_close_mid_data():
    # The upstream takes MAIL, RCPT, DATA (354) and closes after 4096
    # bytes of a 300 kB message: 451 (closed) to the final dot.
    msg = big_message(300 * 1024)
    up, gw = fault_case("close-mid-data", "4.4.2", "closed", message=msg,
                        at="dot")
    body = up.events("body", conn=1)
    check(body, "faultup saw no message body: %r", up.events(conn=1))


def test_reset_mid_data():
    # Same, with an RST instead of a FIN.
    up = FaultUpstream("close-mid-data", count=1, extra=["--rst"])
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], big_message(300 * 1024))
        r = replies[-1]
        check(len(replies) == 4, "want the failure at the dot: %r", replies)
        check_reply(r, 451, "4.4.2", what="reset mid-data")
        check("(closed)" in r.text, "want (closed) in %r", r)
        check_reply(c.cmd("NOOP"), 250, what="NOOP after the failure")
    check(not up.messages(), "delivered despite a reset mid-data")
    relay_ok(gw, sample_message("after reset"))
    check(len(up.messages()) == 1, "not delivered after the reset")


def test_stall_after_greeting():
    # 220, then silence: the upstream command_timeout ends it.
    t0 = time.monotonic()
    up, gw = fault_case("stall-after-greeting", "4.4.2", "timeout",
                        upstream_conf={"command_timeout": "%ds" % UP_TIMEOUT})
    seen = "".join(e["data"] for e in up.events("stalled-input", conn=1))
    check(seen.startswith("EHLO "), "want EHLO sent to the stalled "
          "upstream, saw %r", seen)
    check(time.monotonic() - t0 < 40 * gwtest.TIME_SCALE,
          "the stall took too long")


def test_421_at_connect():
    up, gw = fault_case("421-at-connect", "4.4.0", "rejected")
    check(not up.events("cmd", conn=1), "commands sent after a 421 "
          "greeting: %r", up.events("cmd", conn=1))


def test_tls_reset_after_clienthello():
    up, gw = fault_case("tls-reset", "4.7.5", "tls-protocol")
    saw_clienthello(up)
    no_cleartext_after_starttls(up)


def test_garbage_instead_of_serverhello():
    up, gw = fault_case("garbage-after-starttls", "4.7.5", "tls-protocol")
    saw_clienthello(up)
    no_cleartext_after_starttls(up)


def test_starttls_220_with_extra_reply():
    # "220 go\r\n250 extra\r\n" in one segment: the bytes after the 220
    # would be read as TLS by a careless client (and are the basis of
    # STARTTLS command injection); the gateway must refuse them.
    up, gw = fault_case("starttls-extra-reply", "4.5.0", "protocol")
    no_cleartext_after_starttls(up)


def test_implicit_tls_reset():
    up, gw = fault_case("implicit-tls-reset", "4.7.5", "tls-protocol",
                        mode="implicit", upstream_conf={"tls": "implicit"})
    saw_clienthello(up)


@gwtest.timeout(60)
def test_upstream_drips_reply():
    # The upstream answers EHLO one byte a second: upstream
    # command_timeout bounds the wait for the whole reply, so the client
    # hears 451 (timeout) after that, not after the drip (about 60 s).
    up = FaultUpstream("drip-reply", count=1)
    gw = Gateway(up, upstream_conf={"command_timeout": "%ds" % UP_TIMEOUT})
    with gw.client() as c:
        c.start()
        t0 = time.monotonic()
        c.send(b"MAIL FROM:<%s>\r\n" % SENDER.encode())
        limit = UP_TIMEOUT + 6
        try:
            r = c.reply(timeout=limit / gwtest.TIME_SCALE)
        except gwtest.TestFailure:
            raise gwtest.TestFailure(
                "no reply to MAIL within %d s while the upstream drips its "
                "EHLO reply at 1 byte/s (upstream command_timeout %ds): "
                "the timeout restarts on every byte" % (limit, UP_TIMEOUT))
        secs = time.monotonic() - t0
        check_reply(r, 451, "4.4.2", what="MAIL, upstream drips its reply")
        check("(timeout)" in r.text, "want (timeout) in %r", r)
        check(secs < UP_TIMEOUT + 3, "451 only after %.1f s (upstream "
              "command_timeout %ds)", secs, UP_TIMEOUT)
    check(not up.messages(), "delivered")
    relay_ok(gw, sample_message("after drip"))


# A reply of the wrong kind (issue 10, section 0).  Only 354 may answer
# DATA: an upstream (or anyone on the path under tls = none or
# starttls-optional) that answers DATA with 250 took no message, and the
# gateway once passed that 250 on as the reply to the client's final dot
# and logged the message as delivered.  A 3xx to MAIL, RCPT or the final
# dot is no answer either.  Each is a protocol failure: 451 4.5.0
# (protocol), a log line that says what came instead, no transaction
# logged with the upstream's 2xx/3xx, and the connection dropped.

def wrong_reply_case(at, reply, client_at, listener=None):
    up, gw = fault_case("wrong-reply", "4.5.0", "protocol", at=client_at,
                        extra=["--at", at, "--reply", reply],
                        listener=listener)
    sent = up.events("sent", conn=1)
    check(sent and sent[0]["reply"] == reply, "faultup did not send the "
          "wrong reply: %r", up.events(conn=1))
    verb = "the final dot" if at == "DOT" else at
    code = reply.split(" ")[0]
    want = r"class=protocol state=%s: %s answered with %s" % (
        "DOT" if at == "DOT" else at, "final dot" if at == "DOT" else at,
        code)
    check(gw.wait_log(want), "no log line /%s/ for %s answered with %r:\n%s",
          want, verb, reply, gw.log()[-3000:])
    # the transaction line carries what the client was told, never the
    # upstream's wrong 2xx/3xx
    bad = [ln for ln in gw.log().splitlines()
           if " relay client=" in ln and ('reply="%s"' % reply) in ln]
    check(not bad, "transaction logged with the upstream's %r: %r", reply,
          bad)
    return up, gw


def test_data_answered_250_not_354():
    wrong_reply_case("DATA", "250 2.0.0 OK", "DATA")


def test_data_answered_3xx_not_354():
    wrong_reply_case("DATA", "334 2.0.0 go on", "DATA")


def test_data_answered_250_not_354_spooled():
    # stream_data = no: DATA goes upstream after the client's dot
    wrong_reply_case("DATA", "250 2.0.0 OK", "dot",
                     listener={"stream_data": "no"})


def test_mail_answered_3xx():
    wrong_reply_case("MAIL", "354 2.1.0 Sender OK", "MAIL")


def test_rcpt_answered_3xx():
    wrong_reply_case("RCPT", "354 2.1.5 Recipient OK", "RCPT")


def test_final_dot_answered_3xx():
    wrong_reply_case("DOT", "354 send more", "dot")


# ------------------------------------------------------------- limits

def _drip(c, data, per_byte, limit):
    """Send data one byte every per_byte seconds until the gateway says
    something or limit seconds pass; return (bytes sent, seconds)."""
    t0 = time.monotonic()
    sent = 0
    for b in data:
        if time.monotonic() - t0 > limit:
            break
        try:
            c.send(bytes([b]))
        except OSError:
            break
        sent += 1
        r, _, _ = select.select([c.sock], [], [], per_byte)
        if r:
            break
    return sent, time.monotonic() - t0


@gwtest.timeout(60)
def test_slowloris_command_cut_at_command_timeout():
    # One byte a second never completes a command: the gateway must not
    # restart command_timeout on every byte.
    gw = Gateway(upstream_conf={"port": str(gwtest.free_port())},
                 listener={"command_timeout": "2s"})
    with gw.client() as c:
        check_reply(c.greeting(), 220, what="greeting")
        line = b"EHLO " + b"s" * 40 + b"\r\n"
        sent, secs = _drip(c, line, 1.0, 12)
        check(c.buf or c.pending(1.0), "slow client not cut off: %d bytes "
              "at 1 byte/s over %.1f s and no reply (command_timeout 2s)",
              sent, secs)
        r = c.reply(timeout=5)
        check_reply(r, 421, "4.4.2", what="slow client")
        check(secs < 2 + 2.5, "cut off only after %.1f s (command_timeout "
              "2s)", secs)
        check(c.closed(5), "connection not closed after 421")
    check(gw.alive(), "smtpgate exited")
    with gw.client() as c:
        c.start()


def test_max_sessions_421():
    gw = Gateway(upstream_conf={"port": str(gwtest.free_port())},
                 gateway={"max_sessions": "5"})
    held = []
    try:
        for i in range(5):
            c = gw.client()
            held.append(c)
            check_reply(c.greeting(), 220, what="session %d of 5" % (i + 1))
        for i in range(3):
            with gw.client() as c:
                r = c.greeting()
                check_reply(r, 421, "4.3.2", what="session over max_sessions")
                check(c.closed(5), "refused session not closed")
        # The held sessions still work.
        for c in held:
            check_reply(c.cmd("NOOP"), 250, what="held session")
    finally:
        for c in held:
            c.close()

    def greets():
        try:
            with gw.client() as c:
                return c.greeting().code == 220
        except (gwtest.TestFailure, OSError):
            return False
    check(gwtest.wait_for(greets, 5), "slots not released after close")


# Memory for idle sessions (open, greeted, silent).  Measured on Debian 12
# x86_64 with 2000 sessions: 8.5 KiB of VmRSS per session for the normal
# RelWithDebInfo build, 13.1 KiB for the AddressSanitizer build (redzones).
# The bound is about twice the measurement plus a fixed base: it leaves
# room for allocator and page-rounding noise, and still catches a session
# that holds a message-sized or TLS-record-sized buffer while idle.  A
# sanitizer build gets three times the per-session bound.
IDLE_SESSIONS = 2000
IDLE_KIB_PER_SESSION = 16	# bound: VmRSS growth per idle session, KiB
IDLE_SANITIZER_FACTOR = 3	# ... times this for an ASan build
IDLE_BASE_KIB = 4096		# plus this much, whatever the count


def _sanitized_binary():
    """True if smtpgate was built with AddressSanitizer."""
    try:
        with open(gwtest.BIN, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise gwtest.TestFailure("no VmRSS for pid %d" % pid)


def _raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    want = need if hard == resource.RLIM_INFINITY else min(need, hard)
    check(want >= need, "RLIMIT_NOFILE hard limit %d < %d needed", hard,
          need)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


@gwtest.timeout(180)
def test_2000_idle_sessions_memory_bound():
    gwtest.skip_under_valgrind("2000 sessions under memcheck take minutes")
    # 2000 descriptors in this process and 2000 in the gateway (started
    # below, after this, so it inherits the limit), plus room.
    _raise_nofile(IDLE_SESSIONS + 512)
    up = Upstream("starttls")
    gw = Gateway(up, gateway={"max_sessions": "3000", "log_level": "info"},
                 listener={"max_sessions_per_client": "3000"})
    pid = gw.proc.pid
    relay_ok(gw, sample_message("warm-up"), "warm-up transaction")
    before = _rss_kib(pid)
    socks = []
    try:
        t0 = time.monotonic()
        for i in range(IDLE_SESSIONS):
            check(time.monotonic() - t0 < 60, "opening %d sessions took "
                  "over 60 s (at %d)", IDLE_SESSIONS, i)
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
            socks.append(s)
        # Every one gets its greeting (read all, bounded).
        pending = {s.fileno(): s for s in socks}
        got = {}
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            p = select.poll()
            for fd in pending:
                p.register(fd, select.POLLIN)
            for fd, _ in p.poll(1000):
                s = pending[fd]
                data = s.recv(512)
                got[fd] = got.get(fd, b"") + data
                if b"\r\n" in got[fd] or not data:
                    del pending[fd]
        check(not pending, "%d of %d sessions got no greeting in 30 s",
              len(pending), IDLE_SESSIONS)
        bad = [g for g in got.values() if not g.startswith(b"220 ")]
        check(not bad, "%d sessions not greeted with 220: %r", len(bad),
              bad[:3])
        opened = time.monotonic() - t0
        time.sleep(0.5)
        after = _rss_kib(pid)
        growth = after - before
        per = growth / IDLE_SESSIONS
        per_bound = IDLE_KIB_PER_SESSION
        if _sanitized_binary():
            per_bound *= IDLE_SANITIZER_FACTOR
        bound = IDLE_BASE_KIB + per_bound * IDLE_SESSIONS
        print("# %d idle sessions: VmRSS %d -> %d KiB (+%d KiB, %.2f KiB "
              "per session; bound +%d KiB); opened and greeted in %.1f s"
              % (IDLE_SESSIONS, before, after, growth, per, bound, opened),
              flush=True)
        check(growth <= bound, "VmRSS grew by %d KiB for %d idle sessions "
              "(%.1f KiB each), over the bound of %d KiB", growth,
              IDLE_SESSIONS, per, bound)
        # Still serving while they sit there.
        with gw.client() as c:
            c.start()
            check_reply(c.cmd("QUIT"), 221)
    finally:
        for s in socks:
            s.close()
    check(gw.alive(), "smtpgate exited with %d sessions", IDLE_SESSIONS)
    # All closed: the sessions are released (the log says disconnect for
    # each), and the gateway relays.
    def disconnected():
        return gw.log().count(" disconnect ") >= IDLE_SESSIONS
    check(gwtest.wait_for(disconnected, 20), "not every session was "
          "released: %d disconnect lines", gw.log().count(" disconnect "))
    msg = sample_message("after 2000 sessions")
    relay_ok(gw, msg, "transaction after 2000 sessions")
    msgs = up.wait_messages(2)
    check(len(msgs) == 2, "want 2 delivered messages, got %d", len(msgs))
    check_same_bytes(msgs[-1].data, msg)
    print("# VmRSS after the sessions closed: %d KiB" % _rss_kib(pid),
          flush=True)


if __name__ == "__main__":
    gwtest.main(globals())
