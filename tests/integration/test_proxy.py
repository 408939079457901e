#!/usr/bin/python3
"""The upstream reached through a proxy ([upstream] proxy): Debian's
dante-server (SOCKS5, without and with a username login) and tinyproxy
(HTTP CONNECT, without and with Basic credentials).  A message goes
through each to the TLS upstream, whose certificate is checked for the
configured name (localhost) while the proxy resolves that name; the
proxy's failures reach the client as 451 with their own class
(proxy-auth, proxy-connect, proxy-refused) and the log says which; the
POP-before-SMTP login goes through the upstream's proxy too."""

import os
import re
import secrets
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    newdir, sample_message, transaction)
from proxies import Dante, TinyProxy  # noqa: E402

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"
PASSWORD = "Px-7c1e9a-not-in-logs"


def secret_file(secret):
    path = os.path.join(newdir("secret"), "proxy.pass")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return path


def proxy_gateway(up, url, secret=None, start=True, **more):
    """A gateway whose upstream "up" is the name localhost (resolved by
    the proxy, checked against the certificate) reached through url."""
    conf = {"host": "localhost", "tls_name": None, "proxy": url,
            "proxy_password_file": secret_file(secret) if secret else None}
    conf.update(more)
    return Gateway(up, upstream_conf=conf, start=start)


def send_one(gw, subject="via proxy"):
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message(subject))
        c.cmd("QUIT")
    return replies


def check_delivered(up, gw, px):
    replies = send_one(gw)
    check(len(replies) == 4, "transaction stopped early: %r", replies)
    check_reply(replies[-1], 250, what="end of DATA")
    check(len(up.wait_messages(1)) == 1, "the message did not arrive")
    via = re.escape(px.url())
    check(gw.wait_log(r"smtp-client upstream=localhost:%d connected "
                      r"peer=127\.0\.0\.1:%d via=%s" % (up.port, px.port,
                                                        via)),
          "the log does not say the proxy was used:\n%s", gw.log()[-3000:])
    check(gw.wait_log(r"tls handshake started upstream=localhost:%d "
                      r"name=localhost" % up.port),
          "TLS was not checked for the configured name:\n%s",
          gw.log()[-3000:])
    check(PASSWORD not in gw.log(), "the proxy password is in the log")


def check_failed(gw, cls, enh, up=None):
    """MAIL gets 451 naming cls; the log line says it too."""
    replies = send_one(gw, "refused")
    check(len(replies) == 1, "want MAIL refused, got %r", replies)
    check_reply(replies[0], 451, enh, what="MAIL")
    check("(%s)" % cls in replies[0].text, "want (%s) in %r", cls,
          replies[0])
    check(gw.wait_log(r"failed class=%s" % re.escape(cls)),
          "the log does not say class=%s:\n%s", cls, gw.log()[-3000:])
    if up is not None:
        check(up.events("EHLO") == [] and up.messages() == [],
              "the upstream was reached: %r", up.events())
    check(PASSWORD not in gw.log(), "the proxy password is in the log")


def new_user():
    return ("sgwpx" + secrets.token_hex(4), PASSWORD)


def test_socks5_no_auth():
    up = Upstream("starttls")
    px = Dante([up.port])
    gw = proxy_gateway(up, px.url())
    check_delivered(up, gw, px)


def test_socks5_username():
    up = Upstream("starttls")
    px = Dante([up.port], user=new_user())
    try:
        gw = proxy_gateway(up, px.url(), secret=PASSWORD)
        check_delivered(up, gw, px)
        check(px.user[0] in gw.log(), "the proxy user is not logged")
    finally:
        px.stop()


def test_socks5_wrong_password():
    up = Upstream("starttls")
    px = Dante([up.port], user=new_user())
    try:
        gw = proxy_gateway(up, px.url(), secret="wrong-" + PASSWORD)
        check_failed(gw, "proxy-auth", "4.7.0", up)
        check(gw.wait_log(r"SOCKS5 proxy refused the login of user %s"
                          % px.user[0]), "no reason in the log")
    finally:
        px.stop()


