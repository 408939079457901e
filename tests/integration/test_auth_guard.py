#!/usr/bin/python3
"""The listener's AUTH under attack (issue 10): input buffered behind a
failed exchange is dropped, not run and traced as a command; failures are
counted per client address with a growing delay and a lockout, in map and
in passthrough mode; and password hashing runs off the event loop."""

import os
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import Gateway, Upstream, check, check_reply  # noqa: E402
from test_auth_listener import (ACCOUNTS, b64, plain,  # noqa: E402
                                users_file, make_hash)

PW = ACCOUNTS["alice@isp.test"]


def passthrough(up, gateway=None):
    return Gateway(up, gateway=gateway, upstream_conf={"auth": "passthrough"})


def secrets_absent(log, secrets):
    for s in secrets:
        check(s not in log, "secret %r in the gateway's output", s)


def test_failed_exchange_drops_buffered_password():
    """For each way an exchange fails part way, the line the client sent
    behind the failing one (in the same write) is its password: it must
    be neither answered nor logged, at log_level = debug."""
    up = Upstream("starttls", auth={"users": ACCOUNTS})
    gw = passthrough(up)
    pw_b64 = b64(PW.encode())
    secrets = [PW, pw_b64, plain("alice@isp.test", PW)]
    ways = [
        # (what, AUTH command, failing line, its reply code)
        ("PLAIN bad base64", "AUTH PLAIN", "!!not base64!!", 501),
        ("PLAIN cancel", "AUTH PLAIN", "*", 501),
        ("PLAIN over-long line", "AUTH PLAIN", "QUFB" * 3100, 500),
        ("LOGIN bad user", "AUTH LOGIN", "!!bad!!", 501),
        ("LOGIN cancel", "AUTH LOGIN", "*", 501),
        ("LOGIN over-long user", "AUTH LOGIN", "QUFB" * 3100, 500),
    ]
    with gw.client() as c:
        c.start()
        for what, cmd, bad, code in ways:
            check_reply(c.cmd(cmd), 334, what=what)
            # the failing line and the secret in one write
            behind = (plain("alice@isp.test", PW) if "PLAIN" in cmd
                      else pw_b64)
            c.send(("%s\r\n%s\r\n%s\r\n" % (bad, behind, PW)).encode())
            check_reply(c.reply(), code, what=what)
            # nothing else was answered: the next reply is NOOP's
            check_reply(c.cmd("NOOP"), 250, what="NOOP after " + what)
        # LOGIN: the password after a wrong one, pipelined, is dropped
        # once the verdict is a failure
        check_reply(c.cmd("AUTH LOGIN"), 334, what="LOGIN")
        check_reply(c.cmd(b64(b"alice@isp.test")), 334, what="LOGIN user")
        c.send(("%s\r\n%s\r\n" % (b64(b"wrong-pw"), pw_b64)).encode())
        check_reply(c.reply(timeout=10), 535, what="LOGIN wrong password")
        check_reply(c.cmd("NOOP"), 250, what="NOOP after the 535")
        # and a good login still works afterwards
        check_reply(c.cmd("AUTH PLAIN " + plain("alice@isp.test", PW)), 235,
                    what="AUTH after the failures")
    log = gw.log()
    check("octets of input behind a failed AUTH exchange dropped" in log,
          "no drop logged: %s", log[-3000:])
    check("input behind a cancelled AUTH exchange dropped" in log,
          "no drop after cancel logged: %s", log[-3000:])
    secrets_absent(log, secrets)


if __name__ == "__main__":
    gwtest.main(globals())
