#!/usr/bin/python3
"""Scale-out: two smtpgate instances behind a real HAProxy with PROXY v2.
A bounded load of one-message sessions runs through the balancer; one
instance is killed (SIGKILL) in the middle.  Every message a client got
250 for must have arrived upstream exactly once; every other one got a 4xx
or lost its connection before the final reply (the client still has it
and would retry); none got a 5xx; and the load goes on through the
surviving instance.  Also: implicit TLS behind the balancer (the PROXY
header, then the ClientHello)."""

import os
import signal
import ssl
import sys
import threading
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Client, Gateway, Upstream, check, check_reply,  # noqa: E402
                    pki, sample_message, transaction)
from haproxy import HAProxy  # noqa: E402

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"
THREADS = 4
PER_THREAD = 15
KILL_AFTER = 20		# messages finished before one instance is killed
PACE = 0.02		# seconds between one thread's sessions
PAUSE = 0.3		# seconds between RCPT and DATA: most of a session


def replica(up):
    return Gateway(up, listener={"proxy_protocol": "v2",
                                 "proxy_from": "127.0.0.1/32",
                                 "max_sessions_per_client": "200"})


def one_message(port, tag):
    """One session, one message; the outcome: ok, temp, perm, lost."""
    try:
        with Client(port, timeout=20) as c:
            r = c.greeting()
            if r.code != 220:
                return "temp" if r.code // 100 == 4 else "perm"
            r = c.ehlo()
            if r.code != 250:
                return "temp" if r.code // 100 == 4 else "perm"
            for cmd in ("MAIL FROM:<%s>" % SENDER, "RCPT TO:<%s>" % RCPT):
                r = c.cmd(cmd)
                if r.code != 250:
                    return "temp" if r.code // 100 == 4 else "perm"
            # a session in the middle of a transaction when the kill comes
            time.sleep(PAUSE)
            r = c.data(sample_message("scale " + tag), timeout=20)
            try:
                c.cmd("QUIT")
            except Exception:
                pass
            if r.code == 250:
                return "ok"
            return "temp" if r.code // 100 == 4 else "perm"
    except Exception:	# closed, reset, timed out: no final reply
        return "lost"


def test_two_replicas_one_killed():
    up = Upstream("starttls")
    gws = [replica(up), replica(up)]
    ha = HAProxy([g.port for g in gws], send="send-proxy-v2", check_ms=200)
    outcome = {}
    lock = threading.Lock()
    done = [0]

    def worker(t):
        for i in range(PER_THREAD):
            tag = "t%d-m%d" % (t, i)
            r = one_message(ha.port, tag)
            with lock:
                outcome[tag] = (r, time.monotonic())
                done[0] += 1
            time.sleep(PACE)	# spread the load over a few seconds

    try:
        threads = [threading.Thread(target=worker, args=(t,), daemon=True)
                   for t in range(THREADS)]
        for th in threads:
            th.start()
        deadline = time.monotonic() + 60 * gwtest.TIME_SCALE
        while done[0] < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.01)
        # the threads run in step: half a pause on, the next sessions are
        # between RCPT and DATA
        time.sleep(PAUSE / 2)
        gws[0].exit_expected = True
        gws[0].signal(signal.SIGKILL)
        t_kill = time.monotonic()
        for th in threads:
            th.join(max(1, deadline - time.monotonic()))
        check(not any(th.is_alive() for th in threads),
              "the load did not finish in time")
    finally:
        ha.stop()
    total = THREADS * PER_THREAD
    check(len(outcome) == total, "outcomes: %d of %d", len(outcome), total)
    ok = {k for k, (r, _) in outcome.items() if r == "ok"}
    perm = [k for k, (r, _) in outcome.items() if r == "perm"]
    check(not perm, "permanent refusals: %r", perm)
    # sessions spend most of their time between RCPT and DATA: some were
    # on the killed instance, and their clients got no 250
    cut = [k for k, (r, _) in outcome.items() if r in ("lost", "temp")]
    check(cut, "no session was cut by the kill")
    after = [k for k in ok if outcome[k][1] > t_kill + 0.5]
    check(after, "nothing delivered after the kill: %r",
          sorted(outcome.items())[:10])
    # everything the upstream will get has arrived once the load is over
    up.wait_messages(len(ok), timeout=10)
    time.sleep(0.5)
    seen = {}
    for m in up.messages():
        for line in m.data.split(b"\r\n"):
            if line.startswith(b"Subject: scale "):
                tag = line[len(b"Subject: scale "):].decode()
                seen[tag] = seen.get(tag, 0) + 1
    twice = {k: n for k, n in seen.items() if n > 1}
    check(not twice, "delivered more than once: %r", twice)
    lost = [k for k in ok if seen.get(k) != 1]
    check(not lost, "told 250 but not delivered: %r", lost)
    counts = {}
    for r, _ in outcome.values():
        counts[r] = counts.get(r, 0) + 1
    print("# outcomes: %r; delivered %d (250: %d)" % (counts, len(seen),
                                                    len(ok)))
    check(gws[1].alive(), "the surviving instance died")
    check(gws[1].wait_log(r"relay client=127\.0\.0\.1 proxy=127\.0\.0\.1 "),
          "no transaction line with the carried client and proxy=")


def test_implicit_tls_behind_haproxy():
    """The PROXY header and then the ClientHello in the same stream: the
    gateway reads the header and leaves the TLS bytes to the handshake."""
    up = Upstream("starttls")
    p = pki()
    gw = Gateway(up, listener={"proxy_protocol": "v2",
                               "proxy_from": "127.0.0.1/32",
                               "allow": "127.0.0.2/32", "tls": "implicit",
                               "tls_cert": p["good-chain"],
                               "tls_key": p["good.key"]})
    ha = HAProxy(gw.port, send="send-proxy-v2")
    try:
        ctx = ssl.create_default_context(cafile=p["ca-bundle"])
        with Client(ha.port, source="127.0.0.2") as c:
            c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
            c.start()
            replies = transaction(c, SENDER, [RCPT],
                                  sample_message("tls behind haproxy"))
            check_reply(replies[-1], 250, what="end of DATA")
        check(len(up.wait_messages(1)) == 1, "not delivered")
        check(gw.wait_log(r"relay client=127\.0\.0\.2 proxy=127\.0\.0\.1 "
                          r"client_tls=TLSv1\.[23] "),
              "transaction line without client, proxy and client_tls")
    finally:
        ha.stop()


if __name__ == "__main__":
    gwtest.main(globals())
