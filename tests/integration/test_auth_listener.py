#!/usr/bin/python3
"""Listener-side AUTH: auth = passthrough (the client's credentials are
tried on the upstream, whose verdict is the client's reply) and auth = map
(the client is checked against users_file, and mail goes upstream under
the mapped account).  The upstream is upstream.py with accounts; it
records which account authenticated each stored message."""

import base64
import ctypes
import os
import re
import signal
import subprocess
import sys
import warnings

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    sample_message, transaction, free_port, newdir, BIN)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # noqa: E402  (Debian's python3.11 still has it)

RCPT = "rcpt@example.test"
ACCOUNTS = {"alice@isp.test": "alice-Up-pw", "bob@isp.test": "bob:Up pw"}


def b64(data):
    return base64.b64encode(data).decode()


def plain(user, pw):
    return b64(b"\0" + user.encode() + b"\0" + pw.encode())


def make_hash(prefix, pw):
    """A crypt(3) hash made now: "$y$" (yescrypt) or "$6$" (sha512)."""
    lc = ctypes.CDLL("libcrypt.so.1")
    lc.crypt_gensalt.restype = ctypes.c_char_p
    lc.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong,
                                 ctypes.c_char_p, ctypes.c_int]
    salt = lc.crypt_gensalt(prefix.encode(), 0, None, 0)
    check(salt is not None, "crypt_gensalt(%s) failed", prefix)
    h = crypt.crypt(pw, salt.decode())
    check(h is not None and h.startswith(prefix), "crypt gave %r", h)
    return h


def auth_plain(c, user, pw):
    return c.cmd("AUTH PLAIN " + plain(user, pw))


def auth_login(c, user, pw):
    r = c.cmd("AUTH LOGIN")
    check_reply(r, 334, what="AUTH LOGIN")
    check(r.lines == ["VXNlcm5hbWU6"], "want 334 Username:, got %r", r)
    r = c.cmd(b64(user.encode()))
    check_reply(r, 334, what="LOGIN user")
    check(r.lines == ["UGFzc3dvcmQ6"], "want 334 Password:, got %r", r)
    return c.cmd(b64(pw.encode()))


def send_one(c, subject):
    replies = transaction(c, "sender@example.test", [RCPT],
                          sample_message(subject))
    check(len(replies) == 4, "transaction stopped early: %r", replies)
    check_reply(replies[-1], 250, what="end of DATA")


def by_subject(up, n):
    out = {}
    for m in up.wait_messages(n):
        for ln in m.data.split(b"\r\n"):
            if ln.startswith(b"Subject: "):
                out[ln[9:].decode()] = m
    return out


def passthrough_gateway(up, **upconf):
    conf = {"auth": "passthrough"}
    conf.update(upconf)
    return Gateway(up, upstream_conf=conf)


def test_passthrough_two_accounts():
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    gw = passthrough_gateway(up)
    with gw.client() as c1, gw.client() as c2:
        r = c1.start()
        check(r.keywords.get("AUTH") == ["PLAIN", "LOGIN"],
              "EHLO: want AUTH PLAIN LOGIN, got %r", r)
        c2.start()
        check_reply(auth_plain(c1, "alice@isp.test", ACCOUNTS[
            "alice@isp.test"]), 235, what="alice AUTH PLAIN")
        check_reply(auth_login(c2, "bob@isp.test", ACCOUNTS["bob@isp.test"]),
                    235, what="bob AUTH LOGIN")
        send_one(c1, "from alice")
        send_one(c2, "from bob")
        # a second message rides on the same authenticated connection
        send_one(c1, "alice again")
    msgs = by_subject(up, 3)
    for subj, user in (("from alice", "alice@isp.test"),
                       ("from bob", "bob@isp.test"),
                       ("alice again", "alice@isp.test")):
        check(subj in msgs, "message %r missing: %r", subj, msgs)
        check(msgs[subj].auth_user == user, "%r stored under %r, want %r",
              subj, msgs[subj].auth_user, user)
    log = gw.log()
    check('relay auth mode=passthrough user="alice@isp.test" result=ok'
          in log, "no auth log line for alice: %s", log[-3000:])


