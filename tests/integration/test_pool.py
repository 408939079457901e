#!/usr/bin/python3
"""The upstream connection pool (issue 11, section 5), through the relay
against upstream.py (aiosmtpd) on loopback.

Connections are counted at the server: the distinct client addresses
(peer) of the EHLO events it recorded (a STARTTLS connection says EHLO
twice from the same peer).  Each transaction line says conn=new|reused
and carried=N right after resumed=; the tests read those too, but what
the upstream saw (EHLO, AUTH, QUIT, which account stored which message)
is the evidence that counts."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    check_same_bytes, config_text, log_fields,
                    sample_message, transaction, wait_for)
from test_auth_listener import (ACCOUNTS, auth_plain,  # noqa: E402
                                make_hash, users_file)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"


# ---------------------------------------------------------------- helpers

def connections(up):
    """Distinct upstream connections, in order of their first EHLO."""
    out = []
    for e in up.events("EHLO"):
        p = tuple(e["peer"])
        if p not in out:
            out.append(p)
    return out


def quits(up):
    """Peers that said QUIT, in order."""
    return [tuple(e["peer"]) for e in up.events("QUIT")]


def tx_lines(gw, start=0):
    """The fields of every transaction line from log offset start."""
    return [log_fields(ln) for ln in
            re.findall(r" relay client=.*$", gw.log()[start:], re.M)]


def wait_tx(gw, n, start=0):
    """Wait for n transaction lines from start; return them."""
    wait_for(lambda: len(tx_lines(gw, start)) >= n, 5)
    got = tx_lines(gw, start)
    check(len(got) >= n, "want %d transaction lines, got %d: %r", n,
          len(got), got)
    for t in got:
        check("conn" in t and "carried" in t,
              "no conn= / carried= on a transaction line: %r", t)
    return got


def conn_carried(lines):
    return [(t["conn"], int(t["carried"])) for t in lines]


def message(subject, marker=None):
    extra = b"X-Pool-Test: %s\r\n" % marker.encode() if marker else b""
    return sample_message(subject, extra=extra)


def deliver(gw, subject, auth=None, marker=None):
    """One client session, one message, QUIT; every reply checked (no 4xx
    anywhere).  auth: (user, password) for AUTH PLAIN.  Returns the
    message bytes."""
    msg = message(subject, marker)
    with gw.client() as c:
        c.start()
        if auth:
            check_reply(auth_plain(c, *auth), 235, what="AUTH " + auth[0])
        replies = transaction(c, SENDER, [RCPT], msg)
        check([r.code for r in replies] == [250, 250, 354, 250],
              "%s: want 250 250 354 250, got %r", subject, replies)
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    return msg


def by_subject(msgs):
    out = {}
    for m in msgs:
        s = re.search(rb"\r\nSubject: ([^\r]*)\r\n", m.data)
        check(s, "stored message without a Subject: %r", m)
        key = s.group(1).decode()
        check(key not in out, "message %r stored twice", key)
        out[key] = m
    return out


def fresh_upstream_log_quiet(up, seconds=0.3):
    """Let the upstream's event file settle (events of a close are written
    a moment after the client sees its reply)."""
    n = -1
    while n != len(up.events()):
        n = len(up.events())
        time.sleep(seconds)


# ------------------------------------------------------------------ tests

def test_version_says_upstream_pool():
    r = subprocess.run([gwtest.BIN, "--version"], capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    check(r.returncode == 0 and "upstream-pool" in r.stdout + r.stderr,
          "--version: %d %r", r.returncode, r.stdout + r.stderr)


@gwtest.timeout(150)
def test_hundred_sessions_few_connections():
    """100 one-message sessions in a row: every message byte-exact, at
    most pool_max_idle + 1 connections at the upstream, and the
    transaction lines say reused for all but the new ones."""
    up = Upstream("starttls")
    gw = Gateway(up)			# pool on by default, max_idle 4
    sent = {}
    for i in range(100):
        subj = "pool %03d" % i
        sent[subj] = deliver(gw, subj)
    got = by_subject(up.wait_messages(100))
    check(len(got) == 100, "want 100 messages, got %d", len(got))
    for subj, msg in sent.items():
        check(subj in got, "%s not delivered", subj)
        check_same_bytes(got[subj].data, msg, subj)
    conns = connections(up)
    check(1 <= len(conns) <= 5, "want 1..5 upstream connections "
          "(pool_max_idle + 1), the upstream saw %d", len(conns))
    lines = wait_tx(gw, 100)
    cc = conn_carried(lines)
    new = [x for x in cc if x[0] == "new"]
    check(len(new) == len(conns) and len(cc) - len(new) >= 95,
          "want %d conn=new (one per upstream connection) and the rest "
          "reused, got %r", len(conns), cc)
    check(cc[0] == ("new", 0), "first transaction: %r", cc[0])
    if len(conns) == 1:
        check([c for _, c in cc] == list(range(100)),
              "one connection: carried= should count 0..99: %r", cc)


@gwtest.timeout(150)
def test_map_concurrent_accounts_never_mixed():
    """auth = map, two local users mapped to two upstream accounts, four
    threads of ten sessions each alternating users: every message is
    stored under the account of the local user it names."""
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    local = {"app1": ("local-one", "alice@isp.test"),
             "app2": ("local-two", "bob@isp.test")}
    path = users_file(["%s:%s:%s:%s" % (u, make_hash("$6$", pw), acct,
                                       ACCOUNTS[acct])
                       for u, (pw, acct) in sorted(local.items())])
    gw = Gateway(up, upstream_conf={"auth": "map", "users_file": path})
    errors = []

    def worker(t):
        try:
            for i in range(10):
                user = "app1" if (t + i) % 2 == 0 else "app2"
                deliver(gw, "map %d.%d" % (t, i), marker=user,
                        auth=(user, local[user][0]))
        except Exception as e:		# reported by the main thread
            errors.append("thread %d: %s" % (t, e))

    threads = [threading.Thread(target=worker, args=(t,), daemon=True)
               for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60 * gwtest.TIME_SCALE)
    check(not any(th.is_alive() for th in threads), "a thread hung")
    check(not errors, "client errors: %s", "; ".join(errors))
    msgs = up.wait_messages(40)
    check(len(msgs) == 40, "want 40 messages, got %d", len(msgs))
    for m in msgs:
        mk = re.search(rb"\r\nX-Pool-Test: (app[12])\r\n", m.data)
        check(mk, "no marker in %r", m)
        want = local[mk.group(1).decode()][1]
        check(m.auth_user == want, "%r of %s stored under %r, want %r", m,
              mk.group(1), m.auth_user, want)
    oks = [e for e in up.events("AUTH") if e.get("result") == "ok"]
    lines = wait_tx(gw, 40)
    reused = [t for t in lines if t["conn"] == "reused"]
    check(reused, "no transaction reused a connection: %r",
          conn_carried(lines))
    check(len(oks) < 40, "every session authenticated anew upstream "
          "(%d AUTH)", len(oks))
    # every connection authenticated once, as one account
    per_peer = {}
    for e in oks:
        per_peer.setdefault(tuple(e["peer"]), []).append(e["user"])
    check(all(len(v) == 1 for v in per_peer.values()),
          "a connection authenticated more than once: %r", per_peer)


def idle_drop_case(extra):
    idle = 1.0 * gwtest.TIME_SCALE
    up = Upstream("starttls", extra=["--idle-close", str(idle)] + extra)
    gw = Gateway(up)
    m1 = deliver(gw, "before idle")
    check(wait_for(lambda: up.events("IDLE_CLOSE"), 5 + idle),
          "the upstream did not close the idle connection")
    # the gateway notices a dead idle connection when it becomes
    # readable; a session right now may still find it (then the retry
    # must hide it): either way the client sees 250
    time.sleep(0.5)
    m2 = deliver(gw, "after idle")
    got = by_subject(up.wait_messages(2))
    check(len(got) == 2, "want 2 messages, got %r", got)
    check_same_bytes(got["before idle"].data, m1, "first")
    check_same_bytes(got["after idle"].data, m2, "second")
    check(len(connections(up)) == 2, "want 2 upstream connections, got "
          "%r", connections(up))
    lines = wait_tx(gw, 2)
    check(conn_carried(lines) == [("new", 0), ("new", 0)],
          "conn/carried %r", conn_carried(lines))
    return gw


def test_upstream_drops_idle_connection():
    """The upstream closes an idle connection after a second: the next
    message gets 250, no 4xx, on a new connection."""
    idle_drop_case([])


def test_upstream_421_while_idle():
    """The upstream says 421 to an idle connection and closes it."""
    idle_drop_case(["--idle-close-reply", "421 4.4.2 Idle timeout"])


def test_421_to_mail_on_reused_connection_retried():
    """A reused connection answers MAIL with 421 (and closes): the client
    sees 250, the log says relay retry, the message is stored once."""
    up = Upstream("starttls", extra=["--mail-reply-reused",
                                     "421 4.3.2 Too many messages"])
    gw = Gateway(up)
    m1 = deliver(gw, "first")
    m2 = deliver(gw, "second")
    got = by_subject(up.wait_messages(2))
    check(sorted(got) == ["first", "second"], "stored %r", sorted(got))
    check_same_bytes(got["first"].data, m1, "first")
    check_same_bytes(got["second"].data, m2, "second")
    refused = up.events("MAIL_REUSED")
    check(len(refused) == 1, "want one MAIL refused on the reused "
          "connection, got %r", refused)
    check(len(connections(up)) == 2, "connections %r", connections(up))
    # "<id> relay retry upstream=H:P state=MAIL reason="..."": other
    # fields may come between
    check(gw.wait_log(r" relay retry upstream=127\.0\.0\.1:%d (\S+ )*"
                      r"reason=\"[^\"]+\"" % up.port),
          "no relay retry line: %s", gw.log()[-2000:])
    lines = wait_tx(gw, 2)
    check(conn_carried(lines) == [("new", 0), ("new", 0)],
          "conn/carried %r", conn_carried(lines))


def test_max_messages():
    """pool_max_messages = 3, seven sessions: three connections, carried=
    goes 0 1 2 0 1 2 0, and each full connection said QUIT."""
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"pool_max_messages": "3"})
    for i in range(7):
        deliver(gw, "max %d" % i)
    check(len(up.wait_messages(7)) == 7, "want 7 messages")
    lines = wait_tx(gw, 7)
    check([int(t["carried"]) for t in lines] == [0, 1, 2, 0, 1, 2, 0],
          "carried= %r", conn_carried(lines))
    check([t["conn"] for t in lines] ==
          ["new", "reused", "reused"] * 2 + ["new"],
          "conn= %r", conn_carried(lines))
    conns = connections(up)
    check(len(conns) == 3, "want 3 upstream connections, got %r", conns)
    check(wait_for(lambda: set(conns[:2]) <= set(quits(up)), 5),
          "the two full connections did not say QUIT: %r of %r",
          quits(up), conns)
    check(conns[2] not in quits(up), "the open connection said QUIT")
    for m in up.messages():
        check(m.meta["peer"] and tuple(m.meta["peer"]) in conns,
              "stored from an unknown peer: %r", m)
    # 3 messages on each of the first two connections
    per = [sum(1 for m in up.messages() if tuple(m.meta["peer"]) == c)
           for c in conns]
    check(per == [3, 3, 1], "messages per connection %r", per)


def test_min_idle_prewarms():
    """pool_min_idle = 1: the upstream sees a connection (EHLO) before any
    client sends mail; the first session takes it (conn=reused
    carried=0)."""
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"pool_min_idle": "1"})
    check(wait_for(lambda: len(connections(up)) >= 1, 10),
          "no pre-warmed connection at the upstream")
    check(not up.events("MAIL"), "MAIL before any client")
    fresh_upstream_log_quiet(up)
    before = connections(up)
    deliver(gw, "prewarmed")
    lines = wait_tx(gw, 1)
    check(conn_carried(lines) == [("reused", 0)],
          "first session: %r", conn_carried(lines))
    m = up.wait_messages(1)
    check(len(m) == 1 and tuple(m[0].meta["peer"]) in before,
          "the first message did not ride the pre-warmed connection: %r "
          "not in %r", m, before)


def test_sighup_changed_upstream():
    """SIGHUP with another upstream port: the old upstream's idle
    connection says QUIT; the next message goes to the new upstream on
    a new connection."""
    up1 = Upstream("starttls")
    up2 = Upstream("starttls")
    gw = Gateway(up1)
    deliver(gw, "to one")
    check(len(up1.wait_messages(1)) == 1, "not at the first upstream")
    check(not up1.events("QUIT"), "QUIT before the reload (pool off?)")
    mark = len(gw.log())
    gw.write_config(config_text(gw.port, up2.port,
                                gateway={"hostname": "gw.test",
                                         "log_level": "debug"}))
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"reload: new configuration in use", 10, start=mark),
          "no reload")
    check(wait_for(lambda: quits(up1), 5),
          "the old upstream's idle connection did not get QUIT")
    deliver(gw, "to two")
    check(len(up2.wait_messages(1)) == 1, "not at the second upstream")
    check(len(up1.messages()) == 1, "the old upstream got more mail")
    lines = wait_tx(gw, 1, mark)
    check(lines[-1]["upstream"] == "127.0.0.1:%d" % up2.port and
          lines[-1]["conn"] == "new", "after reload: %r", lines[-1])


def test_sigterm_quits_idle_connections():
    """Two idle connections at SIGTERM: both say QUIT, smtpgate exits 0
    within a few seconds."""
    up = Upstream("starttls")
    gw = Gateway(up)
    # two sessions in a transaction at once: two connections
    c1, c2 = gw.client(), gw.client()
    try:
        for c in (c1, c2):
            c.start()
            check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250, what="MAIL")
        for i, c in enumerate((c1, c2)):
            check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250, what="RCPT")
            r = c.data(sample_message("term %d" % i))
            check_reply(r, 250, what="end of DATA")
            check_reply(c.cmd("QUIT"), 221, what="QUIT")
    finally:
        c1.close()
        c2.close()
    check(len(up.wait_messages(2)) == 2, "want 2 messages")
    conns = connections(up)
    check(len(conns) == 2, "want two upstream connections, got %r", conns)
    check(not quits(up), "QUIT before SIGTERM: %r", quits(up))
    gw.exit_expected = True
    t0 = time.monotonic()
    gw.signal(signal.SIGTERM)
    check(wait_for(lambda: gw.proc.poll() is not None, 5),
          "smtpgate did not exit within 5 s of SIGTERM")
    dt = time.monotonic() - t0
    check(gw.proc.returncode == 0, "exit status %s", gw.proc.returncode)
    check(wait_for(lambda: sorted(quits(up)) == sorted(conns), 3),
          "idle connections without QUIT: saw %r of %r", quits(up), conns)
    print("     (exit %.2fs after SIGTERM)" % dt)


def test_sigterm_while_give_back_rset_in_flight():
    """SIGTERM while a connection's give-back RSET waits for its reply
    (the upstream answers RSET, and then QUIT, after half a second each;
    it does not pipeline, so the RSET goes at give-back): QUIT follows
    the RSET, the gateway waits for QUIT's own reply (it once closed at
    the RSET's 250, so a server could miss the QUIT), and smtpgate exits
    0."""
    delay = 0.5 * gwtest.TIME_SCALE
    up = Upstream("starttls", extra=["--delay-at", "RSET=%g" % delay,
                                     "--delay-at", "QUIT=%g" % delay,
                                     "--reused-only", "--no-pipelining"])
    gw = Gateway(up)
    deliver(gw, "before term")
    check(wait_for(lambda: up.events("RSET"), 5),
          "no give-back RSET at the upstream")
    gw.exit_expected = True
    gw.signal(signal.SIGTERM)
    check(wait_for(lambda: gw.proc.poll() is not None, 5 + delay),
          "smtpgate did not exit after SIGTERM")
    check(gw.proc.returncode == 0, "exit status %s", gw.proc.returncode)
    conns = connections(up)
    check(wait_for(lambda: quits(up) == conns, 3),
          "the upstream saw no QUIT after the RSET: %r (connections %r)",
          up.events()[-4:], conns)
    check(not up.events("QUIT_CUT"), "smtpgate closed before the reply "
          "to its QUIT: %r", up.events()[-4:])


def test_pool_off():
    """pool = no: every session its own connection, each with QUIT."""
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"pool": "no"})
    for i in range(3):
        deliver(gw, "nopool %d" % i)
    check(len(up.wait_messages(3)) == 3, "want 3 messages")
    conns = connections(up)
    check(len(conns) == 3, "want 3 connections, got %r", conns)
    check(wait_for(lambda: sorted(quits(up)) == sorted(conns), 5),
          "want QUIT on each: %r of %r", quits(up), conns)
    check(not up.events("RSET"), "RSET with pool = no: %r",
          up.events("RSET"))
    lines = wait_tx(gw, 3)
    check(conn_carried(lines) == [("new", 0)] * 3, "conn/carried %r",
          conn_carried(lines))


def test_passthrough_reuse_needs_same_credentials():
    """auth = passthrough: a second session with the same credentials
    reuses the connection (one AUTH at the upstream); a wrong password is
    tried upstream (and refused) and never gets the pooled connection;
    another account gets a connection of its own."""
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    gw = Gateway(up, upstream_conf={"auth": "passthrough"})
    alice = ("alice@isp.test", ACCOUNTS["alice@isp.test"])
    deliver(gw, "alice 1", auth=alice)
    deliver(gw, "alice 2", auth=alice)
    oks = [e for e in up.events("AUTH") if e.get("result") == "ok"]
    check(len(oks) == 1, "want one AUTH upstream for two sessions, got %r",
          oks)
    check(len(connections(up)) == 1, "connections %r", connections(up))
    pooled = connections(up)[0]
    with gw.client() as c:
        c.start()
        r = auth_plain(c, "alice@isp.test", "not-her-password")
        check_reply(r, 535, what="wrong password")
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 530,
                    what="MAIL after a refused AUTH")
    fails = [e for e in up.events("AUTH") if e.get("result") == "fail"]
    check(len(fails) == 1 and tuple(fails[0]["peer"]) != pooled,
          "want the wrong password refused upstream on another "
          "connection: %r", fails)
    bob = ("bob@isp.test", ACCOUNTS["bob@isp.test"])
    deliver(gw, "bob 1", auth=bob)
    deliver(gw, "alice 3", auth=alice)
    got = by_subject(up.wait_messages(4))
    for subj, user in (("alice 1", alice[0]), ("alice 2", alice[0]),
                       ("bob 1", bob[0]), ("alice 3", alice[0])):
        check(subj in got and got[subj].auth_user == user,
              "%s stored under %r, want %r", subj,
              got.get(subj) and got[subj].auth_user, user)
    check(tuple(got["alice 3"].meta["peer"]) == pooled,
          "alice's third message not on her pooled connection")
    # the identity's proof comes from the password: never in a log line
    log = gw.log()
    check('as="pass:alice@isp.test:***"' in log,
          "no redacted as= line for alice in the log")
    leaked = re.findall(r"pass:[^\s\"]*:[0-9a-f]{16,}", log)
    check(not leaked, "passthrough proof in the log: %r", leaked[:3])
    check(tuple(got["bob 1"].meta["peer"]) != pooled,
          "bob's message on alice's connection")
    lines = wait_tx(gw, 4)
    check(conn_carried(lines) == [("new", 0), ("reused", 1), ("new", 0),
                                  ("reused", 2)],
          "conn/carried %r", conn_carried(lines))


def test_resumption_with_pool_on():
    """With the pool on and one message per connection
    (pool_max_messages = 1), every connection is new and the second and
    third resume the first's TLS session."""
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"pool_max_messages": "1",
                                    "tls_resume": "yes"})
    for i in range(3):
        deliver(gw, "resume %d" % i)
    lines = wait_tx(gw, 3)
    got = [(t["conn"], t["resumed"]) for t in lines]
    check(got == [("new", "no"), ("new", "yes"), ("new", "yes")],
          "conn/resumed %r", got)
    check(len(connections(up)) == 3, "connections %r", connections(up))


