#!/usr/bin/python3
"""Revocation by OCSP, through the relay against real TLS SMTP servers on
loopback and a real responder (openssl ocsp, gwtest.OcspResponder): a good
leaf relays and its answer is cached; a revoked leaf is refused under soft
and hard; a responder that is down lets soft relay and makes hard refuse;
a silent responder is bounded by ocsp_timeout while another session keeps
relaying; the AIA URL is used when there is no ocsp_url."""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, OcspResponder, Upstream, check,  # noqa: E402
                    ocsp_aia_port)
from gwtest import check_reply  # noqa: E402
from test_tls_trust import (RCPT, SENDER, expect_delivered,  # noqa: E402
                            expect_log, expect_tempfail, sample_message,
                            transaction)


def ocsp_conf(mode, url=None, **kw):
    conf = {"ocsp": mode}
    if url is not None:
        conf["ocsp_url"] = url
    conf.update(kw)
    return conf


def test_good_relays_and_is_cached():
    rs = OcspResponder()
    up = Upstream("starttls", cert="ocsp-good")
    gw = Gateway(up, upstream_conf=ocsp_conf("hard", rs.url))
    expect_delivered(up, gw, "first")
    check(len(rs.requests()) == 1, "requests %r", rs.requests())
    expect_log(gw, r"ocsp=good revocation=ocsp:good", "OCSP verdict")
    # the second session uses the cached answer: no new request
    gw2_msgs = len(up.messages())
    expect_delivered_again(up, gw, gw2_msgs)
    check(len(rs.requests()) == 1, "second session asked again: %r",
          rs.requests())
    rs.stop()


def expect_delivered_again(up, gw, before):
    msg = sample_message("again")
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg)
        check_reply(replies[-1], 250, what="end of DATA")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    m = up.wait_messages(before + 1)
    check(len(m) == before + 1 and m[-1].data == msg, "not delivered: %r", m)


def test_aia_url():
    rs = OcspResponder(port=ocsp_aia_port())
    up = Upstream("starttls", cert="ocsp-good")
    gw = Gateway(up, upstream_conf=ocsp_conf("hard"))
    expect_delivered(up, gw)
    check(len(rs.requests()) == 1, "requests %r", rs.requests())
    rs.stop()


def test_revoked_soft():
    rs = OcspResponder()
    up = Upstream("starttls", cert="ocsp-revoked")
    gw = Gateway(up, upstream_conf=ocsp_conf("soft", rs.url))
    expect_tempfail(up, gw, "cert-revoked")
    rs.stop()


def test_revoked_hard():
    rs = OcspResponder()
    up = Upstream("starttls", cert="ocsp-revoked")
    gw = Gateway(up, upstream_conf=ocsp_conf("hard", rs.url))
    expect_tempfail(up, gw, "cert-revoked")
    # the cached "revoked" refuses the next session without a request
    expect_tempfail(up, gw, "cert-revoked")
    check(len(rs.requests()) == 1, "requests %r", rs.requests())
    rs.stop()


def test_unknown_to_responder():
    # "good" is not in the responder's index: it answers "unknown"
    rs = OcspResponder()
    up = Upstream("starttls", cert="good")
    gw = Gateway(up, upstream_conf=ocsp_conf("soft", rs.url))
    expect_delivered(up, gw)
    # wolfSSL reports the "unknown" status as -367 (lookup failed)
    expect_log(gw, r"ocsp=unknown .*\(-36[67]\)", "soft verdict")
    up2 = Upstream("starttls", cert="good")
    gw2 = Gateway(up2, upstream_conf=ocsp_conf("hard", rs.url))
    expect_tempfail(up2, gw2, "revocation-unknown")
    rs.stop()


