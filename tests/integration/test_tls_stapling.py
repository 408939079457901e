#!/usr/bin/python3
"""OCSP stapling (ocsp_stapling = off | request | require) through the
relay, against a real stapling TLS server: `openssl s_server -status_file`
(gwtest.StapleUpstream) stapling an answer made by `openssl ocsp` from the
test PKI's index.  A good staple relays, a revoked staple is refused, a
server that staples nothing relays under request and is refused under
require, and off ignores even a revoked staple."""

import os
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import Gateway, StapleUpstream, check  # noqa: E402
from test_ops import run, write  # noqa: E402
from test_tls_trust import (expect_delivered, expect_log,  # noqa: E402
                            expect_tempfail)


def conf(up, stapling, **kw):
    c = {"tls": "implicit", "port": str(up.port)}
    if stapling is not None:
        c["ocsp_stapling"] = stapling
    c.update(kw)
    return c


def test_request_good_staple():
    up = StapleUpstream(cert="ocsp-good", staple="ocsp-good")
    gw = Gateway(up, upstream_conf=conf(up, "request"))
    expect_delivered(up, gw)
    expect_log(gw, r"revocation=ocsp:good", "stapled verdict")


def test_request_revoked_staple():
    up = StapleUpstream(cert="ocsp-revoked", staple="ocsp-revoked")
    gw = Gateway(up, upstream_conf=conf(up, "request"))
    expect_tempfail(up, gw, "cert-revoked")
    expect_log(gw, r"revoked", "revoked staple in the log")


def test_require_revoked_staple():
    up = StapleUpstream(cert="ocsp-revoked", staple="ocsp-revoked")
    gw = Gateway(up, upstream_conf=conf(up, "require"))
    expect_tempfail(up, gw, "cert-revoked")


def test_request_no_staple_relays():
    up = StapleUpstream(cert="ocsp-good", staple=None)
    gw = Gateway(up, upstream_conf=conf(up, "request"))
    expect_delivered(up, gw)
    expect_log(gw, r"revocation=ocsp:no-staple", "no-staple verdict")


def test_require_no_staple_refused():
    up = StapleUpstream(cert="ocsp-good", staple=None)
    gw = Gateway(up, upstream_conf=conf(up, "require"))
    expect_tempfail(up, gw, "revocation-unknown")
    expect_log(gw, r"no OCSP staple from the server", "why in the log")


def test_require_good_staple():
    up = StapleUpstream(cert="ocsp-good", staple="ocsp-good")
    gw = Gateway(up, upstream_conf=conf(up, "require"))
    expect_delivered(up, gw)
    expect_log(gw, r"revocation=ocsp:good", "stapled verdict")


def test_require_staple_for_another_certificate():
    # a staple that answers for a different certificate is no staple
    up = StapleUpstream(cert="ocsp-good", staple="ocsp-revoked")
    gw = Gateway(up, upstream_conf=conf(up, "require"))
    gw_fail = expect_tempfail_any(up, gw)
    check("(cert-revoked)" not in gw_fail,
          "the other certificate's status was applied: %r", gw_fail)


def expect_tempfail_any(up, gw):
    with gw.client() as c:
        c.start()
        replies = gwtest.transaction(c, "sender@example.test",
                                     ["rcpt@example.test"],
                                     gwtest.sample_message("no"))
        bad = [r for r in replies if r.code >= 400]
        check(bad, "the transaction succeeded: %r", replies)
        gwtest.check_reply(bad[0], "4", "4.7.", what="upstream failure")
        c.cmd("QUIT")
    check(not up.messages(), "a message was delivered")
    return bad[0].text


def test_off_ignores_staple():
    # off (the default) sends no status_request: even a revoked staple
    # is never asked for, so the session relays as before
    up = StapleUpstream(cert="ocsp-revoked", staple="ocsp-revoked")
    gw = Gateway(up, upstream_conf=conf(up, None))
    expect_delivered(up, gw)


def test_check_refuses_stapling_with_ocsp():
    text = gwtest.config_text(gwtest.free_port(), gwtest.free_port(),
                              upstream={"ocsp": "hard",
                                        "ocsp_stapling": "request"})
    path = write(text)
    r = run("-t", "-c", path)
    check(r.returncode == 1, "-t: want exit 1, got %d: %s", r.returncode,
          r.out)
    check("ocsp_stapling: cannot be combined with ocsp = hard" in r.out,
          "no reason given: %r", r.out)


gwtest.main(globals())
