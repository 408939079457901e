#!/usr/bin/python3
"""auth = inject: the gateway authenticates to an upstream that requires
AUTH (upstream.py on aiosmtpd; XOAUTH2 and OAUTHBEARER through its test
double), with each mechanism, the choice rules, the fallback, the
cleartext rule, OAuth tokens from a file or a command, the secret-file
permission check, and no secret in any output."""

import base64
import os
import re
import signal
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    newdir, sample_message, transaction, wait_for)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"
USER = "relay@example.test"
PASSWORD = "Corr3ct-horse:battery staple"
TOKEN = "ya29.A0ARrdaM-test_Token~1+2/3="
TOKEN2 = "ya29.ROTATED-token_2"
ALL = ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER"]


def secret_file(text, mode=0o600, name="secret"):
    path = os.path.join(newdir(name), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def inject(mechs=None, password=PASSWORD, token_file=None,
           token_command=None, **extra):
    """[upstream] keys for auth = inject."""
    conf = {"auth": "inject", "username": USER}
    if token_file:
        conf["token_file"] = token_file
    elif token_command:
        conf["token_command"] = token_command
    else:
        conf["password_file"] = secret_file(password + "\n")
    if mechs:
        conf["auth_mechanisms"] = ", ".join(mechs)
    conf.update(extra)
    return conf


def auth_up(mode="starttls", mechs=ALL, password=PASSWORD, tokens=None,
            cert="good", **kw):
    return Upstream(mode, cert=cert, auth=dict(users={USER: password},
                                    tokens=tokens or {USER: TOKEN},
                                    mechs=mechs, **kw))


def deliver(gw, subject="auth"):
    """One message through the gateway; returns the replies."""
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message(subject))
        c.cmd("QUIT")
    return replies


def expect_delivered(up, gw, mech, n=1, subject="auth"):
    replies = deliver(gw, subject)
    check(all(r.code < 400 for r in replies), "transaction failed: %r",
          replies)
    msgs = up.wait_messages(n)
    check(len(msgs) == n, "want %d messages, got %r", n, msgs)
    m = msgs[n - 1]
    check(m.auth_user == USER, "stored as user %r, want %r", m.auth_user,
          USER)
    check(m.auth_mech == mech, "upstream saw AUTH %r, want %r", m.auth_mech,
          mech)
    return m


def expect_authfail(up, gw, why=None, before=0):
    """The client gets 451 4.7.0 at MAIL, nothing (beyond the before
    messages) is delivered, and the gateway's log says why (a regex)."""
    with gw.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check_reply(r, 451, "4.7.0", what="MAIL with failing AUTH")
        check("auth-failed" in r.text, "no auth-failed in %r", r)
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    check(len(up.messages()) == before, "delivered despite failed AUTH: %r",
          up.messages())
    want_log(gw, r"class=auth-failed")
    if why:
        want_log(gw, why)


def want_log(gw, pattern):
    check(gw.wait_log(pattern), "no /%s/ in the gateway's log:\n%s",
          pattern, gw.log()[-3000:])


def auth_events(up, result=None):
    return [e for e in up.events("AUTH")
            if result is None or e.get("result") == result]


# each mechanism, right and wrong secret

def _mech_ok(mech):
    up = auth_up()
    gw = Gateway(up, upstream_conf=inject([mech]))
    expect_delivered(up, gw, mech)


def _mech_bad(mech):
    up = auth_up()
    gw = Gateway(up, upstream_conf=inject([mech], password="wrong"))
    expect_authfail(up, gw, r"%s: 535 5\.7\.8" % mech)
    check(auth_events(up, "fail"), "upstream saw no failed AUTH")


def test_plain_good():
    _mech_ok("PLAIN")


def test_plain_wrong_password():
    _mech_bad("PLAIN")


def test_login_good():
    _mech_ok("LOGIN")


def test_login_wrong_password():
    _mech_bad("LOGIN")


def test_cram_md5_good():
    _mech_ok("CRAM-MD5")


