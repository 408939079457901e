#!/usr/bin/python3
"""Metrics and health ([gateway] http_listen): exact counter values after
known traffic (one message relayed, one recipient refused by the
upstream, one TLS failure), the exposition checked by promtool and
scraped by a real Prometheus, /healthz and /readyz with the upstream up
and stopped, the HTTP server's bounds, and counters across SIGHUP."""

import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, TestSkip, Upstream, check,  # noqa: E402
                    check_reply, sample_message, transaction, wait_for)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"
REFUSED = "nobody@example.test"
PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
MAX_CONN = 8		# src/obs/httpd.h HTTPD_MAX_CONN
HTTP_TIMEOUT = 10	# HTTPD_TIMEOUT
READY_WINDOW = 4
S = gwtest.TIME_SCALE


def get(port, path, method="GET", body=None, headers=None):
    """One request on a fresh connection: (status, body text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10 * S)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace"), r
    finally:
        c.close()


def scrape(port):
    status, text, r = get(port, "/metrics")
    check(status == 200, "/metrics: status %d", status)
    check(r.getheader("Content-Type", "").startswith("text/plain; "
          "version=0.0.4"), "/metrics content type %r",
          r.getheader("Content-Type"))
    return text


def samples(text):
    """{'name{labels}': value} of an exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
    return out


def expect(got, want):
    """Every sample in want has exactly its value in got."""
    bad = ["%s: got %s, want %s" % (k, got.get(k), v)
           for k, v in want.items() if got.get(k) != v]
    check(not bad, "metric values:\n  %s", "\n  ".join(bad))


def promtool(text):
    if not os.access(PROMTOOL, os.X_OK):
        raise TestSkip("promtool missing (apt-get install prometheus)")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    check(r.returncode == 0, "promtool check metrics: %s %s",
          r.stdout.decode(errors="replace"),
          r.stderr.decode(errors="replace"))


def two_upstreams(port, port2, hport, up, bad, gateway=None):
    """Listener test -> up (good certificate), listener bad -> bad (a
    certificate for another name)."""
    g = {"http_listen": "127.0.0.1:%d" % hport}
    g.update(gateway or {})
    text = gwtest.config_text(port, up.port, gateway=g)
    text += "\n" + gwtest.ini([
        ("listener bad", {"listen": "127.0.0.1:%d" % port2,
                          "allow": "127.0.0.0/8", "upstream": "bad"}),
        ("upstream bad", {"host": "127.0.0.1", "port": str(bad.port),
                          "tls": "starttls",
                          "ca_file": gwtest.pki()["ca-bundle"],
                          "tls_name": "localhost", "helo_name": "gw.test",
                          "connect_timeout": "5", "command_timeout": "20"})])
    return text


def test_known_traffic():
    up = Upstream("starttls", extra=["--reject",
                                     "nobody=550 5.1.1 No such user"])
    bad = Upstream("starttls", cert="wrongname")
    port, port2, hport = (gwtest.free_port(), gwtest.free_port(),
                          gwtest.free_port())
    gw = Gateway(text=two_upstreams(port, port2, hport, up, bad), port=port)
    # the harness's start-up check is one session (greeting, QUIT)
    base = samples(scrape(hport))["smtpgate_sessions_accepted_total"]
    with gw.client() as c:
        c.start()
        r = transaction(c, SENDER, [RCPT, REFUSED], sample_message())
        check([x.code for x in r] == [250, 250, 550, 354, 250],
              "replies %r", r)
        check_reply(c.cmd("QUIT"), 221)
    with gwtest.Client(port2) as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check(r.code == 454 or (r.code // 100 == 4 and
              "cert-name-mismatch" in r.text), "MAIL via bad: %r", r)
        check("cert-name-mismatch" in r.text, "class in %r", r.text)
        check_reply(c.cmd("QUIT"), 221)
    m = gw.wait_log(r" relay client=.* size=(\d+) ")
    check(m is not None, "no transaction line in the log")
    size = float(m.group(1))
    wait_for(lambda: samples(scrape(hport)).get("smtpgate_sessions_active")
             == 0, 5 * S)
    text = scrape(hport)
    got = samples(text)
    expect(got, {
        "smtpgate_sessions_accepted_total": base + 2,
        'smtpgate_sessions_refused_total{reason="not-allowed"}': 0,
        "smtpgate_sessions_active": 0,
        'smtpgate_transactions_total{result="relayed",class="none"}': 1,
        'smtpgate_transactions_total{result="refused",class="upstream"}': 0,
        "smtpgate_transaction_seconds_count": 1,
        'smtpgate_transaction_seconds_bucket{le="+Inf"}': 1,
        'smtpgate_recipients_refused_total{by="upstream"}': 1,
        'smtpgate_recipients_refused_total{by="gateway"}': 0,
        'smtpgate_upstream_messages_total{upstream="up"}': 1,
        'smtpgate_upstream_messages_total{upstream="bad"}': 0,
        'smtpgate_upstream_bytes_total{upstream="up"}': size,
        'smtpgate_upstream_connections_opened_total{upstream="up"}': 1,
        'smtpgate_upstream_connections_opened_total{upstream="bad"}': 1,
        'smtpgate_upstream_connections_reused_total{upstream="up"}': 0,
        'smtpgate_upstream_setup_seconds_count{upstream="up"}': 1,
        'smtpgate_upstream_setup_seconds_count{upstream="bad"}': 0,
        # the session gave its connection back to the pool
        'smtpgate_upstream_idle_connections{upstream="up"}': 1,
        'smtpgate_tls_failures_total{side="upstream",'
        'class="cert-name-mismatch"}': 1,
        'smtpgate_tls_failures_total{side="upstream",'
        'class="cert-untrusted"}': 0,
        'smtpgate_auth_failures_total{side="upstream",class="refused"}': 0,
    })
    # the TLS failure ended the transaction at MAIL: one tempfail of its
    # class, and no other
    tf = dict((k, v) for k, v in got.items() if 'result="tempfail"' in k)
    check(tf == {'smtpgate_transactions_total{result="tempfail",'
                 'class="cert-name-mismatch"}': 1},
          "tempfail series: %r", tf)
    check(size > 1000, "size %s from the log", size)
    promtool(text)