def reused_fault_case(at):
    """The upstream drops a reused connection at `at` (RCPT, or DATA: after
    the whole body was read, before the reply to the final dot), after
    MAIL's 250: no retry, the client gets a 4xx (never a 250 for a message
    the upstream did not accept), nothing is stored, the message went
    upstream at most once; the next session delivers on a new
    connection."""
    up = Upstream("starttls", extra=["--drop-at", at, "--reused-only"])
    gw = Gateway(up)
    m1 = deliver(gw, "first")
    mark = len(gw.log())
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], message("dropped"))
        codes = [r.code for r in replies]
        # RCPT: MAIL 250, RCPT 4xx (transaction() stops there); DATA:
        # 250 250 354, then a 4xx to the final dot
        want = [250] if at == "RCPT" else [250, 250, 354]
        check(len(codes) == len(want) + 1 and codes[:-1] == want and
              400 <= codes[-1] < 500,
              "want %r then a 4xx, never a 250 the upstream did not give: "
              "%r", want, replies)
        check_reply(c.cmd("RSET"), 250, what="RSET after the failure")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    check(len(up.events("DROP")) == 1, "drops %r", up.events("DROP"))
    check(not re.search(r" relay retry ", gw.log()[mark:]),
          "retried after MAIL's 250: %s", gw.log()[mark:][-2000:])
    if at == "DATA":
        check(len(up.events("DATA")) == 2, "the message went upstream "
              "again: %r", up.events("DATA"))
    m3 = deliver(gw, "third")
    got = by_subject(up.wait_messages(2))
    check(sorted(got) == ["first", "third"], "stored %r", sorted(got))
    check_same_bytes(got["first"].data, m1, "first")
    check_same_bytes(got["third"].data, m3, "third")
    check(len(connections(up)) == 2, "connections %r", connections(up))
    lines = wait_tx(gw, 2)
    check(conn_carried(lines)[-1] == ("new", 0), "after the drop: %r",
          conn_carried(lines))