def test_down_soft_relays_hard_refuses():
    rs = OcspResponder()
    rs.stop_responder()
    up = Upstream("starttls", cert="ocsp-good")
    gw = Gateway(up, upstream_conf=ocsp_conf("soft", rs.url))
    expect_delivered(up, gw)
    expect_log(gw, r"ocsp=unknown", "soft verdict")
    up2 = Upstream("starttls", cert="ocsp-good")
    gw2 = Gateway(up2, upstream_conf=ocsp_conf("hard", rs.url))
    expect_tempfail(up2, gw2, "revocation-unknown")
    rs.stop()


def test_off_makes_no_request():
    rs = OcspResponder()
    up = Upstream("starttls", cert="ocsp-revoked")
    gw = Gateway(up, upstream_conf={"ocsp_url": rs.url})
    expect_delivered(up, gw)
    check(rs.requests() == [], "requests %r", rs.requests())
    rs.stop()


def test_silent_responder_does_not_block_others():
    """One gateway process, two listeners: while a session to the OCSP
    upstream waits on a silent responder, a session through the other
    listener relays at once; the waiting one ends at ocsp_timeout."""
    silent = OcspResponder(mode="silent")
    up_slow = Upstream("starttls", cert="ocsp-good")
    up_fast = Upstream("starttls", cert="good")
    port, port2 = gwtest.free_port(), gwtest.free_port()
    # under valgrind everything is slower: scale the timeout with it
    tmo = max(3, int(3 * gwtest.TIME_SCALE))
    text = gwtest.config_text(port, up_slow.port, upstream=ocsp_conf(
        "hard", silent.url, ocsp_timeout="%ds" % tmo))
    text += "\n" + gwtest.ini([
        ("listener fast", {"listen": "127.0.0.1:%d" % port2,
                           "allow": "127.0.0.0/8", "upstream": "fast"}),
        ("upstream fast", {"host": "127.0.0.1", "port": str(up_fast.port),
                           "tls": "starttls",
                           "ca_file": gwtest.pki()["ca-bundle"],
                           "tls_name": "localhost", "helo_name": "gw.test",
                           "command_timeout": "20"})])
    gw = Gateway(text=text, port=port)
    result = {}

    def slow():
        t0 = time.monotonic()
        try:
            expect_tempfail(up_slow, gw, "revocation-unknown")
            result["ok"] = True
        except Exception as e:	# reported by the main thread
            result["err"] = e
        result["dt"] = time.monotonic() - t0

    t = threading.Thread(target=slow)
    t.start()
    # the slow session's request is at the silent responder now
    gwtest.wait_for(lambda: len(silent.requests()) == 1, 10)
    t0 = time.monotonic()
    msg = sample_message("fast")
    with gwtest.Client(port2) as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg)
        check_reply(replies[-1], 250, what="end of DATA")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    fast_dt = time.monotonic() - t0
    check(not result, "the slow session ended before the fast one: %r",
          result)
    m = up_fast.wait_messages(1)
    check(len(m) == 1 and m[0].data == msg, "not delivered: %r", m)
    t.join(30)
    check("err" not in result, "slow session: %s", result.get("err"))
    check(result.get("ok"), "slow session did not finish")
    check(fast_dt < tmo - 0.5, "the other session took %.1fs", fast_dt)
    check(tmo - 0.5 <= result["dt"] < tmo + 7 * gwtest.TIME_SCALE,
          "slow session took %.1fs, want about the %ds ocsp_timeout",
          result["dt"], tmo)
    silent.stop()