def test_prometheus_scrape():
    if not os.access(PROMETHEUS, os.X_OK):
        raise TestSkip("prometheus missing (apt-get install prometheus)")
    up = Upstream("starttls")
    hport = gwtest.free_port()
    gw = Gateway(upstream=up, gateway={"http_listen": "127.0.0.1:%d" % hport})
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("QUIT"), 221)
    d = gwtest.newdir("prometheus")
    pport = gwtest.free_port()
    conf = os.path.join(d, "prometheus.yml")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: smtpgate\n"
                "    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % hport)
    logf = open(os.path.join(d, "prometheus.log"), "wb")
    p = gwtest._spawn([PROMETHEUS, "--config.file=" + conf,
                       "--storage.tsdb.path=" + os.path.join(d, "data"),
                       "--web.listen-address=127.0.0.1:%d" % pport],
                      stdin=subprocess.DEVNULL, stdout=logf,
                      stderr=subprocess.STDOUT)
    try:
        def query(q):
            url = ("http://127.0.0.1:%d/api/v1/query?query=%s" %
                   (pport, urllib.request.quote(q)))
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    res = json.load(r)["data"]["result"]
            except (OSError, ValueError, KeyError):
                return None
            return res[0]["value"][1] if res else None
        check(wait_for(lambda: query('up{job="smtpgate"}') == "1", 60 * S),
              "Prometheus never saw the target up: %s",
              gwtest._tail(os.path.join(d, "prometheus.log"), 10))
        # what /metrics says now (the counter does not move any more)
        want = "%d" % samples(scrape(hport))[
            "smtpgate_sessions_accepted_total"]
        check(wait_for(lambda: query("smtpgate_sessions_accepted_total")
                       == want, 30 * S),
              "smtpgate_sessions_accepted_total in Prometheus: %r, want %s",
              query("smtpgate_sessions_accepted_total"), want)
    finally:
        gwtest._reap(p, timeout=10)
        logf.close()


