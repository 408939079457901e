#!/usr/bin/python3
"""POP-before-SMTP against Debian's Dovecot: the gateway logs in to POP3
(implicit TLS, STLS, APOP) and only then opens the SMTP session, to an
upstream that relays only after a recent POP3 login (it reads Dovecot's
log, as the classic pop-before-smtp watchers do)."""

import hashlib
import os
import re
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    free_port, newdir, sample_message, transaction)
from dovecot import Dovecot  # noqa: E402

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"
USER = "joe"
PASSWORD = "Pw-4f9c2e-not-in-logs"
LOGIN_LINE = r"pop3-login: Info: Login: user=<joe>, method=%s,.*rip=127\.0\.0\.1"


def password_file(secret=PASSWORD):
    path = os.path.join(newdir("secret"), "pop.pass")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return path


def pop_upstream(dv, window=30):
    """An upstream that answers RCPT with 554 unless dv logged a login."""
    return Upstream("starttls", extra=["--pop-log", dv.log, "--pop-user",
                                       USER, "--pop-window", str(window)])


def pop_gateway(up, port, pop_tls, secret=PASSWORD, pop_host="127.0.0.1",
                **more):
    conf = {"username": USER, "password_file": password_file(secret),
            "pop_before_smtp": "%s:%d" % (pop_host, port), "pop_tls": pop_tls,
            "pop_timeout": "10s"}
    conf.update(more)
    return Gateway(up, upstream_conf=conf)


def send_one(gw):
    """One transaction; the replies."""
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message())
        c.cmd("QUIT")
    return replies


def check_delivered(up, gw):
    replies = send_one(gw)
    check(len(replies) == 4, "transaction stopped early: %r", replies)
    check_reply(replies[0], 250, what="MAIL")
    check_reply(replies[1], 250, what="RCPT")
    check_reply(replies[-1], 250, what="end of DATA")
    msgs = up.wait_messages(1)
    check(len(msgs) == 1, "want 1 message upstream, got %r", msgs)


def check_refused(up, gw, cls):
    """MAIL gets 451 4.7.0 naming the class; nothing reaches the upstream."""
    replies = send_one(gw)
    check(len(replies) == 1, "want MAIL refused, got %r", replies)
    check_reply(replies[0], 451, "4.7.0", what="MAIL")
    text = " ".join(replies[0].lines)
    check("POP-before-SMTP" in text and "(%s)" % cls in text,
          "want the class %s in the reply, got %r", cls, replies[0])
    check(up.events("EHLO") == [] and up.messages() == [],
          "the upstream was contacted after a failed POP login: %r",
          up.events())
    check(re.search(r"pop-before-smtp server=127\.0\.0\.1:\d+ failed "
                    r"class=%s" % re.escape(cls), gw.log()),
          "the log does not say why (class=%s):\n%s", cls, gw.log()[-3000:])


def check_no_secret(gw, dv_text=""):
    log = gw.log()
    check(PASSWORD not in log, "the password is in the gateway's log")
    # every APOP timestamp the gateway saw, and the digest it would make
    for ts in set(re.findall(r"<[^<> ]+@[^<> ]+>", log)):
        digest = hashlib.md5((ts + PASSWORD).encode()).hexdigest()
        check(digest not in log, "the APOP digest is in the gateway's log")


def test_pop_implicit_tls():
    dv = Dovecot({USER: PASSWORD})
    up = pop_upstream(dv)
    gw = pop_gateway(up, dv.port_tls, "implicit")
    check_delivered(up, gw)
    logins = re.findall(LOGIN_LINE % "PLAIN" + ".*", dv.text())
    check(len(logins) == 1 and "TLS" in logins[0],
          "want one POP3 login over TLS, Dovecot logged: %r", logins)
    check(gw.wait_log(r"pop3 server=127\.0\.0\.1:%d peer=\S+ login ok "
                      r"tls=\"TLS" % dv.port_tls),
          "no 'login ok' over TLS in the gateway's log")
    check(gw.wait_log(r"pop3 > PASS <redacted>"),
          "the trace does not show the redacted PASS")
    check_no_secret(gw)


def test_pop_host_name():
    # a name, not an address: looked up, and the certificate checked for it
    dv = Dovecot({USER: PASSWORD})
    up = pop_upstream(dv)
    gw = pop_gateway(up, dv.port_tls, "implicit", pop_host="localhost")
    check_delivered(up, gw)
    check(gw.wait_log(r"tls handshake started upstream=localhost:%d "
                      r"name=localhost sni=yes" % dv.port_tls),
          "the POP server was not checked for the name localhost")
    check(len(dv.logins(USER)) == 1, "want one POP3 login")


