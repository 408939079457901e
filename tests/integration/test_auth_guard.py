#!/usr/bin/python3
"""The listener's AUTH under attack (issue 10): input buffered behind a
failed exchange is dropped, not run and traced as a command; failures are
counted per client address with a growing delay and a lockout, in map and
in passthrough mode; and password hashing runs off the event loop."""

import os
import socket
import statistics
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    wait_for)
from test_auth_listener import (ACCOUNTS, b64, plain,  # noqa: E402
                                users_file, make_hash, crypt)

PW = ACCOUNTS["alice@isp.test"]


def passthrough(up, gateway=None):
    return Gateway(up, gateway=gateway, upstream_conf={"auth": "passthrough"})


def secrets_absent(log, secrets):
    for s in secrets:
        check(s not in log, "secret %r in the gateway's output", s)


def test_failed_exchange_drops_buffered_password():
    """For each way an exchange fails part way, the line the client sent
    behind the failing one (in the same write) is its password: it must
    be neither answered nor logged, at log_level = debug."""
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    gw = passthrough(up)
    pw_b64 = b64(PW.encode())
    secrets = [PW, pw_b64, plain("alice@isp.test", PW)]
    ways = [
        # (what, AUTH command, failing line, its reply code)
        ("PLAIN bad base64", "AUTH PLAIN", "!!not base64!!", 501),
        ("PLAIN cancel", "AUTH PLAIN", "*", 501),
        ("PLAIN over-long line", "AUTH PLAIN", "QUFB" * 3100, 500),
        ("LOGIN bad user", "AUTH LOGIN", "!!bad!!", 501),
        ("LOGIN cancel", "AUTH LOGIN", "*", 501),
        ("LOGIN over-long user", "AUTH LOGIN", "QUFB" * 3100, 500),
    ]
    with gw.client() as c:
        c.start()
        for what, cmd, bad, code in ways:
            check_reply(c.cmd(cmd), 334, what=what)
            # the failing line and the secret in one write
            behind = (plain("alice@isp.test", PW) if "PLAIN" in cmd
                      else pw_b64)
            c.send(("%s\r\n%s\r\n%s\r\n" % (bad, behind, PW)).encode())
            check_reply(c.reply(), code, what=what)
            # nothing else was answered: the next reply is NOOP's
            check_reply(c.cmd("NOOP"), 250, what="NOOP after " + what)
        # LOGIN: the password after a wrong one, pipelined, is dropped
        # once the verdict is a failure
        check_reply(c.cmd("AUTH LOGIN"), 334, what="LOGIN")
        check_reply(c.cmd(b64(b"alice@isp.test")), 334, what="LOGIN user")
        c.send(("%s\r\n%s\r\n" % (b64(b"wrong-pw"), pw_b64)).encode())
        check_reply(c.reply(timeout=10), 535, what="LOGIN wrong password")
        check_reply(c.cmd("NOOP"), 250, what="NOOP after the 535")
        # and a good login still works afterwards
        check_reply(c.cmd("AUTH PLAIN " + plain("alice@isp.test", PW)), 235,
                    what="AUTH after the failures")
    log = gw.log()
    check("octets of input behind a failed AUTH exchange dropped" in log,
          "no drop logged: %s", log[-3000:])
    check("input behind a cancelled AUTH exchange dropped" in log,
          "no drop after cancel logged: %s", log[-3000:])
    secrets_absent(log, secrets)


def timed(c, line, timeout=15):
    t0 = time.monotonic()
    r = c.cmd(line, timeout=timeout)
    return r, time.monotonic() - t0


def auth_plain_cmd(user, pw):
    return "AUTH PLAIN " + plain(user, pw)


def test_map_delay_and_lockout():
    """map: each wrong password is answered later than the one before
    (1 s, then 2 s, capped), counted across connections; at the limit
    even the right password gets 454 without being hashed, until the
    window has passed."""
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    path = users_file(["app1:%s:alice@isp.test:%s"
                       % (make_hash("$y$", "local-one"), PW)])
    gw = Gateway(up, gateway={"auth_fail_limit": "3",
                              "auth_fail_window": "4s",
                              "auth_fail_delay_max": "2s"},
                 upstream_conf={"auth": "map", "users_file": path})
    took = []
    with gw.client() as c:
        c.start()
        for pw in ("wrong-1", "wrong-2"):
            r, t = timed(c, auth_plain_cmd("app1", pw))
            check_reply(r, 535, "5.7.8", what="wrong password")
            took.append(t)
    with gw.client() as c:
        # a new connection does not start the count again
        c.start()
        r, t = timed(c, auth_plain_cmd("nobody", "wrong-3"))
        check_reply(r, 535, "5.7.8", what="third failure")
        took.append(t)
        r, t = timed(c, auth_plain_cmd("app1", "local-one"))
        check_reply(r, 454, "4.7.0", what="right password while locked")
        # not held like a failure (that would be the 2 s cap by now)
        check(t < 1.5, "the lockout reply took %.2fs", t)
    check(took[0] >= 0.9 and took[1] >= 1.9 and took[2] >= 1.9,
          "delays %r: want about 1 s, 2 s, 2 s (capped)", took)
    check(max(took) < 6, "delays %r: far over the 2 s cap", took)
    log = gw.log()
    for want in ("auth failure address=127.0.0.1 failures=1 delay=1s",
                 "auth failure address=127.0.0.1 failures=2 delay=2s",
                 "auth lockout address=127.0.0.1 failures=3 window=4s",
                 "auth refused address=127.0.0.1 failures=3 "
                 "reason=lockout"):
        check(want in log, "no %r in the log: %s", want, log[-3000:])
    # the lockout ends auth_fail_window after the last failure
    t0 = time.monotonic()
    while True:
        with gw.client() as c:
            c.start()
            r = c.cmd(auth_plain_cmd("app1", "local-one"))
        if r.code == 235:
            break
        check_reply(r, 454, "4.7.0", what="while locked")
        check(time.monotonic() - t0 < 10, "still locked after 10 s")
        time.sleep(0.5)