def test_listener_tls_failures():
    """A client that refuses the listener's certificate (its alert fails
    the handshake), and one that says nothing until
    tls_handshake_timeout: one each of the listener's two TLS failure
    classes."""
    up = Upstream("starttls")
    hport = gwtest.free_port()
    p = gwtest.pki()
    gw = Gateway(upstream=up, gateway={"http_listen": "127.0.0.1:%d" % hport},
                 listener={"tls": "implicit", "tls_cert": p["good-chain"],
                           "tls_key": p["good.key"],
                           "tls_handshake_timeout": "1s"})
    key = 'smtpgate_tls_failures_total{side="listener",class="%s"}'
    # the harness's own start-up connection may still be running into
    # the timeout: count from when it is gone
    check(wait_for(lambda: samples(scrape(hport)).get(
        "smtpgate_sessions_active") == 0, 10 * S), "sessions still active")
    t0 = samples(scrape(hport)).get(key % "timeout")
    h0 = samples(scrape(hport)).get(key % "handshake")
    with gwtest.Client(gw.port) as silent:
        # the system's CAs do not know the test root: the client aborts
        ctx = ssl.create_default_context()
        with socket.create_connection(("127.0.0.1", gw.port), 5 * S) as s:
            try:
                ctx.wrap_socket(s, server_hostname="localhost").close()
                check(False, "the handshake with an untrusted root worked")
            except ssl.SSLError:
                pass
        check(silent.closed(5), "silent client not closed")
    check(wait_for(lambda: samples(scrape(hport)).get(key % "timeout") ==
                   t0 + 1, 5 * S), "timeouts: %r, before %r",
          samples(scrape(hport)).get(key % "timeout"), t0)
    got = samples(scrape(hport))
    check(got.get(key % "handshake") == h0 + 1, "handshake failures: %r, "
          "before %r", got.get(key % "handshake"), h0)


def test_health():
    up = Upstream("starttls")
    hport = gwtest.free_port()
    gw = Gateway(upstream=up, gateway={
        "http_listen": "127.0.0.1:%d" % hport,
        "ready_window": "%ds" % READY_WINDOW})
    status, body, _ = get(hport, "/healthz")
    check(status == 200 and body == "ok\n", "/healthz: %d %r", status, body)
    # the first probe runs at start
    check(wait_for(lambda: get(hport, "/readyz")[0] == 200, 5 * S),
          "/readyz never 200: %r", get(hport, "/readyz")[:2])
    up.stop()
    t0 = time.monotonic()
    check(wait_for(lambda: get(hport, "/readyz")[0] == 503,
                   (READY_WINDOW + 2) * S),
          "/readyz still %r after the upstream stopped",
          get(hport, "/readyz")[:2])
    took = time.monotonic() - t0
    check(took <= READY_WINDOW * S + 1, "503 after %.1fs (window %ds)",
          took, READY_WINDOW)
    status, body, _ = get(hport, "/readyz")
    check(re.match(r"not ready: upstream up: ", body), "/readyz body %r",
          body)
    check(get(hport, "/healthz")[0] == 200, "/healthz with the upstream "
          "stopped")
    got = samples(scrape(hport))
    check(got.get('smtpgate_upstream_probes_failed_total{upstream="up"}',
                  0) >= 1, "no failed probe counted")


def conn_state(s):
    """'closed' (EOF or reset), or 'open' (nothing to read)."""
    s.setblocking(False)
    try:
        return "closed" if s.recv(1) == b"" else "data"
    except BlockingIOError:
        return "open"
    except ConnectionResetError:
        return "closed"


@gwtest.timeout(90)
def test_bounds():
    up = Upstream("starttls")
    hport = gwtest.free_port()
    Gateway(upstream=up, gateway={"http_listen": "127.0.0.1:%d" % hport})
    # methods and paths
    check(get(hport, "/metrics", "POST", body="x")[0] == 405, "POST")
    status, _, r = get(hport, "/healthz", "DELETE")
    check(status == 405 and r.getheader("Allow") == "GET, HEAD",
          "DELETE: %d Allow %r", status, r.getheader("Allow"))
    check(get(hport, "/nope")[0] == 404, "unknown path")
    status, body, _ = get(hport, "/metrics", "HEAD")
    check(status == 200 and body == "", "HEAD: %d %r", status, body[:40])
    # an oversized request: headers over the bound, a body over its own
    status = get(hport, "/healthz", headers={"X-Big": "a" * 9000})[0]
    check(status in (400, 413), "9000-octet header: %d", status)
    status = get(hport, "/healthz", "GET", body="b" * 4096)[0]
    check(status in (400, 413), "4096-octet body: %d", status)
    # two more connections than the limit: those two are closed
    socks = [socket.create_connection(("127.0.0.1", hport), timeout=5)
             for _ in range(MAX_CONN + 2)]
    try:
        time.sleep(0.5 * S)
        st = [conn_state(s) for s in socks]
        check(st == ["open"] * MAX_CONN + ["closed"] * 2, "states %r", st)
        # the silent ones go after the timeout
        check(wait_for(lambda: all(conn_state(s) == "closed"
                                   for s in socks[:MAX_CONN]),
                       (HTTP_TIMEOUT + 5) * S),
              "idle connections still open after %ds", HTTP_TIMEOUT)
    finally:
        for s in socks:
            s.close()
    # every closed one was uncounted: the limit is whole again
    socks = [socket.create_connection(("127.0.0.1", hport), timeout=5)
             for _ in range(MAX_CONN)]
    try:
        time.sleep(0.3 * S)
        st = [conn_state(s) for s in socks]
        check(st == ["open"] * MAX_CONN, "after the timeout: %r", st)
    finally:
        for s in socks:
            s.close()
    check(wait_for(lambda: get(hport, "/healthz")[0] == 200, 5 * S),
          "/healthz after the bound test")