def test_cram_md5_wrong_password():
    _mech_bad("CRAM-MD5")


# the choice

def test_strongest_under_tls_is_plain():
    """Offered everything, with a password under TLS: PLAIN, not CRAM-MD5
    (CRAM-MD5 is the choice only before TLS)."""
    up = auth_up()
    gw = Gateway(up, upstream_conf=inject())
    expect_delivered(up, gw, "PLAIN")
    check([e["mech"] for e in auth_events(up, "start")] == ["PLAIN"],
          "AUTH attempts: %r", auth_events(up))


def test_strongest_in_cleartext_is_cram_md5():
    up = auth_up("plain")
    gw = Gateway(up, upstream_conf=inject(tls="none"))
    expect_delivered(up, gw, "CRAM-MD5")


def test_token_prefers_xoauth2():
    up = auth_up()
    gw = Gateway(up, upstream_conf=inject(
        token_file=secret_file(TOKEN + "\n")))
    expect_delivered(up, gw, "XOAUTH2")


def test_mechanisms_order_honoured():
    """auth_mechanisms = LOGIN, PLAIN: LOGIN first although PLAIN is the
    default under TLS."""
    up = auth_up()
    gw = Gateway(up, upstream_conf=inject(["LOGIN", "PLAIN"]))
    expect_delivered(up, gw, "LOGIN")


def test_no_usable_mechanism_named():
    up = auth_up(mechs=["CRAM-MD5"])
    gw = Gateway(up, upstream_conf=inject(["PLAIN", "LOGIN"]))
    expect_authfail(up, gw, r'no usable AUTH mechanism: upstream offers '
                    r'"CRAM-MD5", auth_mechanisms = PLAIN,LOGIN')
    check(not auth_events(up), "AUTH sent: %r", auth_events(up))


# fallback: only when the mechanism failed, never after 535 (issue 10,
# section 5; the list of codes is in docs/auth.md)

MECH_FAILURES = [
    "504 5.5.4 Unrecognized authentication type",
    "534 5.7.9 Authentication mechanism is too weak",
    "538 5.7.11 Encryption required for requested authentication "
    "mechanism",
    "432 4.7.12 A password transition is needed",
]


def test_fallback_on():
    """CRAM-MD5 refused as a mechanism (each RFC 4954 code that says so):
    PLAIN next, accepted."""
    for reply in MECH_FAILURES:
        up = auth_up(refuse_mech={"CRAM-MD5": reply})
        gw = Gateway(up, upstream_conf=inject(["CRAM-MD5", "PLAIN"]))
        expect_delivered(up, gw, "PLAIN")
        tried = [e["mech"] for e in auth_events(up, "start")]
        check(tried == ["CRAM-MD5", "PLAIN"], "%s: AUTH attempts: %r",
              reply, tried)
        want_log(gw, r"auth mech=CRAM-MD5 failed as a mechanism \(%s\): "
                 r"trying PLAIN" % " ".join(reply.split(" ")[:2]))
        gw.stop()
        up.stop()


def test_fallback_off():
    up = auth_up(refuse_mech={"CRAM-MD5": MECH_FAILURES[1]})
    gw = Gateway(up, upstream_conf=inject(["CRAM-MD5", "PLAIN"],
                                          auth_fallback="no"))
    expect_authfail(up, gw, r"CRAM-MD5: 534 5\.7\.9")
    tried = [e["mech"] for e in auth_events(up, "start")]
    check(tried == ["CRAM-MD5"], "AUTH attempts: %r", tried)


def test_no_fallback_after_535():
    """The backend refuses CRAM-MD5 with 535 (credentials invalid): that
    is a verdict on the account, so PLAIN is not tried with the same
    secret."""
    up = auth_up(refuse=["CRAM-MD5"])
    gw = Gateway(up, upstream_conf=inject(["CRAM-MD5", "PLAIN"]))
    expect_authfail(up, gw, r"CRAM-MD5: 535 5\.7\.8")
    tried = [e["mech"] for e in auth_events(up, "start")]
    check(tried == ["CRAM-MD5"], "AUTH attempts: %r", tried)
    want_log(gw, r"auth mech=CRAM-MD5: no fallback to PLAIN after 535 "
             r"5\.7\.8: the upstream refused the credentials")