def test_passthrough_refused_message_keeps_session():
    # passthrough spools (no stream): a message the gateway refuses leaves
    # the authenticated upstream connection in step for the next one
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    gw = passthrough_gateway(up)
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "alice@isp.test", ACCOUNTS[
            "alice@isp.test"]), 235, what="alice AUTH PLAIN")
        check_reply(c.cmd("MAIL FROM:<sender@example.test>"), 250)
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250)
        check_reply(c.cmd("DATA"), 354)
        c.send(b"Subject: bad\r\n\r\nbare\nline\r\n.\r\n")
        check_reply(c.reply(), 550, "5.6.0", what="bare LF")
        send_one(c, "after the refusal")
    msgs = by_subject(up, 1)
    check(list(msgs) == ["after the refusal"], "stored: %r", list(msgs))


def test_passthrough_wrong_password():
    # every mechanism offered, auth_fallback at its default (yes)
    up = Upstream("starttls", auth={"users": ACCOUNTS, "mechs": [
        "PLAIN", "LOGIN", "CRAM-MD5"]})
    gw = passthrough_gateway(up)
    with gw.client() as c:
        c.start()
        r = auth_plain(c, "alice@isp.test", "not-her-password")
        # the upstream's own refusal, code, enhanced code and text
        check_reply(r, 535, "5.7.8", what="wrong password")
        check("Authentication credentials invalid" in r.text,
              "want aiosmtpd's 535 text, got %r", r)
        # no fallback in passthrough: one wrong password is one failed
        # login at the provider, not one per mechanism
        fails = [e for e in up.events("AUTH") if e.get("result") == "fail"]
        check(len(fails) == 1 and fails[0].get("user") == "alice@isp.test",
              "want one refused AUTH for alice, got %r", up.events("AUTH"))
        check(not [e for e in up.events("AUTH") if e.get("result") == "ok"],
              "upstream accepted a wrong password: %r", up.events("AUTH"))
        check_reply(c.cmd("MAIL FROM:<s@example.test>"), 530, "5.7.0",
                    what="MAIL after a failed AUTH")
        # the client may try again, and then mail goes through
        check_reply(auth_plain(c, "alice@isp.test",
                               ACCOUNTS["alice@isp.test"]), 235,
                    what="second try")
        send_one(c, "after retry")
    check(up.wait_messages(1)[0].auth_user == "alice@isp.test",
          "message not under alice: %r", up.messages())
    check('user="alice@isp.test" result=failed' in gw.log(),
          "no failure log line: %s", gw.log()[-3000:])


def test_mail_without_auth():
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    gw = passthrough_gateway(up)
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<s@example.test>"), 530, "5.7.0",
                    what="MAIL before AUTH")
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 503, what="RCPT")
        check_reply(c.cmd("AUTH CRAM-MD5"), 504, "5.5.4",
                    what="unoffered mechanism")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    check(not up.events(), "upstream contacted without AUTH: %r",
          up.events())


def test_passthrough_never_cleartext():
    # starttls-optional, and the upstream offers no STARTTLS; only the
    # mechanisms that would carry the password itself are offered
    up = Upstream("plain", auth={"users": ACCOUNTS,
                                 "mechs": ["PLAIN", "LOGIN"]})
    gw = passthrough_gateway(up, tls="starttls-optional")
    with gw.client() as c:
        c.start()
        r = auth_plain(c, "alice@isp.test", ACCOUNTS["alice@isp.test"])
        check(r.code in range(400, 600) and r.code != 235,
              "want a refusal, got %r", r)
        check_reply(r, 454, "4.7.0", what="AUTH without TLS upstream")
    check(gw.wait_log(r"relay auth mode=passthrough user=\"alice@isp.test\""
                      r" result=failed"), "no failure logged: %s",
          gw.log()[-3000:])
    check(not up.events("AUTH"), "the upstream saw AUTH in cleartext: %r",
          up.events("AUTH"))


def test_passthrough_unreachable():
    gw = Gateway(None, upstream_conf={"auth": "passthrough",
                                      "port": str(free_port())})
    with gw.client() as c:
        c.start()
        r = auth_plain(c, "alice@isp.test", "pw")
        check_reply(r, 454, "4.7.0", what="AUTH, upstream down")


