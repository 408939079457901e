#!/usr/bin/python3
"""TLS session resumption towards the upstream (tls_resume), through the
relay against real TLS SMTP servers on loopback: Python's ssl server
(OpenSSL) issues TLS 1.3 tickets and resumes TLS 1.2 sessions.  The
second one-message session resumes the first's session (resumed=yes on
its transaction line and its tls info line); tls_resume = no never
resumes; a reload starts with an empty cache, so a changed pin_sha256 is
checked on a full handshake and refused; pins are checked on a resumed
handshake too (pin=ok); a session whose verdict rests on an OCSP answer
is offered only while that answer is still cached as good."""

import os
import re
import signal
import subprocess
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, OcspResponder, Upstream, check,  # noqa: E402
                    check_reply, config_text, sample_message, transaction)
from test_tls_trust import (RCPT, SENDER, expect_tempfail,  # noqa: E402
                            spki_pin)


# Resumption shows only on a new connection: with the upstream pool on (the
# default since issue 11) the second session would reuse the first's
# connection and never do a second handshake.  These tests are about the
# handshake, so they run with pool = no; test_pool.py checks resumption
# with the pool on (pool_max_messages = 1).
NOPOOL = {"pool": "no"}


def tx_resumed(gw, start=0):
    """resumed= of every transaction line from offset start."""
    out = []
    for ln in re.findall(r" relay client=.*$", gw.log()[start:], re.M):
        m = re.search(r' tls="[^"]*" resumed=(yes|no)[ \n]', ln + "\n")
        check(m, "no resumed= right after tls= on %r", ln)
        out.append(m.group(1))
    return out


def deliver(up, gw, subject):
    """One client session with one message; waits for its log line."""
    before = len(up.messages())
    nlines = len(tx_resumed(gw))
    msg = sample_message(subject)
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg)
        check_reply(replies[-1], 250, what="end of DATA")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    m = up.wait_messages(before + 1)
    check(len(m) == before + 1 and m[-1].data == msg, "not delivered: %r", m)
    check(gwtest.wait_for(lambda: len(tx_resumed(gw)) > nlines, 5),
          "no transaction line for %s", subject)


def sessions(up, gw, n, start=0):
    for i in range(n):
        deliver(up, gw, "msg %d" % i)
    return tx_resumed(gw, start)[-n:]


def resume_case(mode, extra=(), conf=None, want=("no", "yes", "yes")):
    up = Upstream(mode, extra=extra)
    conf = dict(NOPOOL, **(conf or {}))
    conf.setdefault("tls_resume", "yes")
    gw = Gateway(up, upstream_conf=conf)
    got = sessions(up, gw, len(want))
    check(tuple(got) == tuple(want), "%s %r: resumed= %r, want %r", mode,
          extra, got, want)
    gw.stop()
    up.stop()
    return gw


def test_tls13_ticket_starttls():
    gw = resume_case("starttls")
    check(re.search(r"tls upstream=.* version=TLSv1\.3 .* resumed=yes .*"
                    r"subject=/O=smtpgate test/CN=localhost ", gw.log()),
          "no resumed TLS 1.3 info line with the server's subject")


def test_tls13_ticket_implicit():
    resume_case("implicit", conf={"tls": "implicit"})


def test_default_on():
    """tls_resume is on by default: the second session resumes."""
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf=NOPOOL)
    got = sessions(up, gw, 2)
    check(got == ["no", "yes"], "default: %r, want no, yes", got)
    gw.stop()
    up.stop()


def test_tls12():
    gw = resume_case("starttls", extra=("--tls-max", "1.2"))
    check(re.search(r"tls upstream=.* version=TLSv1\.2 .* resumed=yes ",
                    gw.log()), "no resumed TLS 1.2 info line")


def test_tls12_session_id():
    """A TLS 1.2 server that issues no tickets resumes by session ID."""
    gw = resume_case("starttls", extra=("--tls-max", "1.2", "--no-tickets"))
    check(re.search(r"tls upstream=.* version=TLSv1\.2 .* resumed=yes ",
                    gw.log()), "no resumed TLS 1.2 info line")


def test_resumed_says_what_policy_let_through():
    """verify= of a resumed session is its full handshake's, not a bare
    "verified" (no verify callback runs on resumption)."""
    up = Upstream("starttls", cert="untrusted")
    gw = Gateway(up, upstream_conf=dict(NOPOOL, accept="untrusted-root",
                                        tls_resume="yes"))
    check(sessions(up, gw, 2) == ["no", "yes"], "resumed= %r",
          tx_resumed(gw))
    check(re.search(r"tls upstream=.* resumed=yes .*"
                    r"verify=accepted:untrusted-root ", gw.log()),
          "the resumed session's verify= lost the accepted exception")
    gw.stop()
    up.stop()


def test_resume_off():
    gw = resume_case("starttls", conf={"tls_resume": "no"},
                     want=("no", "no", "no"))
    check(not re.search(r"tls upstream=.* resumed=yes ", gw.log()),
          "a session was resumed with tls_resume = no")