def quit_after(up, event):
    """The QUIT events of the connection event belongs to, after it."""
    evs = up.events()
    i = evs.index(event)
    return [e for e in evs[i + 1:]
            if e["event"] == "QUIT" and e["peer"] == event["peer"]]


def test_wrong_password_one_attempt_then_quit():
    """issue 10: a wrong password cost three failed logins per message
    (PLAIN, LOGIN, CRAM-MD5 with the same secret) under the default
    auth_fallback = yes.  Now: one AUTH per message, then QUIT."""
    up = auth_up(password="other")
    gw = Gateway(up, upstream_conf=inject())
    expect_authfail(up, gw, r"PLAIN: 535 5\.7\.8")
    starts = auth_events(up, "start")
    check([e["mech"] for e in starts] == ["PLAIN"], "AUTH attempts: %r",
          auth_events(up))
    fails = auth_events(up, "fail")
    check(len(fails) == 1, "failed logins at the upstream: %r", fails)
    check(wait_for(lambda: quit_after(up, fails[0]), 5),
          "no QUIT after the failed AUTH: %r", up.events())
    check(not up.events("MAIL"), "MAIL after a failed AUTH: %r",
          up.events("MAIL"))
    # a second message: again exactly one attempt
    expect_authfail(up, gw)
    check(len(auth_events(up, "start")) == 2, "AUTH attempts for two "
          "messages: %r", auth_events(up, "start"))


def test_fallback_then_wrong_password_then_quit():
    """504 for CRAM-MD5, then PLAIN with a wrong password (535): two
    AUTH commands, one failed login, then QUIT."""
    up = auth_up(password="other",
                 refuse_mech={"CRAM-MD5": MECH_FAILURES[0]})
    gw = Gateway(up, upstream_conf=inject(["CRAM-MD5", "PLAIN", "LOGIN"]))
    expect_authfail(up, gw, r"PLAIN: 535 5\.7\.8")
    check([e["mech"] for e in auth_events(up, "start")] ==
          ["CRAM-MD5", "PLAIN"], "AUTH attempts: %r", auth_events(up))
    fails = auth_events(up, "fail")
    check(len(fails) == 1, "failed logins: %r", fails)
    check(wait_for(lambda: quit_after(up, fails[0]), 5),
          "no QUIT after the failed AUTH: %r", up.events())


# cleartext

def test_no_plain_in_cleartext():
    """starttls-optional, no STARTTLS offered: PLAIN/LOGIN are not sent."""
    up = auth_up("plain", mechs=["PLAIN", "LOGIN"])
    gw = Gateway(up, upstream_conf=inject(tls="starttls-optional"))
    expect_authfail(up, gw, r"no usable AUTH mechanism")
    check(not up.events("AUTH"), "the upstream saw AUTH: %r",
          up.events("AUTH"))
    check(up.events("EHLO"), "the gateway did not even say EHLO")


def test_cleartext_allowed_warns():
    up = auth_up("plain", mechs=["PLAIN", "LOGIN"])
    gw = Gateway(up, upstream_conf=inject(tls="starttls-optional",
                                          auth_allow_cleartext="yes"))
    m = expect_delivered(up, gw, "PLAIN")
    check(m.meta["tls_version"] is None, "not cleartext: %r", m.meta)
    want_log(gw, r"WARNING: AUTH PLAIN in CLEARTEXT")


def test_auth_hidden_before_starttls():
    up = auth_up(hide_before_tls=True)
    gw = Gateway(up, upstream_conf=inject())
    m = expect_delivered(up, gw, "PLAIN")
    starts = auth_events(up, "start")
    check(all(e["tls"] for e in starts), "AUTH before TLS: %r", starts)
    check(m.meta["tls_version"], "message not over TLS: %r", m.meta)