def users_file(lines, mode=0o600):
    d = newdir("users")
    path = os.path.join(d, "users")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, mode)
    return path


def map_users():
    return users_file([
        "# local users of the map test",
        "",
        "app1:%s:alice@isp.test:%s" % (make_hash("$y$", "local-one"),
                                       ACCOUNTS["alice@isp.test"]),
        "app2:%s:bob@isp.test:%s" % (make_hash("$6$", "local-two"),
                                     ACCOUNTS["bob@isp.test"]),
    ])


def test_map_good_and_bad():
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    # the verdicts are asserted here, the delays in test_auth_guard: at
    # the default delays the three failures would cost 1 + 2 + 4 s
    gw = Gateway(up, gateway={"auth_fail_delay_max": "0s"},
                 upstream_conf={"auth": "map", "users_file": map_users()})
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "app1", "wrong"), 535, "5.7.8",
                    what="bad local password")
        check_reply(auth_plain(c, "nobody", "local-one"), 535, "5.7.8",
                    what="unknown user")
        # the upstream's password is not the local one
        check_reply(auth_plain(c, "app1", ACCOUNTS["alice@isp.test"]), 535,
                    "5.7.8", what="upstream password as local one")
        check_reply(c.cmd("MAIL FROM:<s@example.test>"), 530, "5.7.0",
                    what="MAIL after failures")
        check_reply(auth_plain(c, "app1", "local-one"), 235,
                    what="yescrypt user")
        send_one(c, "via app1")
    check(not up.events("AUTH") or all(
        e.get("user") == "alice@isp.test" for e in up.events("AUTH")
        if "user" in e), "unexpected upstream AUTH: %r", up.events("AUTH"))
    with gw.client() as c:
        c.start()
        check_reply(auth_login(c, "app2", "local-two"), 235,
                    what="sha512-crypt user")
        send_one(c, "via app2")
    msgs = by_subject(up, 2)
    check(msgs["via app1"].auth_user == "alice@isp.test",
          "app1's message under %r", msgs["via app1"].auth_user)
    check(msgs["via app2"].auth_user == "bob@isp.test",
          "app2's message under %r", msgs["via app2"].auth_user)
    log = gw.log()
    check('relay auth mode=map user="app1" result=failed' in log and
          'relay auth mode=map user="app2" result=ok' in log,
          "auth log lines missing: %s", log[-3000:])


def test_map_upstream_refuses():
    # the mapped upstream password is wrong: 451, the message is kept
    up = Upstream("starttls", auth={"users": {"alice@isp.test": "other"}})
    path = users_file(["app1:%s:alice@isp.test:stale-secret"
                       % make_hash("$y$", "local-one")])
    gw = Gateway(up, upstream_conf={"auth": "map", "users_file": path})
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "app1", "local-one"), 235, what="AUTH")
        r = c.cmd("MAIL FROM:<s@example.test>")
        check_reply(r, 451, "4.7.0", what="MAIL, upstream AUTH failed")
    check(not up.messages(), "message stored: %r", up.messages())


def test_map_reload():
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    y = make_hash("$y$", "local-one")
    path = users_file(["app1:%s:alice@isp.test:%s"
                       % (y, ACCOUNTS["alice@isp.test"])])
    gw = Gateway(up, upstream_conf={"auth": "map", "users_file": path})
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "app3", "local-three"), 535, "5.7.8",
                    what="app3 before the reload")
    # a new user: SIGHUP reads the file again
    with open(path, "a") as f:
        f.write("app3:%s:bob@isp.test:%s\n" % (
            make_hash("$6$", "local-three"), ACCOUNTS["bob@isp.test"]))
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"reload: new configuration in use", start=mark),
          "no reload: %s", gw.log()[mark:])
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "app3", "local-three"), 235,
                    what="app3 after the reload")
        send_one(c, "via app3")
    check(by_subject(up, 1)["via app3"].auth_user == "bob@isp.test",
          "app3's message not under bob: %r", up.messages())
    # a broken file: reported with its line, the running table is kept
    with open(path, "a") as f:
        f.write("app1:%s:x@isp.test:s\n" % y)
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"%s:3: duplicate user app1" % re.escape(path),
                      start=mark), "duplicate not reported: %s",
          gw.log()[mark:])
    check(gw.wait_log(r"keeping the running configuration", start=mark),
          "broken file not refused: %s", gw.log()[mark:])
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "app3", "local-three"), 235,
                    what="app3 after a failed reload")


