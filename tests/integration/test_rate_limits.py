#!/usr/bin/python3
"""Rate limits per listener (issue 12, section 3): rate_connections
(421 4.7.0 and close), rate_messages and rate_user_messages at MAIL and
rate_recipients at RCPT (450 4.7.1), each with its log line; nothing
refused reaches the upstream, a limit recovers after its period, a
SIGHUP keeps the counters and applies a changed limit to them, and -t
refuses a bad value.  Periods are a few seconds to keep the tests short;
the limits are COUNT at once, then one more each PERIOD/COUNT."""

import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    sample_message, transaction, free_port, BIN)
from test_auth_listener import (ACCOUNTS, auth_plain,  # noqa: E402
                                make_hash, users_file)

SENDER = "sender@example.test"
# the period of the limits tested: what is refused must come within
# PERIOD/COUNT of the first event, which valgrind's pace would miss
P = 16 if gwtest.VALGRIND else 4
RCPT = "rcpt@example.test"


def send_ok(c, subject, rcpts=(RCPT,)):
    replies = transaction(c, SENDER, list(rcpts), sample_message(subject))
    check(len(replies) == 3 + len(rcpts),
          "transaction stopped early: %r", replies)
    check_reply(replies[-1], 250, what="end of DATA (%s)" % subject)


def mail_refused(c, what):
    r = c.cmd("MAIL FROM:<%s>" % SENDER)
    check_reply(r, 450, "4.7.1", what=what)
    # not a transaction: the client is back where it was before MAIL
    check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 503,
                what="RCPT after the refused MAIL")


def sleep_until(t):
    if t > time.monotonic():
        time.sleep(t - time.monotonic())


def reload(gw, text=None):
    if text is not None:
        gw.write_config(text)
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"reload: new configuration in use", start=mark),
          "no reload: %s", gw.log()[mark:])


# The harness's start-up probe (a connection that waits for the 220 and
# says QUIT) is the listener's first connection: it counts toward
# rate_connections.

def test_rate_connections():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"rate_connections": "3/%ds" % P})
    for i in range(2):		# 2 and 3, after the probe
        with gw.client() as c:
            check_reply(c.greeting(), 220, what="connection %d" % (i + 2))
    t_last = time.monotonic()
    with gw.client() as c:
        check_reply(c.greeting(), 421, "4.7.0", what="fourth connection")
        check(c.closed(), "not closed after the 421")
    check(gw.wait_log(r"refused client=127\.0\.0\.1 "
                      r"reason=rate-connections"),
          "no log line: %s", gw.log()[-2000:])
    check(not up.events(), "the upstream saw something: %r", up.events())
    # after the period all 3 connections are there again, and one more
    # is not
    sleep_until(t_last + P + 0.2)
    for i in range(3):
        with gw.client() as c:
            c.start()
            send_ok(c, "after the period %d" % i)
    with gw.client() as c:
        check_reply(c.greeting(), 421, "4.7.0", what="over again")
    check(len(up.wait_messages(3)) == 3, "want 3 messages: %r",
          up.messages())


def test_rate_messages():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"rate_messages": "2/%ds" % P})
    with gw.client() as c:
        c.start()
        send_ok(c, "one")
        send_ok(c, "two")
        t_last = time.monotonic()
        mail_refused(c, "third MAIL, rate_messages = 2/P")
        # the session goes on
        check_reply(c.cmd("NOOP"), 250, what="NOOP after the 450")
    # counted per address, across sessions
    with gw.client() as c:
        c.start()
        mail_refused(c, "MAIL in a new session")
    check(gw.wait_log(r"rate limit client=127\.0\.0\.1 "
                      r"limit=rate_messages rate=2/%ds cmd=MAIL" % P),
          "no log line: %s", gw.log()[-2000:])
    check(len(up.events("MAIL")) == 2, "refused MAIL reached the "
          "upstream: %r", up.events("MAIL"))
    check(len(up.messages()) == 2, "want 2 messages: %r", up.messages())
    sleep_until(t_last + P + 0.2)
    with gw.client() as c:
        c.start()
        send_ok(c, "three")
        send_ok(c, "four")
        mail_refused(c, "over again after the period")
    check(len(up.wait_messages(4)) == 4, "want 4 messages: %r",
          up.messages())


def test_rate_recipients():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"rate_recipients": "3/%ds" % P})
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        for i in range(3):
            check_reply(c.cmd("RCPT TO:<r%d@example.test>" % i), 250)
        t_last = time.monotonic()
        check_reply(c.cmd("RCPT TO:<r3@example.test>"), 450, "4.7.1",
                    what="fourth RCPT, rate_recipients = 3/P")
        check_reply(c.data(sample_message("three of four")), 250)
        # the next message, the same session: still over
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        check_reply(c.cmd("RCPT TO:<r4@example.test>"), 450, "4.7.1",
                    what="RCPT of the next message")
        check_reply(c.cmd("RSET"), 250)
    check(gw.wait_log(r"rate limit client=127\.0\.0\.1 "
                      r"limit=rate_recipients rate=3/%ds cmd=RCPT" % P),
          "no log line: %s", gw.log()[-2000:])
    m = up.wait_messages(1)
    check(len(m) == 1 and m[0].rcpt_tos == ["r0@example.test",
                                            "r1@example.test",
                                            "r2@example.test"],
          "want one message to r0..r2: %r", m)
    rcpts = [e["arg"] for e in up.events("RCPT")]
    check("r3@example.test" not in rcpts and "r4@example.test" not in rcpts,
          "a refused RCPT reached the upstream: %r", rcpts)
    sleep_until(t_last + P + 0.2)
    with gw.client() as c:
        c.start()
        send_ok(c, "after the period", rcpts=("a@example.test",
                                             "b@example.test",
                                             "c@example.test"))
    check(len(up.wait_messages(2)) == 2, "want 2 messages: %r",
          up.messages())