def test_password_file_gone():
    """proxy_password_file is read at each connection: gone after the
    start, MAIL gets 451 (internal), the log says why, nothing is sent
    to the proxy."""
    up = Upstream("starttls")
    px = Dante([up.port], user=new_user())
    try:
        gw = proxy_gateway(up, px.url(), secret=PASSWORD)
        with open(gw.path) as f:
            os.unlink(re.search(r"proxy_password_file\s*=\s*(\S+)",
                                f.read()).group(1))
        check_failed(gw, "internal", "4.3.0", up)
        check(gw.wait_log(r"proxy_password_file"), "no reason in the log")
    finally:
        px.stop()


def test_socks5_refused_destination():
    up = Upstream("starttls")
    px = Dante([gwtest.free_port()])	# the upstream's port is not passed
    gw = proxy_gateway(up, px.url())
    check_failed(gw, "proxy-refused", "4.4.0", up)
    check(gw.wait_log(r"not allowed by ruleset"), "no reason in the log")


def test_http_connect():
    up = Upstream("starttls")
    px = TinyProxy([up.port])
    gw = proxy_gateway(up, px.url())
    check_delivered(up, gw, px)


def test_http_basic_auth():
    up = Upstream("starttls")
    px = TinyProxy([up.port], user=("gwuser", PASSWORD))
    gw = proxy_gateway(up, px.url(), secret=PASSWORD)
    check_delivered(up, gw, px)


def test_http_wrong_password():
    up = Upstream("starttls")
    px = TinyProxy([up.port], user=("gwuser", PASSWORD))
    gw = proxy_gateway(up, px.url(), secret="wrong-" + PASSWORD)
    check_failed(gw, "proxy-auth", "4.7.0", up)
    # tinyproxy answers wrong credentials with 401, none with 407
    check(gw.wait_log(r"with 40[17]"), "no 401 or 407 in the log")


def test_http_refused_port():
    up = Upstream("starttls")
    px = TinyProxy([gwtest.free_port()])	# ConnectPort: not the upstream's
    gw = proxy_gateway(up, px.url())
    check_failed(gw, "proxy-refused", "4.4.0", up)
    check(gw.wait_log(r"with 403"), "no 403 in the log")


def test_proxy_unreachable():
    up = Upstream("starttls")
    port = gwtest.free_port()		# nobody listens there
    gw = proxy_gateway(up, "socks5://127.0.0.1:%d" % port)
    check_failed(gw, "proxy-connect", "4.4.1", up)
    check(gw.wait_log(r"cannot connect to proxy socks5://127\.0\.0\.1:%d"
                      % port), "no reason in the log")


def test_socks5_implicit_tls():
    # implicit TLS: the handshake starts right after the tunnel opens
    up = Upstream("implicit")
    px = Dante([up.port])
    gw = proxy_gateway(up, px.url(), tls="implicit")
    check_delivered(up, gw, px)


def test_handshake_timeout():
    """A proxy that takes the connection and never answers: the handshake
    is bounded by connect_timeout (timeout), the client gets its 451."""
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)		# the kernel accepts; nobody answers
    try:
        up = Upstream("starttls")
        gw = proxy_gateway(up, "http://127.0.0.1:%d"
                           % silent.getsockname()[1],
                           connect_timeout="2s")
        check_failed(gw, "timeout", "4.4.2", up)
        check(gw.wait_log(r"no tunnel to localhost:%d from proxy "
                          r"http://127\.0\.0\.1:%d within 2s"
                          % (up.port, silent.getsockname()[1])),
              "no reason in the log")
    finally:
        silent.close()