def test_passthrough_not_forwarded_when_locked():
    """passthrough: a guessing client's failures at the provider count
    like map's; over the limit its AUTH is not forwarded at all, from
    any connection, so the provider sees at most auth_fail_limit
    failures per window whatever the client does."""
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    gw = passthrough(up, gateway={"auth_fail_limit": "2",
                                  "auth_fail_window": "3s",
                                  "auth_fail_delay_max": "1s"})
    with gw.client() as c1, gw.client() as c2:
        c1.start()
        c2.start()
        check_reply(c1.cmd(auth_plain_cmd("alice@isp.test", "guess-1")),
                    535, what="first guess")
        check_reply(c2.cmd(auth_plain_cmd("alice@isp.test", "guess-2")),
                    535, what="second guess")
        for c in (c1, c2, c1):
            check_reply(c.cmd(auth_plain_cmd("alice@isp.test", PW)), 454,
                        "4.7.0", what="AUTH over the limit")
    fails = [e for e in up.events("AUTH") if e.get("result") == "fail"]
    check(len(fails) == 2, "want 2 AUTHs at the provider, got %r",
          up.events("AUTH"))
    check(not [e for e in up.events("AUTH") if e.get("result") == "ok"],
          "a locked-out AUTH reached the provider: %r", up.events("AUTH"))
    check(wait_for(lambda: "failures=2" in gw.log(), 2),
          "no failure count logged: %s", gw.log()[-3000:])
    # after the window the client (now with the right password) gets in
    t0 = time.monotonic()
    while True:
        with gw.client() as c:
            c.start()
            r = c.cmd(auth_plain_cmd("alice@isp.test", PW))
        if r.code == 235:
            break
        check_reply(r, 454, "4.7.0", what="while locked")
        check(time.monotonic() - t0 < 10, "still locked after 10 s")
        time.sleep(0.5)


def test_parallel_guesses_bounded():
    """Many connections guessing at once: every AUTH arrives before the
    first verdict, so a check that counted only verdicts let all of them
    through to the provider.  Attempts in flight count toward the limit:
    the provider sees at most auth_fail_limit of them; the rest get 454
    without being forwarded."""
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    gw = passthrough(up, gateway={"auth_fail_limit": "2",
                                  "auth_fail_window": "60s",
                                  "auth_fail_delay_max": "0s"})
    clients = [gw.client() for _ in range(6)]
    try:
        for c in clients:
            c.start()
        # all six AUTHs sent before any reply is read
        for i, c in enumerate(clients):
            c.send(("%s\r\n" % auth_plain_cmd("alice@isp.test",
                                               "guess-%d" % i)).encode())
        codes = sorted(c.reply(timeout=15).code for c in clients)
    finally:
        for c in clients:
            c.close()
    check(codes == [454, 454, 454, 454, 535, 535],
          "want two 535 and four 454, got %r", codes)
    fails = [e for e in up.events("AUTH") if e.get("result") == "fail"]
    check(len(fails) == 2, "want 2 failed AUTHs at the provider, got %r",
          up.events("AUTH"))
    check("inflight=" in gw.log(), "no lockout for attempts in flight "
          "logged: %s", gw.log()[-3000:])
    # the two verdicts are in: the address is now locked by its failures
    with gw.client() as c:
        c.start()
        check_reply(c.cmd(auth_plain_cmd("alice@isp.test", PW)), 454,
                    "4.7.0", what="locked after two failures")