def test_pop_stls():
    dv = Dovecot({USER: PASSWORD})
    up = pop_upstream(dv)
    gw = pop_gateway(up, dv.port, "stls")
    check_delivered(up, gw)
    logins = re.findall(LOGIN_LINE % "PLAIN" + ".*", dv.text())
    check(len(logins) == 1 and "TLS" in logins[0],
          "want one POP3 login over TLS, Dovecot logged: %r", logins)
    log = gw.log()
    stls, user = log.find("pop3 > STLS"), log.find("pop3 > USER joe")
    check(0 <= stls < user, "USER was not sent after STLS:\n%s", log[-3000:])
    check_no_secret(gw)


def test_pop_apop():
    # APOP in cleartext: the password does not travel, only its digest
    dv = Dovecot({USER: PASSWORD}, apop=True)
    up = pop_upstream(dv)
    gw = pop_gateway(up, dv.port, "none")
    check_delivered(up, gw)
    check(re.search(LOGIN_LINE % "APOP", dv.text()),
          "Dovecot logged no APOP login:\n%s", dv.text()[-2000:])
    check(gw.wait_log(r"pop3 > APOP joe <redacted>"),
          "the trace does not show the redacted APOP")
    check("pop3 > USER" not in gw.log() and "pop3 > PASS" not in gw.log(),
          "USER/PASS sent although APOP was offered")
    check_no_secret(gw)


def test_pop_wrong_password():
    dv = Dovecot({USER: PASSWORD})
    up = pop_upstream(dv)
    gw = pop_gateway(up, dv.port_tls, "implicit", secret="wrong-password")
    check_refused(up, gw, "auth-failed")
    check(dv.logins(USER) == [], "Dovecot logged a login: %r", dv.logins(USER))
    check("wrong-password" not in gw.log(), "the password is in the log")


def test_without_pop_upstream_refuses():
    # proves the upstream's check is real: no POP login, no relaying
    dv = Dovecot({USER: PASSWORD})
    up = pop_upstream(dv)
    gw = Gateway(up)
    replies = send_one(gw)
    check(len(replies) >= 2, "transaction stopped early: %r", replies)
    check_reply(replies[0], 250, what="MAIL")
    check_reply(replies[1], 554, "5.7.1", what="RCPT")
    check(up.messages() == [], "a message was relayed")


def test_pop_server_down():
    dv_port = free_port()		# nothing listens there
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={
        "username": USER, "password_file": password_file(),
        "pop_before_smtp": "127.0.0.1:%d" % dv_port})
    check_refused(up, gw, "connect")


def test_pop_wrong_name_certificate():
    dv = Dovecot({USER: PASSWORD}, cert="wrongname")
    up = pop_upstream(dv)
    gw = pop_gateway(up, dv.port_tls, "implicit")
    check_refused(up, gw, "cert-name-mismatch")
    check("pop3 > USER" not in gw.log() and "pop3 > PASS" not in gw.log(),
          "USER/PASS sent to a server with the wrong certificate")
    check(not re.search(r"auth failed|Login:", dv.text()),
          "Dovecot saw a login attempt:\n%s", dv.text()[-2000:])


def test_pop_cleartext_user_pass_refused():
    # no APOP timestamp and pop_tls = none: USER/PASS would be cleartext
    dv = Dovecot({USER: PASSWORD})
    up = pop_upstream(dv)
    gw = pop_gateway(up, dv.port, "none")
    check_refused(up, gw, "starttls-unavailable")
    check("pop3 > USER" not in gw.log() and "pop3 > PASS" not in gw.log(),
          "USER/PASS sent in cleartext")
    check(dv.logins(USER) == [], "Dovecot logged a login")


def test_pop_then_auth_inject():
    # both: the POP login first, then AUTH with the same credentials
    dv = Dovecot({USER: PASSWORD})
    up = Upstream("starttls", auth={"users": {USER: PASSWORD}},
                  extra=["--pop-log", dv.log, "--pop-user", USER])
    gw = pop_gateway(up, dv.port_tls, "implicit", auth="inject")
    check_delivered(up, gw)
    check(len(dv.logins(USER)) == 1, "want one POP3 login, got %r",
          dv.logins(USER))
    auths = [e for e in up.events("AUTH") if e.get("result") == "ok"]
    check(len(auths) == 1 and auths[0]["user"] == USER,
          "want one successful AUTH upstream, got %r", up.events("AUTH"))
    log = gw.log()
    check(log.find("pop3 login accepted") < log.find("smtp-client") and
          log.find("pop3 login accepted") >= 0,
          "the SMTP session started before the POP login ended")
    check_no_secret(gw)