def test_reused_connection_lost_at_rcpt_not_retried():
    reused_fault_case("RCPT")


def test_reused_connection_lost_after_dot_not_retried():
    reused_fault_case("DATA")


def test_connection_whose_rset_fails_not_reused():
    """The upstream (pipelining) answers the RSET that leads the next
    MAIL on a reused connection with an error: that connection is
    dropped before anything of the transaction was accepted, the
    message goes out on a new connection, and the client sees only its
    250."""
    up = gwtest.FaultUpstream("wrong-reply", count=1,
                              extra=["--at", "RSET", "--reply",
                                     "554 5.5.1 Not today"])
    gw = Gateway(up)
    m1 = deliver(gw, "first")
    time.sleep(0.3 * gwtest.TIME_SCALE)
    cmds = [e["line"].upper() for e in up.events("cmd", conn=1)]
    check(not any(x.startswith("RSET") for x in cmds),
          "RSET at give-back towards a pipelining upstream: %r", cmds)
    m2 = deliver(gw, "second")
    got = up.messages()
    check(len(got) == 2, "want 2 messages, got %d", len(got))
    check_same_bytes(got[0], m1, "first")
    check_same_bytes(got[1], m2, "second")
    cmds = [e["line"].upper() for e in up.events("cmd", conn=1)]
    check([x[:4] for x in cmds[-2:]] == ["RSET", "MAIL"],
          "want RSET leading the reused MAIL on connection 1: %r", cmds)
    check(sum(x.startswith("DATA") for x in cmds) == 1,
          "DATA on the connection whose RSET failed: %r", cmds)
    check(up.events("connect", conn=2), "no new connection")


def test_rset_leads_next_mail_when_pipelining():
    """Towards a pipelining upstream a given-back connection sends no RSET
    at once: the RSET goes with the next MAIL, in one write, and that
    message is delivered on the same connection."""
    up = Upstream("starttls")
    gw = Gateway(up)
    deliver(gw, "first")
    time.sleep(0.3 * gwtest.TIME_SCALE)
    check(not up.events("RSET"), "RSET at give-back: %r", up.events("RSET"))
    deliver(gw, "second")
    check(len(up.wait_messages(2)) == 2, "want 2 messages")
    check(len(connections(up)) == 1, "want one connection, got %r",
          connections(up))
    check(len(up.events("RSET")) == 1, "want one RSET: %r",
          up.events("RSET"))
    lines = wait_tx(gw, 2)
    check(conn_carried(lines) == [("new", 0), ("reused", 1)],
          "conn/carried %r", conn_carried(lines))


if __name__ == "__main__":
    gwtest.main(globals())
