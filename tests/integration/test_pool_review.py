#!/usr/bin/python3
"""Pool review findings (issue 11): signals against the upstream pool."""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import Gateway, Upstream, check  # noqa: E402


def test_sighup_while_draining_starts_no_prewarm():
    # SIGTERM, then SIGHUP while a session keeps the drain going: the
    # reloaded snapshot must not pre-warm connections that nobody closes
    # (they count as sessions: the drain would wait its full 30 s and the
    # gateway leave without QUIT).
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"pool_min_idle": "1"})
    check(gw.wait_log(r"pre-warm ready", 10) is not None,
          "no pre-warmed connection at start: %s", gw.log())
    busy = gw.client()
    busy.start()
    gwtest.check_reply(busy.cmd("MAIL FROM:<s@example.test>"), 250)
    gwtest.check_reply(busy.cmd("RCPT TO:<r@example.test>"), 250)
    gwtest.check_reply(busy.cmd("DATA"), 354)
    msg = gwtest.sample_message("drained")
    busy.send(gwtest.dot_stuff(msg))
    gw.signal(signal.SIGTERM)
    check(gw.wait_log(r"draining", 5) is not None, "no drain in the log")
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"reload: new configuration", 5, start=mark)
          is not None, "no reload: %s", gw.log()[mark:])
    time.sleep(1.0)
    gw.exit_expected = True
    busy.send(b".\r\n")
    gwtest.check_reply(busy.reply(timeout=10), 250, what="message in flight")
    t0 = time.monotonic()
    check(gwtest.wait_for(lambda: gw.proc.poll() is not None, 10),
          "smtpgate still draining 10 s after its last session ended")
    check("pre-warm opening" not in gw.log()[mark:],
          "a pre-warm started after SIGTERM: %s", gw.log()[mark:])
    check(time.monotonic() - t0 < 10, "slow exit")


def relay(gw, subject):
    with gw.client() as c:
        c.start()
        replies = gwtest.transaction(c, "s@example.test", ["r@example.test"],
                                     gwtest.sample_message(subject))
        gwtest.check_reply(replies[-1], 250, what="end of DATA")
        gwtest.check_reply(c.cmd("QUIT"), 221)


def test_sighup_then_sigterm_exits_clean():
    # The old snapshot (pre-warmed and used connections) is retired at
    # SIGHUP and freed once they are closed; SIGTERM then ends the new
    # one's: the gateway exits by itself, quickly (the harness checks the
    # sanitizer reports).
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"pool_min_idle": "1"})
    check(gw.wait_log(r"pre-warm ready", 10) is not None,
          "no pre-warmed connection at start")
    for i in range(2):
        relay(gw, "before %d" % i)
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"pre-warm ready", 10, start=mark) is not None,
          "no pre-warm after reload: %s", gw.log()[mark:])
    check(gw.wait_log(r"closed reason=retired", 5, start=mark) is not None,
          "the old snapshot's idle connection was not closed")
    relay(gw, "after")
    check(len(up.wait_messages(3)) == 3, "want 3 messages")
    gw.exit_expected = True
    gw.signal(signal.SIGTERM)
    check(gwtest.wait_for(lambda: gw.proc.poll() is not None, 8),
          "smtpgate did not exit after SIGTERM")
    check(gw.proc.returncode == 0, "exit status %s", gw.proc.returncode)


if __name__ == "__main__":
    gwtest.main(globals())
