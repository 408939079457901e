#!/usr/bin/python3
"""auth = inject with GSSAPI (RFC 4752): the gateway logs in to a real
Dovecot submission server with Kerberos 5 from a client keytab, against
a private MIT KDC on loopback (kdc.py); a keytab with a stale key fails
with the failure class auth and the Kerberos reason; a server that
answers 235 without mutual authentication is refused; a keytab open to
others is refused by -t; the wait on the KDC, on a thread of its own,
is measured, and a KDC that does not answer stalls no other session."""

import glob
import http.client
import os
import re
import socket
import sys
import threading

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    sample_message, transaction)
from kdc import CLIENT, Kdc, Submission  # noqa: E402

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"


def setup():
    """KDC, the final upstream (aiosmtpd, plain) and Dovecot before it."""
    kdc = Kdc()
    final = Upstream("plain")
    sub = Submission(kdc, final.port)
    return kdc, final, sub


def gss_conf(keytab, **extra):
    conf = {"host": "localhost", "auth": "inject",
            "gssapi_keytab": keytab, "gssapi_principal": CLIENT,
            "auth_mechanisms": "GSSAPI"}
    conf.update(extra)
    return conf


def gateway(sub, keytab, **extra):
    return Gateway(upstream=sub, upstream_conf=gss_conf(keytab, **extra))


def deliver(gw, subject="gssapi"):
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message(subject))
        c.cmd("QUIT")
    return replies


def test_relay_with_gssapi():
    kdc, final, sub = setup()
    gw = gateway(sub, kdc.keytab)
    replies = deliver(gw)
    check(all(r.code < 400 for r in replies), "transaction failed: %r\n%s"
          "\n%s", replies, gw.log(), sub.text())
    msgs = final.wait_messages(1)
    check(len(msgs) == 1, "want one message at the final upstream, got %r",
          msgs)
    check((CLIENT.lower(), "GSSAPI") in sub.logins(), "Dovecot logged no GSSAPI "
          "login of %s: %r\n%s", CLIENT, sub.logins(), sub.text())
    log = gw.log()
    check(re.search(r'auth mech=GSSAPI user="" principal="%s"' %
                    re.escape(CLIENT), log), "the start is not logged: %s",
          log)
    check(re.search(r'auth mech=GSSAPI result=ok kerberos="%s -> '
                    r'smtp/localhost@GW\.TEST"' % re.escape(CLIENT), log),
          "the principal that authenticated is not logged: %s", log)
    # debug level, or a warning from 500 ms on (valgrind is that slow);
    # step 0 runs on a thread, the later ones on the loop
    m = re.findall(r"auth mech=GSSAPI step=(\d+) (?:took|waited|blocked "
                   r"the event loop for) (\d+) ms", log)
    check(m and m[0][0] == "0", "the KDC wait is not logged: %s", log)
    print("gssapi: time per step (ms; step 0 on a thread): %s" %
          ", ".join("%s:%s" % s for s in m))
    check(kdc.keytab not in log or "gssapi_keytab" in log,
          "unexpected keytab mention")


def test_second_login_uses_cached_tickets():
    """The memory cache keeps the TGT and the service ticket: the second
    connection's login asks the KDC for nothing."""
    kdc, final, sub = setup()
    before = set(glob.glob("/tmp/krb5cc*"))
    gw = gateway(sub, kdc.keytab, pool="no")
    for i in range(2):
        replies = deliver(gw, "cache %d" % i)
        check_reply(replies[-1], 250, what="message %d" % i)
    reqs = re.findall(r"(AS_REQ|TGS_REQ) .*smtpgate@GW\.TEST", kdc.text())
    check(reqs.count("TGS_REQ") == 1, "want one TGS request for two "
          "logins, KDC log: %s", kdc.text())
    check(set(glob.glob("/tmp/krb5cc*")) <= before, "a credential cache "
          "file appeared in /tmp: %r", set(glob.glob("/tmp/krb5cc*")) -
          before)


def test_probe_logs_in_with_gssapi():
    """smtpgate probe names GSSAPI as the choice and logs in with it."""
    kdc, final, sub = setup()
    path = os.path.join(gwtest.newdir("probe"), "smtpgate.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(gwtest.config_text(gwtest.free_port(), sub.port,
                                   upstream=gss_conf(kdc.keytab)))
    r = gwtest.subprocess.run([gwtest.BIN, "probe", "-c", path, "up"],
                              capture_output=True, timeout=60,
                              stdin=gwtest.subprocess.DEVNULL)
    out = (r.stdout + r.stderr).decode(errors="replace")
    check(r.returncode == 0, "probe exit %d:\n%s", r.returncode, out)
    check("would use GSSAPI" in out, "probe does not name GSSAPI: %s", out)
    check(re.search(r"^auth login +ok: .*GSSAPI", out, re.M),
          "no GSSAPI login verdict: %s", out)
    check(final.messages() == [], "the probe sent mail")


