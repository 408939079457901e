#!/usr/bin/python3
"""Logs (issue 14 section 2): log_format = json writes one JSON object per
line with the fields of the text form; every refused recipient and every
message the gateway refused has an info line with the addresses and the
reply, in both forms; log_target = syslog without a syslog socket says
so and logs to stderr."""

import json
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    free_port, json_log_line, sample_message, transaction,
                    wait_for)

SENDER = "app@example.test"
RCPT = "ok@example.test"
REFUSED = "reject-me@example.test"
# hostile text in an address: a quote, a backslash, an 8-bit octet that
# is not UTF-8; the gateway refuses it (syntax) and logs it as written
HOSTILE = b'RCPT TO:<"x\\"y"\xff@example.test> FOO=1'


def json_lines(gw):
    """Every line of gw's log as a dict; fails on any that is not one."""
    out = []
    for n, ln in enumerate(gw.log_raw().splitlines(), 1):
        obj, why = json_log_line(ln)
        check(obj is not None, "line %d of the log is not a JSON log line "
              "(%s): %r", n, why, ln)
        out.append(obj)
    return out


def wait_disconnect(gw):
    """Until the traffic session's own disconnect line is written: the
    harness's start-up connection has one too (and a QUIT), which may
    come first.  A line still being written is skipped, not failed."""
    def done():
        objs = []
        for ln in gw.log_raw().splitlines():
            try:
                objs.append(json.loads(ln))
            except ValueError:
                pass
        tx = [o for o in objs if o.get("event") == "relay"]
        return bool(tx) and any(o.get("event") == "disconnect" and
                                o.get("session") == tx[0].get("session")
                                for o in objs)
    check(wait_for(done, 5 * gwtest.TIME_SCALE),
          "no disconnect line for the traffic's session")


def find(lines, what, **want):
    """The lines whose fields have the wanted values."""
    return [o for o in lines if all(o.get(k) == v for k, v in want.items())]


def one(lines, what, **want):
    got = find(lines, what, **want)
    check(len(got) >= 1, "no %s line with %r in the log:\n%s", what, want,
          "\n".join(json.dumps(o) for o in lines[-30:]))
    return got[0]


def traffic(gw):
    """A relayed message with a refused recipient, a message the gateway
    refuses (bare LF), a hostile refused recipient, a NUL, a refused
    MAIL parameter."""
    with gw.client() as c:
        c.start()
        rs = transaction(c, SENDER, [RCPT, REFUSED], sample_message("logs"))
        check_reply(rs[1], 250, what="RCPT ok")
        check_reply(rs[2], 550, "5.1.1", what="RCPT refused upstream")
        check_reply(rs[-1], 250, what="end of DATA")
        # bare LF inside the body: 550 from the gateway itself
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250, what="MAIL")
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250, what="RCPT")
        check_reply(c.cmd("DATA"), 354, what="DATA")
        c.send(b"Subject: x\r\n\r\nbare\nline feed\r\n.\r\n")
        check_reply(c.reply(), 550, "5.6.0", what="bare LF")
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 250, what="MAIL")
        c.send(HOSTILE + b"\r\n")
        r = c.reply()
        check(r.code >= 500, "hostile RCPT not refused: %r", r)
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250, what="RCPT")
        check_reply(c.cmd("DATA"), 354, what="DATA")
        c.send(b"Subject: x\r\n\r\nnul \x00 here\r\n.\r\n")
        check_reply(c.reply(), 550, "5.6.0", what="NUL")
        check_reply(c.cmd("MAIL FROM:<%s> FOO=1" % SENDER), 555,
                    what="MAIL with an unknown parameter")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")


def tls_failure(up_port):
    """A gateway whose upstream's certificate names another host: MAIL
    gets 4xx; returns the gateway (stopped by the runner)."""
    gw = Gateway(None, gateway={"log_format": "json"},
                 upstream_conf={"port": str(up_port)})
    with gw.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check(400 <= r.code < 500, "MAIL over a failed TLS upstream: %r", r)
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    return gw