def run_check(path):
    r = subprocess.run([BIN, "-t", "-c", path], capture_output=True,
                       timeout=30)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def test_users_file_refused_by_t():
    up = Upstream("starttls")
    bad = users_file(["app1:%s:a@isp.test:s" % make_hash("$y$", "x")],
                     mode=0o644)
    gw = Gateway(up, upstream_conf={"auth": "map", "users_file": bad},
                 start=False)
    gw.port = free_port()
    gw._write(gw.port)
    rc, out = run_check(gw.path)
    check(rc == 1, "-t with a 0644 users_file: exit %d: %s", rc, out)
    check(bad in out and "chmod 600 " + bad in out,
          "want the file and chmod 600 named: %s", out)
    # errors inside the file: FILE:LINE: why, every one
    y = make_hash("$y$", "x")
    dup = users_file(["app1:%s:a@isp.test:s" % y,
                      "app2:$1$abc$def:b@isp.test:s",
                      "app1:%s:c@isp.test:s" % y])
    gw.write_config(gw.config.replace(bad, dup))
    rc, out = run_check(gw.path)
    check(rc == 1, "-t with a bad users_file: exit %d: %s", rc, out)
    for want in ("%s:2: hash is not yescrypt" % dup,
                 "%s:3: duplicate user app1" % dup):
        check(want in out, "want %r in: %s", want, out)
    good = users_file(["app1:%s:a@isp.test:s" % y])
    gw.write_config(gw.config.replace(dup, good))
    rc, out = run_check(gw.path)
    check(rc == 0, "-t with a good users_file: exit %d: %s", rc, out)


def test_debug_session_shows_no_secret():
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    gw = passthrough_gateway(up)
    pw = ACCOUNTS["alice@isp.test"]
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "alice@isp.test", pw + "x"), 535,
                    what="wrong")
        check_reply(c.cmd("AUTH PLAIN"), 334, what="AUTH PLAIN")
        check_reply(c.cmd(plain("alice@isp.test", pw)), 235,
                    what="PLAIN response")
        send_one(c, "debug")
    with gw.client() as c:
        c.start()
        check_reply(auth_login(c, "alice@isp.test", pw), 235, what="LOGIN")
    log = gw.log()
    check("AUTH PLAIN <redacted>" in log, "no redacted AUTH line: %s",
          log[-3000:])
    secrets = [pw, pw + "x", b64(pw.encode()),
               plain("alice@isp.test", pw), plain("alice@isp.test", pw + "x"),
               b64(b"alice@isp.test\0" + pw.encode())]
    # base64 of the password at each of the three alignments it can
    # take inside a longer blob
    for pre in (b"\0", b"\0\0"):
        enc = b64(pre + pw.encode())
        secrets.append(enc[4:-4])
    for s in secrets:
        check(s not in log, "secret %r in the gateway's output", s)

    # map: neither the local password nor the mapped upstream secret
    gw2 = Gateway(up, upstream_conf={"auth": "map",
                                     "users_file": map_users()})
    with gw2.client() as c:
        c.start()
        check_reply(auth_plain(c, "app1", "local-onX"), 535, what="wrong")
        check_reply(auth_login(c, "app1", "local-one"), 235, what="LOGIN")
        send_one(c, "debug map")
    log = gw2.log()
    check("< <redacted>" in log, "no redacted SASL line: %s", log[-3000:])
    for s in ("local-one", "local-onX", b64(b"local-one"),
              plain("app1", "local-onX"), pw,
              b64(b"\0alice@isp.test\0" + pw.encode())):
        check(s not in log, "secret %r in the gateway's output", s)