def test_map_client_gone_before_hash():
    """Clients that reset their connection while their password is being
    hashed: each session ends once its verdict is in (it reads nothing
    while it waits), the result is not lost or used after free (run
    under ASan), and the gateway goes on serving."""
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    path = users_file(["app1:%s:alice@isp.test:%s"
                       % (make_hash("$y$", "local-one"), PW)])
    gw = Gateway(up, gateway={"auth_fail_limit": "0",
                              "auth_fail_delay_max": "0s"},
                 upstream_conf={"auth": "map", "users_file": path})
    for i in range(20):
        c = gw.client()
        c.start()
        c.send((auth_plain_cmd("app1", "wrong-%d" % i) + "\r\n").encode())
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        c.close()
    # 20, and the one the test harness opened to see the gateway up
    check(wait_for(lambda: gw.log().count("relay session closed") >= 21,
                   10), "the 20 sessions did not end: %s", gw.log()[-2000:])
    check(gw.log().count('user="app1" result=failed') >= 20,
          "verdicts missing: %s", gw.log()[-2000:])
    with gw.client() as c:
        c.start()
        check_reply(c.cmd(auth_plain_cmd("app1", "local-one")), 235,
                    what="AUTH after")


# 32 guessers in a separate process (no GIL shared with the measurer):
# each logs in with a wrong password again and again, reconnecting after
# the error limit's 421, until the deadline; prints its attempt count.
GUESSER = r"""
import base64, socket, sys, threading, time
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
line = b"AUTH PLAIN " + base64.b64encode(b"\0app1\0wrong") + b"\r\n"
deadline = time.monotonic() + secs
count = [0]
lock = threading.Lock()
def reply(f):
    while True:
        ln = f.readline()
        if not ln:
            raise EOFError
        if ln[3:4] != b"-":
            return ln
def one():
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            f = s.makefile("rb")
            reply(f)
            s.sendall(b"EHLO guesser.test\r\n")
            reply(f)
            while time.monotonic() < deadline:
                s.sendall(line)
                r = reply(f)
                with lock:
                    count[0] += 1
                if not r.startswith(b"535"):
                    break
            s.close()
        except (OSError, EOFError):
            pass
ts = [threading.Thread(target=one) for _ in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(count[0])
"""


def noop_rtts(c, secs):
    out = []
    end = time.monotonic() + secs
    while time.monotonic() < end:
        r, t = timed(c, "NOOP")
        check_reply(r, 250, what="NOOP")
        out.append(t)
        time.sleep(0.01)	# a sample every 10 ms keeps the log small
    return out


def test_hashing_off_the_loop():
    """32 parallel wrong-password clients under auth = map: with the
    yescrypt hashes on the event loop another client's NOOP waited for
    a queue of them (about 32 x 20 ms); off the loop it is answered
    while they run.  Bound: the NOOP's median under load stays under
    0.15 s or 10 times its median alone, whichever is larger; 16 hashes
    (half the guessers) on the loop would exceed it."""
    # valgrind runs one thread at a time, so a worker's hash holds the
    # loop there too: the claim is measurable only in the other builds
    gwtest.skip_under_valgrind("valgrind serialises threads: hashing on "
                               "a worker still stops the loop there")
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    y = make_hash("$y$", "local-one")
    path = users_file(["app1:%s:alice@isp.test:%s" % (y, PW)])
    # the probe client sends hundreds of NOOPs: above max_junk_commands
    gw = Gateway(up, gateway={"auth_fail_limit": "0",
                              "auth_fail_delay_max": "0s"},
                 listener={"max_junk_commands": "100000"},
                 upstream_conf={"auth": "map", "users_file": path})
    # the cost of one hash on this machine, measured as the gateway does
    t0 = time.monotonic()
    for _ in range(5):
        crypt.crypt("wrong", y)
    t_hash = (time.monotonic() - t0) / 5
    with gw.client() as c:
        c.start()
        base = statistics.median(noop_rtts(c, 1.0))
        g = subprocess.Popen([sys.executable, "-c", GUESSER, str(gw.port),
                              "32", "4"], stdout=subprocess.PIPE)
        try:
            time.sleep(0.5)	# let the guessers connect and start
            loaded = noop_rtts(c, 3.0)
            out, _ = g.communicate(timeout=60)
        finally:
            if g.poll() is None:
                g.kill()
                g.wait()
    attempts = int(out.strip() or 0)
    med = statistics.median(loaded)
    bound = max(0.15, 10 * base)
    print("hash %.1f ms, NOOP alone %.2f ms, under load median %.1f ms "
          "max %.1f ms (%d NOOPs), %d wrong logins in 4 s, bound %.0f ms"
          % (t_hash * 1e3, base * 1e3, med * 1e3, max(loaded) * 1e3,
             len(loaded), attempts, bound * 1e3))
    # the load was real: the guessers kept the hash workers busy
    check(attempts >= 32, "only %d guesses made", attempts)
    check(16 * t_hash > bound, "hashes too cheap here (%.1f ms) for the "
          "bound %.0f ms to tell", t_hash * 1e3, bound * 1e3)
    check(med < bound, "NOOP median %.1f ms under load (alone %.2f ms): "
          "the event loop is blocked", med * 1e3, base * 1e3)
    log = gw.log()
    check("result=failed" in log, "no failed logins logged")


if __name__ == "__main__":
    gwtest.main(globals())