@gwtest.timeout(180)		# the first test makes the run's PKI
def test_json_fields():
    up = Upstream("starttls")
    gw = Gateway(up, gateway={"log_format": "json"})
    traffic(gw)
    wait_disconnect(gw)
    lines = json_lines(gw)
    port = ":%d" % up.port
    tx = one(lines, "relay", event="relay", status="sent")
    for k, t in (("session", str), ("client", str), ("from", str),
                 ("rcpts", int), ("size", int), ("upstream", str),
                 ("tls", str), ("resumed", bool), ("conn", str),
                 ("reply", str), ("duration", float)):
        check(isinstance(tx.get(k), t), "relay line: %s not a %s: %r",
              k, t.__name__, tx)
    check(tx["from"] == SENDER and tx["rcpts"] == 1 and
          tx["client"] == "127.0.0.1" and tx["upstream"].endswith(port) and
          tx["tls"].startswith("TLSv1.") and
          tx["reply"].startswith("250 ") and tx["level"] == "info",
          "relay line: %r", tx)
    sid = tx["session"]
    rr = one(lines, "refused recipient", event="relay rcpt refused",
             to=REFUSED)
    check(rr["session"] == sid and rr["by"] == "upstream" and
          rr["from"] == SENDER and rr["status"] == "refused" and
          rr["reply"] == "550 5.1.1 No such user" and rr["level"] == "info",
          "refused recipient line: %r", rr)
    # each recipient the upstream took, with the transaction's result
    d = one(lines, "recipient result", event="relay rcpt done",
            status="sent")
    check(d["session"] == sid and d["to"] == RCPT and d["level"] == "info",
          "recipient result line: %r", d)
    bl = one(lines, "bare LF", event="smtp message refused",
             reason="bare-newline")
    check(bl["session"] == sid and bl["by"] == "gateway" and
          bl["from"] == SENDER and bl["rcpts"] == 1 and
          bl["reply"] == "550 5.6.0 Message contains bare CR or LF",
          "bare LF line: %r", bl)
    one(lines, "NUL", event="smtp message refused", reason="nul")
    h = one(lines, "hostile", event="smtp rcpt refused", session=sid)
    check(h["to"] == '"x\\"y"\ufffd@example.test',
          "hostile address not carried as written (8-bit as U+FFFD): %r",
          h["to"])
    one(lines, "MAIL refused", event="smtp mail refused", **{
        "from": SENDER, "reply": "555 5.5.4 Unsupported MAIL parameter"})
    t = one(lines, "upstream TLS", event="tls", session=sid)
    check(t["upstream"].endswith(port) and t["version"] == tx["tls"][:7] and
          t["cipher"] and t["verify"] == "verified",
          "upstream tls line: %r", t)
    one(lines, "connect", event="connect", session=sid, **{
        "from": "127.0.0.1"})
    one(lines, "disconnect", event="disconnect", session=sid)
    # free-text lines: "msg", and the session when they have one
    one(lines, "ready", msg="ready")
    check(all("session" not in o or re.fullmatch(r"[0-9a-f]{16}",
                                                 o["session"])
              for o in lines), "a session id that is not 16 hex digits")
    # the TLS failure: its class on the failure line, the MAIL refused
    bad = Upstream("starttls", cert="wrongname")
    gw2 = tls_failure(bad.port)
    check(gw2.wait_log(r"mail refused", 5), "no refusal after TLS failure")
    lines2 = json_lines(gw2)
    f = one(lines2, "upstream failure", event="relay", failed=True)
    check(f["level"] == "warning" and f["class"] and f["reason"],
          "failure line: %r", f)
    m = one(lines2, "MAIL refused (TLS)", event="relay mail refused",
            by="gateway")
    check(m["from"] == SENDER and m["reply"].startswith("4") and
          f["class"] in m["reply"] and m["status"] == "deferred",
          "MAIL refused after the TLS failure: %r", m)


def test_text_refusals():
    up = Upstream("starttls")
    gw = Gateway(up, gateway={"log_format": "text"})
    traffic(gw)
    # every line looked for below comes before the client's QUIT
    check(gw.wait_log(r"disconnect", 5), "no disconnect line")
    log = gw.log()
    for rx in (
            r"info: [0-9a-f]{16} relay rcpt refused by=upstream "
            r"client=127\.0\.0\.1 from=<%s> to=<%s> "
            r"reply=\"550 5\.1\.1 No such user\" status=refused$"
            % (SENDER, REFUSED),
            r"info: [0-9a-f]{16} smtp message refused by=gateway "
            r"client=127\.0\.0\.1 from=<%s> rcpts=1 size=\d+ "
            r"reason=bare-newline reply=\"550 5\.6\.0 Message contains bare "
            r"CR or LF\" status=refused$" % SENDER,
            r"info: [0-9a-f]{16} smtp message refused .* reason=nul ",
            r"info: [0-9a-f]{16} smtp rcpt refused by=gateway .*"
            r"to=<\\\"x\\\\\\\"y\\\"\\xff@example\.test> reply=\"5",
            r"info: [0-9a-f]{16} smtp mail refused by=gateway "
            r"client=127\.0\.0\.1 from=<%s> reply=\"555 5\.5\.4 "
            r"Unsupported MAIL parameter\" status=refused$" % SENDER,
            r"info: [0-9a-f]{16} relay client=127\.0\.0\.1 from=<%s> "
            r"rcpts=1 .* reply=\"250 .*\" status=sent duration=" % SENDER,
            r"info: [0-9a-f]{16} relay rcpt done to=<%s> status=sent$"
            % RCPT):
        check(re.search(rx, log, re.M), "no line matching %s in:\n%s", rx,
              log)
    check("{" not in log, "a JSON line in a text log")
    # a MAIL refused because the upstream cannot be reached
    gw2 = Gateway(None, upstream_conf={"port": str(free_port())})
    with gw2.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check(400 <= r.code < 500, "MAIL without an upstream: %r", r)
    check(gw2.wait_log(r"relay mail refused by=gateway client=127\.0\.0\.1 "
                       r"from=<%s> reply=\"4\d\d " % SENDER, 5),
          "no refusal line for a MAIL without an upstream")


def test_syslog_without_socket():
    if os.path.exists("/dev/log"):
        raise gwtest.TestSkip("this machine has /dev/log")
    up = Upstream("starttls")
    gw = Gateway(up, gateway={"log_target": "syslog"})
    check(gw.wait_log(r"warning: log_target = syslog, but /dev/log: .*: "
                      r"logging to stderr instead", 5),
          "no warning about the missing syslog socket")
    check(gw.wait_log(r"info: ready", 5), "no lines on stderr after it")
    r = subprocess.run([gwtest.BIN, "-t", "-c", gw.path], capture_output=True,
                       text=True, timeout=30 * gwtest.TIME_SCALE)
    check(r.returncode == 0 and re.search(
        r"warning: log_target = syslog, but /dev/log: .*would log to "
        r"stderr", r.stderr), "-t: %d %r", r.returncode, r.stderr)


if __name__ == "__main__":
    gwtest.main(globals())