def test_pins_held_on_resumption_and_reload():
    """A resumed handshake is held to the pins (pin=ok on its info line);
    a reload starts with an empty cache (the first session after it is a
    full handshake), and a changed pin_sha256 then refuses the server."""
    up = Upstream("starttls", cert="good")
    conf = dict(NOPOOL, pin_sha256=spki_pin("good"), tls_resume="yes")
    gw = Gateway(up, upstream_conf=conf)
    check(sessions(up, gw, 2) == ["no", "yes"], "no resumption: %r",
          tx_resumed(gw))
    check(re.search(r"tls upstream=.* resumed=yes .* pin=ok ", gw.log()),
          "resumed handshake without pin=ok")
    # the same configuration again: a new snapshot, an empty cache
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"reload: new configuration in use", 10, start=mark),
          "no reload")
    check(sessions(up, gw, 2, mark) == ["no", "yes"],
          "after a reload: %r", tx_resumed(gw, mark))
    # another key's pin: the session of the old snapshot is not offered
    mark = len(gw.log())
    conf2 = dict(conf, pin_sha256=spki_pin("rsa"))
    gw.write_config(config_text(gw.port, up.port, upstream=conf2,
                                gateway={"hostname": "gw.test",
                                         "log_level": "debug"}))
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"reload: new configuration in use", 10, start=mark),
          "no reload")
    n = len(up.messages())
    nmail = len(up.events("MAIL"))
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("no"))
        bad = [r for r in replies if r.code >= 400]
        check(bad and "(pin-mismatch)" in bad[0].text,
              "want pin-mismatch, got %r", replies)
    check(len(up.messages()) == n and len(up.events("MAIL")) == nmail,
          "delivered to a server whose key matches no pin")
    check(not re.search(r"tls upstream=.* resumed=yes ", gw.log()[mark:]),
          "a session was resumed after the pin changed")
    gw.stop()
    up.stop()


def ocsp_case(rs, want_requests):
    up = Upstream("starttls", cert="ocsp-good")
    gw = Gateway(up, upstream_conf=dict(NOPOOL, ocsp="hard",
                                        ocsp_url=rs.url, tls_resume="yes"))
    got = sessions(up, gw, 2)
    check(len(rs.requests()) == want_requests, "OCSP requests %r, want %d",
          rs.requests(), want_requests)
    return up, gw, got


def test_ocsp_good_resumes_while_cached():
    """The first session fetches a good answer (nextUpdate a day ahead);
    the second resumes (ocsp:resumed) and asks nothing."""
    rs = OcspResponder()
    up, gw, got = ocsp_case(rs, 1)
    check(got == ["no", "yes"], "resumed= %r", got)
    check(re.search(r"tls upstream=.* resumed=yes .*revocation=ocsp:resumed",
                    gw.log()), "no ocsp:resumed on the resumed session")
    gw.stop()
    up.stop()
    rs.stop()


def test_ocsp_answer_not_cached_no_resume():
    """An answer without nextUpdate is never cached: the session whose
    verdict rests on it is not offered, the next connection is a full
    handshake and asks the responder again."""
    rs = OcspResponder(next_update=False)
    up, gw, got = ocsp_case(rs, 2)
    check(got == ["no", "no"], "resumed= %r", got)
    check(gw.wait_log(r"tls session not offered: its OCSP answer"),
          "no debug line saying why the session was not offered")
    gw.stop()
    up.stop()
    rs.stop()


def test_stapling_sessions_not_kept():
    """With ocsp_stapling the staple's nextUpdate cannot be honoured on a
    resumed session (wolfSSL keeps no staple): nothing is kept, and the
    second connection is a full handshake with a fresh staple."""
    up = gwtest.StapleUpstream()
    gw = Gateway(up, upstream_conf=dict(NOPOOL, tls="implicit",
                                        port=str(up.port),
                                        ocsp_stapling="require",
                                        tls_resume="yes"))
    for i in range(2):
        # stapleup.py starts a new s_server once the last one has exited;
        # until then a connection is refused (4.4.1), or, under load, cut
        # during the handshake by the s_server on its way out (4.7.5
        # tls-protocol, "error state on socket"): try again
        def sent():
            try:
                deliver(up, gw, "staple %d" % i)
                return True
            except gwtest.TestFailure as e:
                if "4.4.1" not in str(e) and "(tls-protocol)" not in str(e):
                    raise
                return False
        check(gwtest.wait_for(sent, 10, 0.1), "stapleup.py unreachable")
    # conn= and carried= (issue 11) come between resumed= and reply=
    got = [m for m in re.findall(r' tls="[^"]*" resumed=(\w+) (?:\S+ )*'
                                 r'reply="250 ', gw.log())]
    check(got == ["no", "no"], "resumed= %r", got)
    check(len(re.findall(r"session not kept for resumption: ocsp_stapling",
                         gw.log())) == 2, "no 'not kept' debug lines")
    check(len(re.findall(r"revocation=ocsp:good", gw.log())) == 2,
          "each connection should check its own staple")
    gw.stop()
    up.stop()


def test_tls_resume_key_refused_when_bad():
    """A word that is not yes/no: FILE:LINE: tls_resume: why, from -t."""
    gw = Gateway(upstream_conf={"tls_resume": "maybe"}, start=False)
    gw._write(gwtest.free_port())
    r = subprocess.run([gwtest.BIN, "-t", "-c", gw.path],
                       capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    check(r.returncode != 0 and re.search(r":\d+: tls_resume: ", r.stderr),
          "want FILE:LINE: tls_resume: ..., got %d %r", r.returncode,
          r.stderr)


if __name__ == "__main__":
    gwtest.main(globals())