def test_implicit_tls():
    up = auth_up("implicit")
    gw = Gateway(up, upstream_conf=inject(["LOGIN"], tls="implicit"))
    expect_delivered(up, gw, "LOGIN")


# OAuth

def test_xoauth2_token_file_rotates():
    tf = secret_file(TOKEN + "\n", name="token")
    up = auth_up(mechs=["XOAUTH2"])
    gw = Gateway(up, upstream_conf=inject(token_file=tf))
    expect_delivered(up, gw, "XOAUTH2", 1, "first")
    # An outside refresher replaces the file; the server now wants it.
    up.stop()
    up2 = auth_up(mechs=["XOAUTH2"], tokens={USER: TOKEN2})
    gw.stop()
    with open(tf + ".new", "w", encoding="utf-8") as f:
        f.write(TOKEN2 + "\n")
    os.chmod(tf + ".new", 0o600)
    os.rename(tf + ".new", tf)
    gw2 = Gateway(up2, upstream_conf=inject(token_file=tf))
    expect_delivered(up2, gw2, "XOAUTH2", 1, "second")


def test_xoauth2_same_gateway_rereads_file():
    """Within one running gateway: session 1 with the old token, the file
    is replaced, session 2 authenticates with the new one."""
    tf = secret_file(TOKEN + "\n", name="token")
    up = auth_up(mechs=["XOAUTH2"], tokens={USER: TOKEN})
    # the file is read for each new connection: pool = no makes the
    # second session open one (a pooled one stays authenticated)
    conf = inject(token_file=tf)
    conf["pool"] = "no"
    gw = Gateway(up, upstream_conf=conf)
    expect_delivered(up, gw, "XOAUTH2", 1, "first")
    with open(tf, "w", encoding="utf-8") as f:
        f.write(TOKEN2 + "\n")
    # the server still wants TOKEN: the second AUTH, with TOKEN2, fails
    expect_authfail(up, gw, r"XOAUTH2: 535 5\.7\.8", before=1)
    fails = auth_events(up, "fail")
    check(fails and fails[-1]["mech"] == "XOAUTH2", "events: %r", fails)


def test_xoauth2_bad_token():
    up = auth_up(mechs=["XOAUTH2"])
    gw = Gateway(up, upstream_conf=inject(
        token_file=secret_file("wrong-token\n")))
    expect_authfail(up, gw, r"XOAUTH2: 535 5\.7\.8 Invalid token")
    # the error challenge was answered as the double demands (else 501)
    check(any(e.get("result") == "fail" for e in up.events("AUTH")),
          "no failed XOAUTH2: %r", up.events("AUTH"))


def test_oauthbearer():
    up = auth_up(mechs=["OAUTHBEARER"])
    gw = Gateway(up, upstream_conf=inject(
        token_file=secret_file(TOKEN + "\n")))
    expect_delivered(up, gw, "OAUTHBEARER")


def test_oauthbearer_bad_token():
    up = auth_up(mechs=["OAUTHBEARER"])
    gw = Gateway(up, upstream_conf=inject(
        token_file=secret_file("nope\n")))
    expect_authfail(up, gw, r"OAUTHBEARER: 535 5\.7\.8 Invalid token")


def test_token_command():
    d = newdir("tokcmd")
    script = os.path.join(d, "tok.sh")
    with open(script, "w", encoding="utf-8") as f:
        f.write("#!/bin/sh\necho '  %s  '\necho oops >&2\n" % TOKEN)
    os.chmod(script, 0o700)
    up = auth_up(mechs=["XOAUTH2"])
    gw = Gateway(up, upstream_conf=inject(token_command=script))
    expect_delivered(up, gw, "XOAUTH2")


