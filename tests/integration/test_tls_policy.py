#!/usr/bin/python3
"""TLS policy towards the upstream: a certificate that fails any check, or
TLS missing where it is required, gives the client a temporary failure and
nothing is delivered; the levels that allow cleartext do deliver."""

import os
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    sample_message, transaction)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"


def expect_tempfail(up, gw, enh_prefix, failclass=None):
    """The transaction fails with a 4xx at MAIL or, at the latest, at the
    end of DATA; nothing reaches the upstream's store.  Returns the reply."""
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("no"))
        bad = [r for r in replies if r.code >= 400]
        check(bad, "the transaction succeeded: %r", replies)
        r = bad[0]
        check(r is replies[0] or r is replies[-1],
              "first failure neither at MAIL nor at end of DATA: %r",
              replies)
        check_reply(r, "4", enh_prefix, what="upstream failure")
        if failclass:
            check("(%s)" % failclass in r.text,
                  "want failure class (%s) in the reply, got %r",
                  failclass, r)
        # The session goes on: the client may retry or quit cleanly.
        check_reply(c.cmd("RSET"), 250, what="RSET after failure")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    check(not up.messages(), "a message was delivered: %r", up.messages())
    return r


def test_wrong_name_refused():
    up = Upstream("starttls", cert="wrongname")
    gw = Gateway(up)
    expect_tempfail(up, gw, "4.7.", "cert-name-mismatch")
    check(not up.events("MAIL"), "MAIL sent to an unverified upstream")


def test_untrusted_ca_refused():
    up = Upstream("starttls", cert="untrusted")
    gw = Gateway(up)
    expect_tempfail(up, gw, "4.7.", "cert-untrusted")
    check(not up.events("MAIL"), "MAIL sent to an unverified upstream")


def test_untrusted_ca_refused_implicit():
    up = Upstream("implicit", cert="untrusted")
    gw = Gateway(up, upstream_conf={"tls": "implicit"})
    expect_tempfail(up, gw, "4.7.", "cert-untrusted")
    check(not up.events("MAIL"), "MAIL sent to an unverified upstream")


def test_wrong_name_refused_implicit():
    up = Upstream("implicit", cert="wrongname")
    gw = Gateway(up, upstream_conf={"tls": "implicit"})
    expect_tempfail(up, gw, "4.7.", "cert-name-mismatch")


def test_expired_refused():
    up = Upstream("starttls", cert="expired")
    gw = Gateway(up)
    expect_tempfail(up, gw, "4.7.", "cert-expired")


def test_selfsigned_refused():
    up = Upstream("starttls", cert="selfsigned")
    gw = Gateway(up)
    expect_tempfail(up, gw, "4.7.")


def test_tls_name_matches_other_san():
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"tls_name": "mail.test"})
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("san"))
        check_reply(replies[-1], 250, what="end of DATA")
    check(len(up.wait_messages(1)) == 1, "message not delivered")


def test_verify_hostname_no_accepts_wrong_name():
    # verify_hostname = no keeps the chain check but not the name check.
    up = Upstream("starttls", cert="wrongname")
    gw = Gateway(up, upstream_conf={"verify_hostname": "no"})
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("noname"))
        check_reply(replies[-1], 250, what="end of DATA")
    check(len(up.wait_messages(1)) == 1, "message not delivered")


def test_verify_hostname_no_still_checks_chain():
    up = Upstream("starttls", cert="untrusted")
    gw = Gateway(up, upstream_conf={"verify_hostname": "no"})
    expect_tempfail(up, gw, "4.7.", "cert-untrusted")


def test_starttls_required_not_offered():
    up = Upstream("plain")
    gw = Gateway(up, upstream_conf={"tls": "starttls"})
    expect_tempfail(up, gw, "4.7.", "starttls-unavailable")
    check(not up.events("MAIL") and not up.events("RCPT"),
          "commands sent in cleartext: %r", up.events())


def test_starttls_optional_plain_upstream_delivers():
    up = Upstream("plain")
    gw = Gateway(up, upstream_conf={"tls": "starttls-optional"})
    msg = sample_message("optional")
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg)
        check_reply(replies[-1], 250, what="end of DATA")
    m = up.wait_messages(1)
    check(len(m) == 1 and m[0].data == msg, "not delivered intact: %r", m)
    check(m[0].meta["tls_version"] is None, "TLS from nowhere: %r",
          m[0].meta)


def test_starttls_optional_uses_tls_when_offered():
    up = Upstream("starttls-optional")
    gw = Gateway(up, upstream_conf={"tls": "starttls-optional"})
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("opt"))
        check_reply(replies[-1], 250, what="end of DATA")
    m = up.wait_messages(1)
    check(len(m) == 1 and m[0].meta["tls_version"],
          "want the message over TLS, got %r", m)


def test_tls_none_to_plain_upstream():
    up = Upstream("plain")
    gw = Gateway(up, upstream_conf={"tls": "none", "ca_file": None,
                                    "tls_name": None})
    msg = sample_message("cleartext")
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg)
        check_reply(replies[-1], 250, what="end of DATA")
    m = up.wait_messages(1)
    check(len(m) == 1 and m[0].data == msg, "not delivered intact: %r", m)


def test_implicit_against_starttls_server():
    # The upstream speaks SMTP in cleartext first; a TLS client hello
    # gets a banner back.  That is a TLS failure, not a hang.
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"tls": "implicit",
                                    "command_timeout": "5"})
    expect_tempfail(up, gw, "4.")


if __name__ == "__main__":
    gwtest.main(globals())