def test_probe_through_proxy():
    """smtpgate probe opens its connection the same way."""
    up = Upstream("starttls")
    px = TinyProxy([up.port])
    gw = proxy_gateway(up, px.url(), start=False)
    gw._write(gwtest.free_port())
    r = gwtest.subprocess.run([gwtest.BIN, "probe", "-c", gw.path, "up"],
                              capture_output=True, text=True, timeout=60,
                              stdin=gwtest.subprocess.DEVNULL)
    check(r.returncode == 0, "probe exit %d:\n%s%s", r.returncode, r.stdout,
          r.stderr)
    check("via=%s" % px.url() in r.stdout + r.stderr,
          "the probe does not say it used the proxy:\n%s%s", r.stdout,
          r.stderr)
    check(re.search(r"CONNECT localhost:%d" % up.port, px.log()),
          "tinyproxy saw no CONNECT:\n%s", px.log())


def test_proxy_failure_fails_over():
    """A proxy failure is an outage of that path: the next upstream of
    the list gets the message (here b, reached directly)."""
    from test_failover import failovers, up_conf
    a = Upstream("starttls")
    b = Upstream("starttls")
    px = TinyProxy([gwtest.free_port()])	# refuses a's port: 403
    port = gwtest.free_port()
    conf_a = up_conf(a.port)
    conf_a["proxy"] = px.url()
    gw = Gateway(text=gwtest.ini([
        ("gateway", {"hostname": "gw.test", "log_level": "debug"}),
        ("listener test", {"listen": "127.0.0.1:%d" % port,
                           "allow": "127.0.0.0/8", "upstream": "a, b"}),
        ("upstream a", conf_a), ("upstream b", up_conf(b.port))]),
        port=port)
    replies = send_one(gw, "failover")
    check_reply(replies[-1], 250, what="end of DATA")
    check(len(b.wait_messages(1)) == 1 and not a.messages(),
          "want the message at b only")
    f = failovers(gw)
    check(f == [("a", "proxy-refused", "b")],
          "want one failover a -> b class proxy-refused, got %r", f)


def test_config_refused():
    """Bad proxy values name file:line:key; -t refuses them."""
    up = Upstream("starttls")
    cases = [({"proxy": "socks4://127.0.0.1:1080"}, r"proxy: .*scheme"),
             ({"proxy": "http://127.0.0.1"}, r"proxy: .*port"),
             ({"proxy": "socks5://u@127.0.0.1:1080"},
              r"proxy_password_file: required"),
             ({"proxy": "socks5://127.0.0.1:1080",
               "proxy_password_file": secret_file(PASSWORD)},
              r"proxy_password_file: set but proxy names no user")]
    for conf, want in cases:
        gw = Gateway(up, upstream_conf=conf, start=False)
        gw._write(gwtest.free_port())
        out = gwtest.subprocess.run([gwtest.BIN, "-t", "-c", gw.path],
                                    capture_output=True, timeout=30)
        err = out.stderr.decode(errors="replace")
        check(out.returncode != 0, "-t accepted %r", conf)
        check(re.search(re.escape(gw.path) + r":\d+: .*" + want, err),
              "want %r in: %s", want, err)


def test_pop_before_smtp_through_proxy():
    from dovecot import Dovecot
    from test_pop_before_smtp import USER, PASSWORD as POP_PASSWORD
    from test_pop_before_smtp import password_file, pop_upstream
    dv = Dovecot({USER: POP_PASSWORD})
    up = pop_upstream(dv)
    px = Dante([up.port, dv.port_tls])
    gw = proxy_gateway(up, px.url(), username=USER,
                       password_file=password_file(POP_PASSWORD),
                       pop_before_smtp="localhost:%d" % dv.port_tls,
                       pop_tls="implicit", pop_timeout="10s")
    check_delivered(up, gw, px)
    check(gw.wait_log(r"pop3 server=localhost:%d connected peer=127\.0\.0"
                      r"\.1:%d via=%s" % (dv.port_tls, px.port,
                                          re.escape(px.url()))),
          "the POP login did not go through the proxy:\n%s",
          gw.log()[-3000:])
    check(len(dv.logins(USER)) == 1, "want one POP3 login")


if __name__ == "__main__":
    gwtest.main(globals())