def test_dripping_responder_bounded_by_ocsp_timeout():
    """ocsp_timeout is a deadline for the whole fetch: a responder that
    sends its answer one byte every half second (an idle timeout never
    fires) ends at ocsp_timeout, not at command_timeout."""
    drip = OcspResponder(mode="drip")
    tmo = max(2, int(2 * gwtest.TIME_SCALE))
    for mode in ("hard", "soft"):
        up = Upstream("starttls", cert="ocsp-good")
        gw = Gateway(up, upstream_conf=ocsp_conf(
            mode, drip.url, ocsp_timeout="%ds" % tmo, command_timeout="60"))
        t0 = time.monotonic()
        if mode == "hard":
            expect_tempfail(up, gw, "revocation-unknown")
        else:
            expect_delivered(up, gw)
        dt = time.monotonic() - t0
        check(tmo - 0.5 <= dt < tmo + 6 * gwtest.TIME_SCALE,
              "%s: the session took %.1fs, want about the %ds ocsp_timeout",
              mode, dt, tmo)
        expect_log(gw, r"no complete answer from \S+ within ocsp_timeout",
                   "deadline")
        gw.stop()
        up.stop()
    check(len(drip.requests()) == 2, "requests %r", drip.requests())
    drip.stop()


def test_client_leaves_while_fetching():
    """The client leaves while its session's OCSP request is outstanding:
    the gateway goes on serving others, and the session ends when the
    fetch does (here: when the responder goes away)."""
    silent = OcspResponder(mode="silent")
    up = Upstream("starttls", cert="ocsp-good")
    gw = Gateway(up, upstream_conf=ocsp_conf("soft", silent.url,
                                              ocsp_timeout="30s"))
    c = gw.client()
    c.start()
    c.send(b"MAIL FROM:<%s>\r\n" % SENDER.encode())
    gwtest.wait_for(lambda: len(silent.requests()) == 1, 10)
    c.close()
    time.sleep(0.5 * gwtest.TIME_SCALE)
    # the loop is alive; the stop at the end of the test checks that
    # the gateway exits cleanly (and, under valgrind, its memory)
    with gw.client() as c2:
        c2.start()
        check_reply(c2.cmd("QUIT"), 221, what="QUIT")
    silent.stop()


def test_chain_checks_the_intermediate():
    """ocsp_check = chain also asks about the intermediate: with the root's
    responder (which knows the intermediates, not the leaves), a leaf under
    the revoked intermediate revint-ca is refused, while leaf-only checking
    lets it through (soft: the leaf's "unknown" is a gap)."""
    rs = OcspResponder(ca="root-ca")
    up = Upstream("starttls", cert="revint")
    gw = Gateway(up, upstream_conf=ocsp_conf("soft", rs.url,
                                             ocsp_check="chain",
                                             ca_file=gwtest.pki()[
                                                 "ca-chain-bundle"]))
    expect_tempfail(up, gw, "cert-revoked")
    check(len(rs.requests()) >= 1, "no request: %r", rs.requests())
    up2 = Upstream("starttls", cert="revint")
    gw2 = Gateway(up2, upstream_conf=ocsp_conf("soft", rs.url))
    expect_delivered(up2, gw2)
    rs.stop()


def test_chain_good_intermediate_relays():
    rs = OcspResponder(ca="root-ca")
    up = Upstream("starttls", cert="good")
    gw = Gateway(up, upstream_conf=ocsp_conf("soft", rs.url,
                                             ocsp_check="chain",
                                             ca_file=gwtest.pki()[
                                                 "ca-chain-bundle"]))
    expect_delivered(up, gw)
    check(len(rs.requests()) >= 1, "no request: %r", rs.requests())
    rs.stop()


def test_chain_without_intermediates_in_store_says_why():
    """wolfSSL 5.5.4 does not take an intermediate as issuer while its
    OCSP status is still to be fetched: with only the root in ca_file,
    ocsp_check = chain refuses, and the log says what to change."""
    rs = OcspResponder(ca="root-ca")
    up = Upstream("starttls", cert="good")
    gw = Gateway(up, upstream_conf=ocsp_conf("soft", rs.url,
                                             ocsp_check="chain"))
    expect_tempfail(up, gw, "cert-untrusted")
    expect_log(gw, r"ocsp_check = chain needs the intermediate CAs in "
               r"ca_file or ca_path", "hint")
    rs.stop()


gwtest.main(globals())
