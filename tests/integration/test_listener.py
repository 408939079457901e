#!/usr/bin/python3
"""Listeners: the allow list (554 5.7.1 and close for anyone else), IPv6
listening, and the per-client session limit."""

import os
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Client, Gateway, Upstream, check,  # noqa: E402
                    check_reply, sample_message, transaction)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"


def expect_refused(gw, source=None):
    with gw.client(source=source) as c:
        r = c.greeting()
        check_reply(r, 554, "5.7.1", what="greeting to a client not allowed")
        check(c.closed(5), "connection not closed after 554")


def test_client_outside_allow_v6_only():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"allow": "::1/128"})
    expect_refused(gw)
    check(not up.events(), "upstream contacted: %r", up.events())


def test_client_outside_allow_other_v4():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"allow": "127.0.0.2/32"})
    expect_refused(gw)
    # Nothing the refused client sends is taken as a command.
    with gw.client() as c:
        c.send(b"EHLO x\r\nMAIL FROM:<a@example.test>\r\n"
               b"RCPT TO:<b@example.test>\r\nDATA\r\n")
        r = c.reply()
        check_reply(r, 554, "5.7.1")
        c.closed(5)
        check(b"250" not in c.buf and b"354" not in c.buf,
              "commands answered after 554: %r", c.buf)
    check(not up.events(), "upstream contacted: %r", up.events())


def test_client_inside_allow_from_other_address():
    # 127.0.0.2 is allowed; connect from that source address.
    up = Upstream("starttls")
    gw = Gateway(up, listener={"allow": "127.0.0.2/32"})
    with gw.client(source="127.0.0.2") as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("acl"))
        check_reply(replies[-1], 250, what="end of DATA")
    check(len(up.wait_messages(1)) == 1, "not delivered")
    expect_refused(gw, source="127.0.0.1")


def test_allow_network_prefix():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"allow": "10.0.0.0/8, 127.0.0.0/30"})
    with gw.client(source="127.0.0.3") as c:
        c.start()
    expect_refused(gw, source="127.0.0.4")


def test_listen_ipv6():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"allow": "::1/128"}, listen_host="::1")
    msg = sample_message("over ipv6")
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg)
        check_reply(replies[-1], 250, what="end of DATA")
    m = up.wait_messages(1)
    check(len(m) == 1 and m[0].data == msg, "not delivered intact: %r", m)


def test_two_listen_addresses():
    up = Upstream("starttls")
    p4, p6 = gwtest.free_port(), gwtest.free_port("::1")
    gw = Gateway(up, port=p4,
                 listener={"listen": "127.0.0.1:%d, [::1]:%d" % (p4, p6)})
    with Client(p6, host="::1") as c:
        c.start()
    with Client(p4) as c:
        c.start()
    check(gw.alive(), "smtpgate exited")


def test_max_sessions_per_client():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"max_sessions_per_client": "2"})
    a, b = gw.client(), gw.client()
    try:
        check_reply(a.greeting(), 220)
        check_reply(b.greeting(), 220)
        with gw.client() as c:
            r = c.greeting()
            check_reply(r, 421, "4.7.0", what="third session from one client")
            check(c.closed(5), "third session not closed")
    finally:
        a.close()
        b.close()
    # Closing frees the slots.
    ok = gwtest.wait_for(lambda: _greets(gw), 5)
    check(ok, "sessions not released after close")


def _greets(gw):
    try:
        with gw.client() as c:
            return c.greeting().code == 220
    except (gwtest.TestFailure, OSError):
        return False


if __name__ == "__main__":
    gwtest.main(globals())