def test_token_command_sigchld_ignored():
    # A supervisor or shell that starts smtpgate with SIGCHLD ignored (the
    # disposition survives exec): the kernel then reaps token_command by
    # itself, and every AUTH failed with "token_command: lost the child".
    d = newdir("tokcmd-ign")
    script = os.path.join(d, "tok.sh")
    with open(script, "w", encoding="utf-8") as f:
        f.write("#!/bin/sh\necho '%s'\n" % TOKEN)
    os.chmod(script, 0o700)
    up = auth_up(mechs=["XOAUTH2"])
    old = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        gw = Gateway(up, upstream_conf=inject(token_command=script))
    finally:
        signal.signal(signal.SIGCHLD, old)
    expect_delivered(up, gw, "XOAUTH2")


def test_token_command_fails():
    up = auth_up(mechs=["XOAUTH2"])
    gw = Gateway(up, upstream_conf=inject(
        token_command="echo %s; exit 3" % TOKEN))
    expect_authfail_nosession(up, gw, r"token_command: exit status 3")


def test_token_command_fails_logs_stderr():
    # Issue 10, section 2: the log says why a helper failed, from the first
    # line of its standard error, escaped (a tab, an escape byte); the
    # lines after it and the helper's stdout are not logged.
    up = auth_up(mechs=["XOAUTH2"])
    gw = Gateway(up, upstream_conf=inject(
        token_command="echo %s; printf 'invalid_grant:\\tno\\033[0m "
        "refresh\\nsecond line %s\\n' >&2; exit 2" % (TOKEN, TOKEN)))
    expect_authfail_nosession(up, gw, r"token_command: exit status 2; "
                              r"stderr: invalid_grant:\\x09no\\x1b\[0m "
                              r"refresh$")
    log = gw.log()
    check(TOKEN not in log, "the token (stdout or stderr) is in the log")
    check("second line" not in log, "more than the first stderr line "
          "was logged")


def test_token_command_timeout():
    up = auth_up(mechs=["XOAUTH2"])
    gw = Gateway(up, upstream_conf=inject(
        token_command="sleep 30; echo %s" % TOKEN, token_timeout="1s"))
    t0 = time.monotonic()
    expect_authfail_nosession(up, gw, r"token_command: no answer within "
                              r"1s, killed")
    check(time.monotonic() - t0 < 10, "the timeout took %.1fs",
          time.monotonic() - t0)
    # the killed group leaves no shell and no sleep behind
    left = wait_for(lambda: not processes_with("sleep 30; echo " + TOKEN),
                    3)
    check(left, "token_command left processes: %r",
          processes_with("sleep 30; echo " + TOKEN))


