#!/usr/bin/python3
"""Crash safety of the queue (issue 15, section 3): a bounded stream of
messages in queue mode while the gateway is killed with SIGKILL at random
points (during DATA, just after a 250, during deliveries) and started
again on the same queue directory.  At the end, every message that got a
250 must have arrived at the upstream, and none twice except in the one
window SMTP cannot close (the upstream accepted it and the gateway died
before recording that): those duplicates are counted and reported, and
each must match a copy the upstream stored on a connection that a kill
cut before anything else was sent on it (the gateway gives a connection
back, and sends its next MAIL or QUIT, only after recording the 250).

The upstream stores each message, then answers the end of DATA after a
short delay (upstream.py --store-delay), so that kills
often land inside the window and the duplicates it allows are seen."""

import os
import random
import re
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Client, Gateway, Upstream, check,  # noqa: E402
                    free_port, newdir, wait_for)

SENDER = "crash@example.test"
MESSAGES = 60		# the stream, bounded
KILLS = 6
PARALLEL = 4


def message(n):
    return (("From: <%s>\r\nTo: <r@example.test>\r\nSubject: crash %d\r\n"
             "Message-ID: <crash.%d@example.test>\r\n\r\n" % (SENDER, n, n))
            .encode() + b"line of the body\r\n" * 200)


class Sender(threading.Thread):
    """Sends messages 0..MESSAGES-1, one session each, retrying what got
    no final reply, as a legacy program with its own retry would; records
    which got a 250 and which ended unknown."""

    def __init__(self, gw):
        threading.Thread.__init__(self, daemon=True)
        self.gw = gw
        self.ok = set()		# got 250
        self.unknown = set()	# connection lost after the dot: may be in
        self.stop = False
        # the killer's cues: a 354 came (mid-DATA), a 250 came (after it)
        self.ev_data = threading.Event()
        self.ev_ok = threading.Event()
        self.deadline = time.monotonic() + 120 * gwtest.TIME_SCALE

    def one(self, n):
        port = self.gw.port
        try:
            with Client(port, timeout=10 * gwtest.TIME_SCALE) as c:
                c.start()
                if c.cmd("MAIL FROM:<%s>" % SENDER).code != 250:
                    return False
                if c.cmd("RCPT TO:<r%d@example.test>" % n).code != 250:
                    return False
                if c.cmd("DATA").code != 354:
                    return False
                data = message(n)
                c.send(data[:len(data) // 2])
                self.ev_data.set()
                time.sleep(0.02)
                c.send(gwtest.dot_stuff(data[len(data) // 2:]) + b".\r\n")
                try:
                    r = c.reply(timeout=10 * gwtest.TIME_SCALE)
                except Exception:
                    self.unknown.add(n)
                    raise
                if r.code == 250:
                    self.ok.add(n)
                    self.ev_ok.set()
                    return True
                return False
        except Exception:
            return False

    def run(self):
        n = 0
        while n < MESSAGES and time.monotonic() < self.deadline:
            if self.stop:
                return
            if self.one(n):
                n += 1
            else:
                time.sleep(0.05)


def test_kill9_loses_nothing():
    up = Upstream(extra=["--store-delay", "0.2"])
    qdir = os.path.join(newdir("queue"), "q")
    port = free_port()
    gw = Gateway(upstream=up, port=port,
                 gateway={"queue_dir": qdir, "queue_retry": "1s",
                          "queue_retry_max": "2s",
                          "queue_parallel": str(PARALLEL),
                          "log_level": "info"},
                 listener={"delivery": "queue"})
    s = Sender(gw)
    s.start()
    rnd = random.Random(int(os.environ.get("GWTEST_SEED", "0")) or None)
    phases = []
    for k in range(KILLS):
        # in turn: at a random instant, in the middle of a DATA, right
        # after a 250 (deliveries run at all three)
        phase = ("random", "mid-data", "after-250")[k % 3]
        time.sleep(rnd.uniform(0.1, 0.8) * gwtest.TIME_SCALE)
        if phase != "random":
            ev = s.ev_data if phase == "mid-data" else s.ev_ok
            ev.clear()
            if not ev.wait(10 * gwtest.TIME_SCALE):
                phase = "random"
        if not s.is_alive():
            break
        phases.append(phase)
        gw.proc.send_signal(signal.SIGKILL)
        gw.proc.wait(timeout=10)
        gw.exit_expected = True
        gw.stop()
        gw.exit_expected = False
        gw.start()
    s.join(timeout=150 * gwtest.TIME_SCALE)
    check(not s.is_alive(), "the sender did not finish")
    check(len(s.ok) == MESSAGES, "only %d of %d messages got a 250",
          len(s.ok), MESSAGES)

    def ids():
        out = []
        for m in up.messages():
            mm = re.search(rb"Message-ID: <crash\.(\d+)@", m.data)
            if mm:
                out.append(int(mm.group(1)))
        return out
    wait_for(lambda: set(ids()) >= s.ok, 60)
    got = ids()
    lost = sorted(s.ok - set(got))
    dups = sorted({n for n in got if got.count(n) > 1})
    extra = sum(got.count(n) - 1 for n in dups)
    print("# crash test: %d messages, %d kills (%s), %d delivered, %d "
          "duplicate(s) from the window (%r), %d unknown at the client"
          % (MESSAGES, len(phases), ",".join(phases), len(got), extra, dups,
             len(s.unknown)), flush=True)
    check(not lost, "messages that got 250 and never arrived: %r", lost)
    # Each extra copy must come from the window: a copy stored at the
    # upstream on a connection that carried nothing after it (the gateway
    # was killed before it could record the 250; a recorded delivery
    # gives its connection back, and the next MAIL or QUIT follows), or
    # from the client itself sending again after a lost final reply.
    ev = up.events()
    in_window = {}
    for i, e in enumerate(ev):
        if e["event"] != "DATA":
            continue
        later = any(x["peer"] == e["peer"] for x in ev[i + 1:])
        if not later:
            for rc in e.get("rcpts", []):
                mm = re.match(r"r(\d+)@", rc)
                if mm:
                    n = int(mm.group(1))
                    in_window[n] = in_window.get(n, 0) + 1
    outside = [n for n in dups
               if got.count(n) - 1 > in_window.get(n, 0) +
               (1 if n in s.unknown else 0)]
    print("# copies cut by a kill after the upstream stored them: %d"
          % sum(in_window.values()), flush=True)
    check(not outside, "duplicates outside the window: %r (copies %r, in "
          "the window %r)", outside, [got.count(n) for n in outside],
          [in_window.get(n, 0) for n in outside])
    wait_for(lambda: not [f for f in os.listdir(qdir)
                          if f.endswith(".msg")], 20)


if __name__ == "__main__":
    gwtest.main(globals())