def test_pop_then_auth_map():
    """auth = map with pop_before_smtp: the POP login uses the upstream's
    username and password_file, the SMTP AUTH the client's mapped
    account; no secret of the three reaches the log."""
    import base64
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    local_pw, up_user, up_pw = "local-Pw-77", "alice@isp.test", "alice-Up-88"
    path = os.path.join(newdir("users"), "users")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("app1:%s:%s:%s\n" % (crypt.crypt(local_pw, "$6$Xy12Zq34$"),
                                     up_user, up_pw))
    dv = Dovecot({USER: PASSWORD})
    up = Upstream("starttls", auth={"users": {up_user: up_pw}},
                  extra=["--pop-log", dv.log, "--pop-user", USER])
    gw = pop_gateway(up, dv.port_tls, "implicit", auth="map",
                     users_file=path)
    with gw.client() as c:
        c.start()
        blob = base64.b64encode(b"\0app1\0" + local_pw.encode()).decode()
        check_reply(c.cmd("AUTH PLAIN " + blob), 235, what="local AUTH")
        replies = transaction(c, SENDER, [RCPT], sample_message())
        c.cmd("QUIT")
    check_reply(replies[-1], 250, what="end of DATA")
    check(len(dv.logins(USER)) == 1, "want one POP3 login, got %r",
          dv.logins(USER))
    auths = [e for e in up.events("AUTH") if e.get("result") == "ok"]
    check(len(auths) == 1 and auths[0]["user"] == up_user,
          "want one AUTH upstream as %s, got %r", up_user, up.events("AUTH"))
    check_no_secret(gw)
    log = gw.log()
    for sec in (local_pw, up_pw, blob):
        check(sec not in log, "secret %r in the gateway's log", sec)


def test_password_file_loses_its_mode():
    # the file is checked at each login, not only at start
    dv = Dovecot({USER: PASSWORD})
    up = pop_upstream(dv)
    gw = pop_gateway(up, dv.port_tls, "implicit")
    path = re.search(r"password_file = (\S+)", gw.config).group(1)
    os.chmod(path, 0o644)
    check_refused(up, gw, "internal")
    check(re.search(r"password_file: .*(readable|accessible) by group or "
                    r"others; chmod 600", gw.log()),
          "the log does not name the file's problem")
    check("pop3 RESOLVING -> CONNECTING" not in gw.log(),
          "the POP server was contacted")


def silent_pop_server():
    """A port whose connections complete but never hear a greeting (the
    kernel accepts them into the backlog): a hung POP server."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    return s


def test_pop_timeout():
    hung = silent_pop_server()
    try:
        up = Upstream("starttls")
        gw = Gateway(up, upstream_conf={
            "username": USER, "password_file": password_file(),
            "pop_before_smtp": "127.0.0.1:%d" % hung.getsockname()[1],
            "pop_timeout": "2s"})
        t0 = time.monotonic()
        check_refused(up, gw, "timeout")
        check(time.monotonic() - t0 < 10, "pop_timeout was not applied")
    finally:
        hung.close()


def test_client_leaves_during_login():
    # The client goes away while the login waits.  The session notices
    # when it answers MAIL (it does not read while a command is in
    # flight); then it must end cleanly and the gateway go on serving.
    hung = silent_pop_server()
    try:
        up = Upstream("starttls")
        gw = Gateway(up, upstream_conf={
            "username": USER, "password_file": password_file(),
            "pop_before_smtp": "127.0.0.1:%d" % hung.getsockname()[1],
            "pop_timeout": "2s"})
        with gw.client() as c:
            c.start()
            c.send(b"MAIL FROM:<%s>\r\n" % SENDER.encode())
            check(gw.wait_log(r"relay IDLE -> POP"), "no login started")
            mark = len(gw.log())
        check(gw.wait_log(r"relay session closed", timeout=10, start=mark),
              "the session did not end")
        with gw.client() as c:
            c.start()
            check_reply(c.cmd("NOOP"), 250, what="NOOP after")
        check(up.events("EHLO") == [], "the upstream was contacted")
    finally:
        hung.close()


def test_pop_interval_skips_recent_login():
    dv = Dovecot({USER: PASSWORD})
    up = pop_upstream(dv, window=300)
    gw = pop_gateway(up, dv.port_tls, "implicit", pop_interval="5m")
    check_delivered(up, gw)
    replies = send_one(gw)
    check_reply(replies[-1], 250, what="second message")
    check(len(dv.logins(USER)) == 1, "want one POP3 login for two "
          "sessions, got %r", dv.logins(USER))
    check(gw.wait_log(r"pop-before-smtp skipped: last login \d+s ago"),
          "the skipped login is not logged")


def test_pop_interval_survives_reload():
    """The last login is kept outside the configuration snapshot: a
    SIGHUP does not make the next message wait for a new one."""
    dv = Dovecot({USER: PASSWORD})
    up = pop_upstream(dv, window=300)
    gw = pop_gateway(up, dv.port_tls, "implicit", pop_interval="5m")
    check_delivered(up, gw)
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"reload: new configuration in use", start=mark),
          "no reload: %s", gw.log()[mark:])
    replies = send_one(gw)
    check_reply(replies[-1], 250, what="message after the reload")
    check(len(dv.logins(USER)) == 1, "want one POP3 login across the "
          "reload, got %r", dv.logins(USER))
    check(gw.wait_log(r"pop-before-smtp skipped: last login \d+s ago",
                      start=mark), "the skipped login is not logged")


if __name__ == "__main__":
    gwtest.main(globals())