def test_pipelined_sasl_responses_not_logged():
    """A client that pipelines its SASL responses behind AUTH gets 503,
    and the lines behind it are dropped, not run (and traced) as
    commands: they are its credentials."""
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    gw = passthrough_gateway(up)
    pw = ACCOUNTS["alice@isp.test"]
    secrets = [plain("alice@isp.test", pw), b64(b"alice@isp.test"),
               b64(pw.encode())]
    with gw.client() as c:
        c.start()
        c.send(("AUTH PLAIN\r\n%s\r\n" % secrets[0]).encode())
        check_reply(c.reply(), 503, what="pipelined AUTH PLAIN")
        c.send(("AUTH LOGIN\r\n%s\r\n%s\r\n" %
                (secrets[1], secrets[2])).encode())
        check_reply(c.reply(), 503, what="pipelined AUTH LOGIN")
        # nothing else was answered: the next reply is NOOP's
        r = c.cmd("NOOP")
        check_reply(r, 250, what="NOOP after the dropped input")
        check_reply(auth_plain(c, "alice@isp.test", pw), 235,
                    what="AUTH after")
    log = gw.log()
    for s in secrets:
        check(s not in log, "secret %r in the gateway's output", s)


def test_passthrough_client_leaves_during_auth():
    """The client goes away while its AUTH waits on a hung upstream; the
    session ends when the upstream times out, and the gateway goes on
    serving (run under ASan: no use after free)."""
    import socket
    hung = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    try:
        gw = Gateway(None, upstream_conf={
            "auth": "passthrough", "port": str(hung.getsockname()[1]),
            "command_timeout": "2s", "connect_timeout": "2s"})
        with gw.client() as c:
            c.start()
            c.send(("AUTH PLAIN %s\r\n" %
                    plain("alice@isp.test", "pw")).encode())
            check(gw.wait_log(r"relay CONNECT -> AUTH"), "no AUTH started")
            mark = len(gw.log())
        check(gw.wait_log(r"relay session closed", timeout=15, start=mark),
              "the session did not end")
        with gw.client() as c:
            c.start()
            check_reply(c.cmd("NOOP"), 250, what="NOOP after")
    finally:
        hung.close()


def test_passthrough_reload_during_auth():
    """SIGHUP while a passthrough AUTH waits upstream: the AUTH still gets
    its verdict, the session goes on, and sessions under the new
    configuration work (run under ASan)."""
    import socket
    hung = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    try:
        gw = Gateway(None, upstream_conf={
            "auth": "passthrough", "port": str(hung.getsockname()[1]),
            "command_timeout": "2s", "connect_timeout": "2s"})
        with gw.client() as c:
            c.start()
            c.send(("AUTH PLAIN %s\r\n" %
                    plain("alice@isp.test", "pw")).encode())
            check(gw.wait_log(r"relay CONNECT -> AUTH"), "no AUTH started")
            mark = len(gw.log())
            gw.signal(signal.SIGHUP)
            check(gw.wait_log(r"reload: new configuration in use",
                              start=mark), "no reload")
            check_reply(c.reply(timeout=10), 454, "4.7.0",
                        what="AUTH across the reload")
            # the session goes on under the configuration it began with
            check_reply(c.cmd("NOOP"), 250, what="NOOP after the reload")
        with gw.client() as c:
            c.start()
            check_reply(c.cmd("NOOP"), 250, what="NOOP after")
    finally:
        hung.close()


def test_map_never_cleartext():
    """map under starttls-optional, upstream without STARTTLS and only
    PLAIN/LOGIN: the mapped secret is not sent; MAIL gets 451 4.7.0."""
    up = Upstream("plain", auth={"users": ACCOUNTS,
                                 "mechs": ["PLAIN", "LOGIN"]})
    gw = Gateway(up, upstream_conf={"auth": "map", "users_file": map_users(),
                                    "tls": "starttls-optional"})
    with gw.client() as c:
        c.start()
        check_reply(auth_plain(c, "app1", "local-one"), 235, what="local")
        r = c.cmd("MAIL FROM:<sender@example.test>")
        check_reply(r, 451, "4.7.0", what="MAIL, no TLS upstream")
    check(not up.events("AUTH"), "the upstream saw AUTH in cleartext: %r",
          up.events("AUTH"))
    check(ACCOUNTS["alice@isp.test"] not in gw.log(), "secret in the log")


if __name__ == "__main__":
    gwtest.main(globals())