def test_stale_key_fails_as_auth():
    kdc, final, sub = setup()
    gw = gateway(sub, kdc.stale_keytab)
    with gw.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        if r.code == 250:
            r = c.cmd("RCPT TO:<%s>" % RCPT)
    check(r.code == 451, "want 451 for a stale key, got %r", r)
    check("auth" in r.text.lower(), "451 without the auth class: %r", r)
    log = gw.log()
    check(re.search(r"fail(ure)?[ =_a-z]*auth", log) and
          re.search(r"(Preauthentication failed|Decrypt integrity|"
                    r"Password incorrect|Key version)", log),
          "no clear Kerberos reason in the log: %s", log)
    check(final.messages() == [], "a message went through")
    check(sub.logins() == [], "Dovecot logged a login: %r", sub.logins())


class Impostor:
    """A scripted SMTP server without the service key: it offers GSSAPI
    and answers the AUTH line with 235 at once, skipping the AP-REP with
    which a real server proves itself (mutual authentication).  One
    thread per connection (at most 16), each line answered from a fixed
    table; it records the commands it saw.  Bounded: each read times
    out (after longer than a KDC stall: the gateway's wait for the KDC
    no longer holds the impostor's threads back)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.seen = []
        self.threads = []
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = gwtest.time.monotonic() + gwtest.TEST_TIMEOUT
        while not self.done and gwtest.time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if len(self.threads) >= 16:
                conn.close()
                continue
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        with conn:
            self._talk(conn)

    def _talk(self, conn):
        conn.settimeout(gwtest.TEST_TIMEOUT)
        f = conn.makefile("rwb")
        f.write(b"220 impostor ESMTP\r\n")
        f.flush()
        for _ in range(20):
            try:
                line = f.readline(4096).decode(errors="replace").strip()
            except OSError:
                return
            if not line:
                return
            verb = line.split(" ")[0].upper()
            self.seen.append(verb)
            if verb == "EHLO":
                f.write(b"250-impostor\r\n250 AUTH GSSAPI\r\n")
            elif verb == "AUTH":
                f.write(b"235 2.7.0 Authentication successful\r\n")
            elif verb == "QUIT":
                f.write(b"221 2.0.0 Bye\r\n")
                f.flush()
                return
            else:
                f.write(b"250 2.0.0 Ok\r\n")
            f.flush()

    def stop(self):
        self.done = True
        self.thread.join(5)
        for t in self.threads:
            t.join(1)
        self.sock.close()


def test_mutual_authentication_required():
    """A 235 before the server proved it holds the service key is
    refused (the KDC still issues the ticket: the impostor just cannot
    read it), and GSSAPI runs without TLS (tls = none) with no
    cleartext warning: the key never crosses the wire."""
    kdc = Kdc()
    imp = Impostor()
    try:
        gw = Gateway(upstream=imp, upstream_conf=gss_conf(
            kdc.keytab, tls="none"))
        with gw.client() as c:
            c.start()
            r = c.cmd("MAIL FROM:<%s>" % SENDER)
            c.cmd("QUIT")
        check(r.code == 451, "want 451 after a 235 without mutual "
              "authentication, got %r", r)
        log = gw.log()
        check(re.search(r"auth mech=GSSAPI result=failed: 235 without "
                        r"the server's proof", log),
              "the refused 235 is not logged: %s", log)
        check("MAIL" not in imp.seen, "MAIL went to the impostor: %r",
              imp.seen)
        check("CLEARTEXT" not in log, "a cleartext warning for GSSAPI: %s",
              log)
    finally:
        imp.stop()


def healthz(port):
    """GET /healthz: (status, seconds it took)."""
    t0 = gwtest.time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port,
                                   timeout=10 * gwtest.TIME_SCALE)
    try:
        c.request("GET", "/healthz")
        status = c.getresponse().status
    finally:
        c.close()
    return status, gwtest.time.monotonic() - t0


def blackhole_kdc():
    """A krb5.conf (in KRB5_CONFIG) whose KDC address swallows UDP and
    refuses TCP; returns the socket that swallows."""
    kdc = Kdc()
    kdc.stop()
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", 0))
    conf = os.path.join(kdc.dir, "blackhole.conf")
    with open(conf, "w") as f:
        f.write(open(kdc.krb5conf).read().replace(
            "127.0.0.1:%d" % kdc.port, "127.0.0.1:%d" % hole.getsockname()[1]))
    os.environ["KRB5_CONFIG"] = conf
    return kdc, hole


def test_unanswering_kdc_stalls_no_other_session():
    """A KDC address that swallows UDP (and refuses TCP) stalls MIT's
    library for many seconds, on the login's own thread: meanwhile
    /healthz and new SMTP sessions are served at once, and a second
    login (whose client hangs up) waits on a thread of its own behind
    the first.  The first login says so in a warning, and the logins of
    the next minute fail at once (the back-off) instead of piling up
    threads against the dead KDC."""
    kdc, hole = blackhole_kdc()
    imp = Impostor()
    hport = gwtest.free_port()
    try:
        gw = Gateway(upstream=imp, upstream_conf=gss_conf(
            kdc.keytab, tls="none"), gateway={
                "http_listen": "127.0.0.1:%d" % hport})
        first = {}

        def login():
            t0 = gwtest.time.monotonic()
            try:
                with gw.client() as c:
                    c.start()
                    first["reply"] = c.cmd("MAIL FROM:<%s>" % SENDER,
                                           timeout=gwtest.REPLY_TIMEOUT * 6)
                    c.cmd("QUIT")
            finally:
                first["secs"] = gwtest.time.monotonic() - t0

        waiting = r"auth mech=GSSAPI step=0 on a thread \((\d+) alive\)"
        t = threading.Thread(target=login, daemon=True)
        t.start()
        check(gw.wait_log(waiting, timeout=10),
              "the first login's thread did not start: %s", gw.log())
        # a second login, behind the first; its client hangs up (the
        # relay notices when the upstream side is done)
        with gw.client() as c:
            c.start()
            c.send(b"MAIL FROM:<%s>\r\n" % SENDER.encode())
            check(gw.wait_log(waiting + r"(?s:.*)" + waiting,
                              timeout=10),
                  "the second login's thread did not start: %s", gw.log())
        # the loop serves others while both wait on the KDC
        probes = []
        for _ in range(4):
            probes.append(healthz(hport))
            with gw.client() as c:
                t0 = gwtest.time.monotonic()
                c.start()
                c.cmd("QUIT")
                probes.append((220, gwtest.time.monotonic() - t0))
            gwtest.time.sleep(0.5)
        busy = "secs" not in first
        t.join(gwtest.REPLY_TIMEOUT * 7)
        check(not t.is_alive() and "reply" in first,
              "the first login got no reply: %r\n%s", first, gw.log())
        print("gssapi: unanswering KDC: first login %.1f s; meanwhile "
              "/healthz and SMTP greetings in %s s" % (first["secs"], ", ".join(
                  "%.2f" % s for _, s in probes)))
        check(busy, "the first login was over before the probes were: "
              "%.1f s", first["secs"])
        check(all(st == 200 for st, _ in probes[::2]), "/healthz failed: "
              "%r", probes)
        check(max(s for _, s in probes) < 2 * gwtest.TIME_SCALE,
              "another session waited for the KDC: %r", probes)
        t0 = gwtest.time.monotonic()
        with gw.client() as c:
            c.start()
            r = c.cmd("MAIL FROM:<%s>" % SENDER)
            c.cmd("QUIT")
        secs = gwtest.time.monotonic() - t0
        check(first["reply"].code == 451 and r.code == 451,
              "want 451 twice: %r %r", first["reply"], r)
        log = gw.log()
        check(re.search(r"auth mech=GSSAPI step=0 waited \d+ ms for the "
                        r"KDC on a thread", log), "no slow-KDC warning: %s",
              log)
        check("Cannot contact any KDC" in log, "no KDC reason: %s", log)
        check(re.search(r"the KDC was not asked: the last attempt, \d+s "
                        r"ago, stalled \d+ ms and failed", log),
              "the last login was not backed off: %s", log)
        check(secs < 5 * gwtest.TIME_SCALE, "the last login stalled too: "
              "%.1f s", secs)
        # the job of the client that hung up is over (it waited for the
        # first one's lock): nothing is left for valgrind to find
        alive = re.findall(waiting, log)
        check(alive[:2] == ["1", "2"] and alive[-1] == "1",
              "unexpected job counts %r: %s", alive, log)
    finally:
        imp.stop()
        hole.close()


def test_timeout_while_waiting_on_kdc():
    """command_timeout ends a login that waits on a dead KDC (state
    AUTH_KDC): the client gets its 451 on time, and the thread, left
    alone, frees the context and its copies when the KDC step ends
    (valgrind: no leak, no use after free); its back-off note still
    counts, and the job count goes back to the one login running."""
    kdc, hole = blackhole_kdc()
    imp = Impostor()
    try:
        # under the 18 s stall even under valgrind (not TIME_SCALEd)
        gw = Gateway(upstream=imp, upstream_conf=gss_conf(
            kdc.keytab, tls="none", command_timeout="6"))
        t0 = gwtest.time.monotonic()
        with gw.client() as c:
            c.start()
            r = c.cmd("MAIL FROM:<%s>" % SENDER, timeout=30)
        check(r.code == 451, "want 451 after the timeout, got %r", r)
        check(re.search(r"failed class=timeout state=AUTH_KDC", gw.log()),
              "no timeout in AUTH_KDC: %s", gw.log())
        print("gssapi: timed out in AUTH_KDC after %.1f s" %
              (gwtest.time.monotonic() - t0))
        # logins queue behind the abandoned step (and may time out too)
        # until it ends and sets the back-off: bounded, 6 x 6 s
        backed = r"the KDC was not asked: the last attempt"
        for _ in range(6):
            with gw.client() as c:
                c.start()
                c.cmd("MAIL FROM:<%s>" % SENDER, timeout=30)
            if re.search(backed, gw.log()):
                break
        check(re.search(backed, gw.log()), "no back-off after the "
              "abandoned step: %s", gw.log())
        with gw.client() as c:
            c.start()
            r = c.cmd("MAIL FROM:<%s>" % SENDER)
        alive = re.findall(r"step=0 on a thread \((\d+) alive\)",
                           gw.log())
        check(r.code == 451 and alive[-1] == "1", "want 451 and the "
              "abandoned jobs gone (%r): %r %s", alive, r, gw.log())
    finally:
        imp.stop()
        hole.close()


def test_stop_while_waiting_on_kdc():
    """SIGTERM while a login waits on a dead KDC: the signal is taken at
    once (the loop is free) and the drain waits for that session; a
    second SIGTERM exits at once, cleanly, the thread left behind."""
    kdc, hole = blackhole_kdc()
    imp = Impostor()
    try:
        gw = Gateway(upstream=imp, upstream_conf=gss_conf(
            kdc.keytab, tls="none"))
        c = gw.client()
        c.start()
        c.send(b"MAIL FROM:<%s>\r\n" % SENDER.encode())
        check(gw.wait_log(r"auth mech=GSSAPI step=0 on a thread",
                          timeout=10),
              "the login's thread did not start: %s", gw.log())
        gw.signal(gwtest.signal.SIGTERM)
        check(gw.wait_log(r"draining \d+ session", timeout=2),
              "SIGTERM not taken while the "
              "login waits on the KDC: %s", gw.log())
        check(gw.alive(), "exited before the session was drained")
        gw.signal(gwtest.signal.SIGTERM)
        # no third signal from stop() into a process already exiting
        gone = gwtest.wait_for(lambda: not gw.alive(),
                               timeout=5)
        check(gone, "the second SIGTERM waited for the KDC: %s", gw.log())
        rc = gw.proc.returncode
        gw.exit_expected = True
        problems = gw.stop()
        check(rc == 0 and not problems, "exit status %s after the second "
              "SIGTERM; %s", rc, "; ".join(problems))
        c.close()
    finally:
        imp.stop()
        hole.close()


def test_keytab_mode_refused():
    kdc = Kdc()
    os.chmod(kdc.keytab, 0o640)
    up = Upstream("plain")
    gw = Gateway(upstream=up, upstream_conf=gss_conf(kdc.keytab),
                 start=False)
    gw._write(gwtest.free_port())
    r = gwtest.subprocess.run([gwtest.BIN, "-t", "-c", gw.path],
                              capture_output=True, timeout=30)
    out = (r.stdout + r.stderr).decode(errors="replace")
    check(r.returncode != 0 and "gssapi_keytab" in out and
          "chmod 600" in out, "-t took a keytab others can read: %d %s",
          r.returncode, out)


if __name__ == "__main__":
    gwtest.main(globals())