@gwtest.timeout(90)
def test_slow_requests_do_not_hold_the_endpoint():
    """Regression: evhttp's timeout is an idle one, so MAX_CONN clients
    sending a header octet every 2 s kept /healthz shut out for as long
    as they liked.  Each connection has HTTP_TIMEOUT for a whole
    request."""
    up = Upstream("starttls")
    hport = gwtest.free_port()
    Gateway(upstream=up, gateway={"http_listen": "127.0.0.1:%d" % hport})
    socks = [socket.create_connection(("127.0.0.1", hport), timeout=5)
             for _ in range(MAX_CONN)]
    t0 = time.monotonic()
    closed_after = None
    try:
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        while time.monotonic() - t0 < (HTTP_TIMEOUT + 10) * S:
            time.sleep(2 * S)
            try:
                for s in socks:
                    s.sendall(b"a")
            except OSError:
                closed_after = time.monotonic() - t0
                break
    finally:
        for s in socks:
            s.close()
    check(closed_after is not None, "%d slow connections still open after "
          "%ds", MAX_CONN, HTTP_TIMEOUT + 10)
    check(wait_for(lambda: get(hport, "/healthz")[0] == 200, 5 * S),
          "/healthz after the slow clients")


def test_reload():
    up = Upstream("starttls")
    hport, hport2 = gwtest.free_port(), gwtest.free_port()
    gw = Gateway(upstream=up, gateway={"http_listen": "127.0.0.1:%d" % hport})
    with gw.client() as c:
        c.start()
        check_reply(c.cmd("QUIT"), 221)
    n = samples(scrape(hport))["smtpgate_sessions_accepted_total"]
    check(n >= 1, "sessions counted: %s", n)
    # a new address: bound at reload, the counters kept
    mark = len(gw.log())
    gw.write_config(gw.config.replace("127.0.0.1:%d" % hport,
                                      "127.0.0.1:%d" % hport2))
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"reload: new configuration in use", start=mark),
          "no reload")
    got = samples(scrape(hport2))
    check(got["smtpgate_sessions_accepted_total"] == n,
          "counters after SIGHUP")
    check(got['smtpgate_reloads_total{result="ok"}'] == 1 and
          got['smtpgate_reloads_total{result="failed"}'] == 0 and
          got["smtpgate_last_reload_failed"] == 0, "reload counters: %r",
          [(k, v) for k, v in got.items() if "reload" in k])
    try:
        get(hport, "/healthz")
        check(False, "the old http_listen still answers")
    except OSError:
        pass
    # an address that cannot be bound: the reload is refused, all kept
    mark = len(gw.log())
    gw.write_config(gw.config.replace("127.0.0.1:%d" % hport2,
                                      "192.0.2.1:%d" % hport2))
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"reload: http_listen 192\.0\.2\.1:\d+: .*; keeping "
                      r"the running configuration", start=mark),
          "no refusal logged: %s", gw.log()[mark:])
    check(get(hport2, "/healthz")[0] == 200, "the running http_listen")
    got = samples(scrape(hport2))
    check(got['smtpgate_reloads_total{result="failed"}'] == 1 and
          got["smtpgate_last_reload_failed"] == 1, "failed reload not "
          "counted: %r", [(k, v) for k, v in got.items() if "reload" in k])


def test_bad_values():
    """-t names file:line:key for a bad http_listen or ready_window."""
    for key, value, why in (
            ("http_listen", "localhost:9425", "not a numeric"),
            ("http_listen", "127.0.0.1:9425, 127.0.0.1:9426", "more than 1"),
            ("ready_window", "1s", "between 2s and 1h")):
        text = gwtest.config_text(gwtest.free_port(), gwtest.free_port(),
                                  gateway={key: value})
        path = os.path.join(gwtest.newdir("conf"), "smtpgate.ini")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        r = subprocess.run([gwtest.BIN, "-t", "-c", path],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        out = (r.stdout + r.stderr).decode("utf-8", "replace")
        check(r.returncode == 1 and re.search(
            r"smtpgate\.ini:\d+: %s: .*%s" % (key, why), out),
            "%s = %s: rc %d, %s", key, value, r.returncode, out)


gwtest.main(globals())
