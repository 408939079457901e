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


if __name__ == "__main__":
    gwtest.main(globals())