def processes_with(text):
    """pids whose command line contains text (from /proc: no procps)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            out.append((int(pid), cmd))
    return out


def expect_authfail_nosession(up, gw, why):
    """No secret: 451 4.7.0 and the upstream was never even contacted."""
    with gw.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check_reply(r, 451, "4.7.0", what="MAIL without credentials")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    want_log(gw, why)
    check(not up.events("EHLO"), "upstream contacted: %r", up.events())


# secret files

def run_check(text):
    d = newdir("check")
    path = os.path.join(d, "smtpgate.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    r = subprocess.run([gwtest.BIN, "-t", "-c", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       check=False)
    return r.returncode, r.stdout.decode(errors="replace")


def test_group_readable_password_file_refused():
    pw = secret_file(PASSWORD + "\n", mode=0o640)
    text = gwtest.config_text(2525, 2526, upstream={
        "auth": "inject", "username": USER, "password_file": pw})
    rc, out = run_check(text)
    check(rc != 0, "-t accepted a group-readable password_file: %s", out)
    want = "password_file: %s is readable by group or others; chmod 600 %s" \
        % (pw, pw)
    check(want in out, "want %r in %r", want, out)
    os.chmod(pw, 0o600)
    rc, out = run_check(text)
    check(rc == 0, "-t refused a 0600 password_file: %s", out)


def test_group_readable_token_file_refused_at_start():
    """token_file too, and by a real start, not only by -t."""
    tok = secret_file(TOKEN + "\n", mode=0o604)
    text = gwtest.config_text(2525, 2526, upstream={
        "auth": "inject", "username": USER, "token_file": tok})
    rc, out = run_check(text)
    want = "token_file: %s is readable by group or others; chmod 600 %s" \
        % (tok, tok)
    check(rc != 0 and want in out, "-t: exit %d, want %r in %r", rc, want,
          out)
    path = os.path.join(newdir("start"), "smtpgate.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    r = subprocess.run([gwtest.BIN, "-c", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30, check=False)
    out = r.stdout.decode(errors="replace")
    check(r.returncode != 0 and want in out,
          "start: exit %d, want %r in %r", r.returncode, want, out)


def test_password_file_checked_at_each_read():
    """Made group-readable after start: the next AUTH refuses it."""
    up = auth_up()
    conf = inject()
    gw = Gateway(up, upstream_conf=conf)
    os.chmod(conf["password_file"], 0o644)
    expect_authfail_nosession(up, gw, r"accessible by group or others")


def test_password_file_swapped_for_a_fifo():
    """A FIFO put in place of password_file after start must not block
    the gateway in open(2): the AUTH fails at once, and other sessions
    are served meanwhile."""
    up = auth_up()
    conf = inject()
    gw = Gateway(up, upstream_conf=conf)
    os.unlink(conf["password_file"])
    os.mkfifo(conf["password_file"], 0o600)
    expect_authfail_nosession(up, gw, r"not a regular file")


# no secret in any output

def secret_forms():
    """Every form the secrets could take on the wire."""
    forms = {PASSWORD, TOKEN}
    b = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    forms.add(b("\0%s\0%s" % (USER, PASSWORD)))		# PLAIN blob
    forms.add(b(PASSWORD))					# LOGIN piece
    forms.add(b("user=%s\x01auth=Bearer %s\x01\x01" % (USER, TOKEN)))
    forms.add(TOKEN.split(".")[1])				# token body
    forms.add(PASSWORD.split(":")[1])
    return forms


def test_no_secret_in_debug_output():
    """A whole session at debug level with every mechanism (and failures,
    which log the most): no password, token or base64 form appears."""
    outputs = []
    runs = [(["PLAIN"], None), (["LOGIN"], None), (["CRAM-MD5"], None),
            (["XOAUTH2"], TOKEN), (["OAUTHBEARER"], TOKEN)]
    for mechs, token in runs:
        up = auth_up()
        conf = inject(mechs, token_file=token and secret_file(token + "\n"))
        gw = Gateway(up, gateway={"log_level": "debug",
                                  "log_facilities": "all"},
                     upstream_conf=conf)
        expect_delivered(up, gw, mechs[0])
        gw.stop()
        outputs.append(gw.log())
    # a failing exchange and a refused LOGIN password step too
    up = auth_up(password="other")
    gw = Gateway(up, gateway={"log_level": "debug"}, upstream_conf=inject())
    expect_authfail(up, gw)
    gw.stop()
    outputs.append(gw.log())
    text = "\n".join(outputs)
    check("AUTH PLAIN <redacted>" in text, "no redacted PLAIN line")
    check("> <redacted>" in text, "no redacted SASL response line")
    for form in secret_forms():
        check(form not in text, "secret form %r in the output", form)


def run_probe(up, conf):
    """smtpgate probe against up; returns (exit status, output)."""
    d = newdir("probe")
    path = os.path.join(d, "smtpgate.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(gwtest.config_text(gwtest.free_port(), up.port,
                                   upstream=conf))
    r = subprocess.run([gwtest.BIN, "probe", "-c", path, "up"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       check=False, timeout=60, stdin=subprocess.DEVNULL)
    out = r.stdout.decode(errors="replace")
    for form in secret_forms():
        check(form not in out, "secret form %r in the probe output:\n%s",
              form, out)
    check(not up.events("MAIL") and not up.events("DATA"),
          "the probe sent mail: %r", up.events())
    return r.returncode, out


def test_probe_good_credentials():
    """The probe logs in (issue 10: it said GO AHEAD without trying) and
    says that the credentials work; AUTH then QUIT, never MAIL."""
    up = auth_up()
    rc, out = run_probe(up, inject())
    check(rc == 0, "probe exit %d with good credentials:\n%s", rc, out)
    check("would use PLAIN" in out, "probe does not name the choice: %s",
          out)
    check("C: AUTH PLAIN <redacted>" in out, "no redacted AUTH line: %s",
          out)
    check(re.search(r"^auth login +ok: the upstream accepted the "
                    r"credentials with PLAIN \(235 ", out, re.M),
          "no login verdict: %s", out)
    check(re.search(r"^verdict +GO AHEAD.*credentials work", out, re.M),
          "no GO AHEAD: %s", out)
    ok = auth_events(up, "ok")
    check(len(ok) == 1 and ok[0]["user"] == USER, "upstream saw: %r",
          auth_events(up))
    check(wait_for(lambda: quit_after(up, ok[0]), 5), "no QUIT after "
          "the probe's AUTH: %r", up.events())


def test_probe_bad_credentials():
    """A wrong password: non-zero exit, the refusal named, one AUTH
    attempt, QUIT, no secret in the output."""
    up = auth_up(password="other")
    rc, out = run_probe(up, inject())
    check(rc != 0, "probe exit 0 with a wrong password:\n%s", out)
    check(re.search(r"^auth login +FAILED: the upstream refused the "
                    r"credentials with PLAIN \(535 5\.7\.8 ", out, re.M),
          "no refusal named: %s", out)
    check(re.search(r"^verdict +REFUSED \(auth-failed\): PLAIN: 535", out,
                    re.M), "no REFUSED verdict: %s", out)
    check("GO AHEAD" not in out, "GO AHEAD with a wrong password: %s", out)
    starts = auth_events(up, "start")
    check([e["mech"] for e in starts] == ["PLAIN"], "AUTH attempts: %r",
          auth_events(up))
    fails = auth_events(up, "fail")
    check(len(fails) == 1 and wait_for(lambda: quit_after(up, fails[0]), 5),
          "no single failed AUTH followed by QUIT: %r", up.events())


def test_probe_token_command_fails():
    """No credentials (token_command fails): the upstream is not asked
    to log in, the reason is named, exit 1."""
    up = auth_up(mechs=["XOAUTH2"])
    rc, out = run_probe(up, inject(token_command="echo %s; exit 3" % TOKEN))
    check(rc != 0, "probe exit 0 without credentials:\n%s", out)
    check(re.search(r"^auth login +FAILED: credentials unavailable: "
                    r"token_command: exit status 3", out, re.M),
          "no reason named: %s", out)
    check(not auth_events(up), "AUTH sent: %r", auth_events(up))


def test_probe_no_secret_to_a_refused_server():
    """The probe's first session lets a refused certificate through to
    show every check; the login must not follow it there."""
    up = auth_up(cert="untrusted")
    rc, out = run_probe(up, inject())
    check(rc != 0, "probe exit 0 with an untrusted certificate:\n%s", out)
    check(re.search(r"^auth login +not tried: no secret goes to an "
                    r"upstream the relay would refuse", out, re.M),
          "no 'not tried' line: %s", out)
    check(not auth_events(up), "AUTH sent to a refused server: %r",
          auth_events(up))


def test_client_leaves_while_token_command_runs():
    """The client goes away while token_command runs: the session ends
    with the fetch (no callback into a freed session; run under ASan)
    and the gateway goes on serving."""
    up = auth_up(mechs=["XOAUTH2"])
    gw = Gateway(up, upstream_conf=inject(
        token_command="sleep 2; echo %s" % TOKEN, token_timeout="5s"))
    with gw.client() as c:
        c.start()
        c.send(b"MAIL FROM:<s@example.test>\r\n")
        check(gw.wait_log(r"token_command started"), "no token_command")
        mark = len(gw.log())
    check(gw.wait_log(r"relay session closed", timeout=15, start=mark),
          "the session did not end")
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("NOOP"), 250, what="NOOP after")


if __name__ == "__main__":
    gwtest.main(globals())