def test_rate_user_messages():
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    path = users_file([
        "app1:%s:alice@isp.test:%s" % (make_hash("$y$", "local-one"),
                                       ACCOUNTS["alice@isp.test"]),
        "app2:%s:bob@isp.test:%s" % (make_hash("$y$", "local-two"),
                                     ACCOUNTS["bob@isp.test"]),
    ])
    gw = Gateway(up, listener={"rate_user_messages": "2/%ds" % P},
                 upstream_conf={"auth": "map", "users_file": path})
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "app1", "local-one"), 235, what="app1")
        send_ok(c, "app1 one")
        send_ok(c, "app1 two")
        t_last = time.monotonic()
        mail_refused(c, "app1's third MAIL")
    # another user from the same address is not limited by app1's count
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "app2", "local-two"), 235, what="app2")
        send_ok(c, "app2 one")
    # app1 from a new session: still over
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "app1", "local-one"), 235, what="app1")
        mail_refused(c, "app1 in a new session")
    check(gw.wait_log(r'rate limit client=127\.0\.0\.1 user="app1" '
                      r"limit=rate_user_messages rate=2/%ds cmd=MAIL" % P),
          "no log line: %s", gw.log()[-2000:])
    check(len(up.wait_messages(3)) == 3, "want 3 messages: %r",
          up.messages())
    check(len(up.events("MAIL")) == 3, "refused MAIL reached the "
          "upstream: %r", up.events("MAIL"))
    sleep_until(t_last + P + 0.2)
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "app1", "local-one"), 235, what="app1")
        send_ok(c, "app1 after the period")
    check(len(up.wait_messages(4)) == 4, "want 4 messages: %r",
          up.messages())


def test_rate_user_messages_passthrough():
    # passthrough: the user is the name the upstream said 235 to
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    gw = Gateway(up, listener={"rate_user_messages": "1/%ds" % P},
                 upstream_conf={"auth": "passthrough"})
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "alice@isp.test",
                               ACCOUNTS["alice@isp.test"]), 235,
                    what="alice")
        send_ok(c, "alice one")
        mail_refused(c, "alice's second MAIL")
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "bob@isp.test", ACCOUNTS["bob@isp.test"]),
                    235, what="bob")
        send_ok(c, "bob one")
    check(gw.wait_log(r'rate limit client=127\.0\.0\.1 '
                      r'user="alice@isp\.test" limit=rate_user_messages'),
          "no log line: %s", gw.log()[-2000:])
    check(len(up.wait_messages(2)) == 2 and len(up.events("MAIL")) == 2,
          "want 2 messages and 2 MAILs: %r", up.events("MAIL"))


def test_reload_keeps_counters():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"rate_connections": "3/60s",
                               "rate_messages": "2/60s"})
    with gw.client() as c:		# connection 2, after the probe
        c.start()
        for i in range(2):
            check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
            check_reply(c.cmd("RSET"), 250)
        mail_refused(c, "third MAIL before the reload")
    reload(gw)
    with gw.client() as c:		# connection 3
        c.start()
        mail_refused(c, "MAIL after the reload")
    with gw.client() as c:
        check_reply(c.greeting(), 421, "4.7.0",
                    what="fourth connection after the reload")
    # raised limits apply to what was counted: one more of each now
    reload(gw, gw.config.replace("rate_connections = 3/60s",
                                 "rate_connections = 4/60s")
           .replace("rate_messages = 2/60s", "rate_messages = 3/60s"))
    with gw.client() as c:		# connection 4
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250,
                    what="MAIL under the raised limit")
        check_reply(c.cmd("RSET"), 250)
        mail_refused(c, "MAIL over the raised limit")
    with gw.client() as c:
        check_reply(c.greeting(), 421, "4.7.0",
                    what="connection over the raised limit")
    check(len(up.events("MAIL")) == 3, "want 3 MAILs upstream: %r",
          up.events("MAIL"))


def test_bad_value_refused_by_t():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"rate_messages": "100"}, start=False)
    gw.port = free_port()
    gw._write(gw.port)
    r = subprocess.run([BIN, "-t", "-c", gw.path], capture_output=True,
                       timeout=30)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    check(r.returncode == 1, "-t with rate_messages = 100: exit %d: %s",
          r.returncode, out)
    line = gw.config.split("\n").index("rate_messages = 100") + 1
    want = '%s:%d: rate_messages: "100": must be COUNT/PERIOD' % (
        gw.path, line)
    check(want in out, "want %r in: %s", want, out)
    gw.write_config(gw.config.replace("rate_messages = 100",
                                      "rate_messages = 100/1d"))
    r = subprocess.run([BIN, "-t", "-c", gw.path], capture_output=True,
                       timeout=30)
    check(r.returncode == 0, "-t with 100/1d: exit %d: %s", r.returncode,
          (r.stdout + r.stderr).decode("utf-8", "replace"))


if __name__ == "__main__":
    gwtest.main(globals())
