#!/usr/bin/python3
"""Several upstreams (issue 15 section 2): a lockstep transaction moves on
to the next upstream when the first cannot be reached (refused, a
certificate that fails verification, a 421 greeting) before the client is
answered; a reply to MAIL or RCPT is passed on, not failed over; [route]
sections choose the list by sender; an upstream that failed is marked
down, skipped by the next transaction, and tried again after
upstream_down_time."""

import os
import re
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, FaultUpstream, Upstream, check,  # noqa: E402
                    check_reply, free_port, ini, pki, sample_message,
                    transaction)

RCPT = "rcpt@example.test"


def up_conf(port):
    """An [upstream] section's keys: STARTTLS on loopback, verified."""
    return {"host": "127.0.0.1", "port": str(port), "tls": "starttls",
            "ca_file": pki()["ca-bundle"], "verify_hostname": "yes",
            "tls_name": "localhost", "helo_name": "gw.test",
            "connect_timeout": "5", "command_timeout": "20"}


def gateway(ups, listener_ups, routes=(), gw=None):
    """A gateway with upstreams {name: port}, the listener's list
    listener_ups ("a, b") and routes [(name, senders, upstreams)]."""
    port = free_port()
    g = {"hostname": "gw.test", "log_level": "debug",
         "upstream_down_time": "30"}
    g.update(gw or {})
    sections = [("gateway", g),
                ("listener test", {"listen": "127.0.0.1:%d" % port,
                                   "allow": "127.0.0.0/8",
                                   "upstream": listener_ups})]
    for name, p in ups.items():
        sections.append(("upstream " + name, up_conf(p)))
    for name, senders, lst in routes:
        sections.append(("route " + name, {"sender": senders,
                                           "upstream": lst}))
    return Gateway(text=ini(sections), port=port)


def send(gw, sender="sender@example.test", rcpts=(RCPT,)):
    """One transaction in its own session; the replies."""
    with gw.client() as c:
        c.start()
        replies = transaction(c, sender, list(rcpts), sample_message())
        c.cmd("QUIT")
    return replies


def delivered(gw, sender="sender@example.test"):
    replies = send(gw, sender)
    check(len(replies) == 4, "transaction stopped early: %r", replies)
    check_reply(replies[-1], 250, what="end of DATA")


def failovers(gw):
    return re.findall(r"relay failover upstream=(\S+) class=(\S+)"
                      r"(?: next=(\S+))?", gw.log())


def test_refused_connection_goes_to_b():
    b = Upstream()
    gw = gateway({"a": free_port(), "b": b.port}, "a, b")
    delivered(gw)
    check(len(b.wait_messages(1)) == 1, "b did not get the message")
    f = failovers(gw)
    check(f == [("a", "connect", "b")],
          "want one failover a -> b class connect, got %r", f)
    check(re.search(r"relay client=.* upstream=127\.0\.0\.1:%d" % b.port,
                    gw.log()), "the transaction line does not name b")


def test_bad_certificate_goes_to_b():
    a = Upstream(cert="untrusted")
    b = Upstream()
    gw = gateway({"a": a.port, "b": b.port}, "a, b")
    delivered(gw)
    check(len(b.wait_messages(1)) == 1, "b did not get the message")
    check(not a.messages(), "a got a message past a failed verification")
    f = failovers(gw)
    check(len(f) == 1 and f[0][0] == "a" and f[0][1].startswith("cert-")
          and f[0][2] == "b", "want one failover a -> b class cert-*, "
          "got %r", f)


def test_421_greeting_goes_to_b():
    a = FaultUpstream("421-at-connect")
    b = Upstream()
    gw = gateway({"a": a.port, "b": b.port}, "a, b")
    delivered(gw)
    check(len(b.wait_messages(1)) == 1, "b did not get the message")
    f = failovers(gw)
    check(f == [("a", "rejected", "b")],
          "want one failover a -> b class rejected, got %r", f)


def test_replies_are_not_failed_over():
    b = Upstream()
    for extra, at, code in ((["--mail-reply", "451 4.3.0 busy"], 0, 451),
                            (["--mail-reply", "550 5.7.1 no"], 0, 550),
                            (["--reject", "rcpt=451 4.2.0 later"], 1, 451),
                            (["--reject", "rcpt=550 5.1.1 unknown"], 1,
                             550)):
        a = Upstream(extra=extra)
        gw = gateway({"a": a.port, "b": b.port}, "a, b")
        replies = send(gw)
        check(len(replies) > at and replies[at].code == code,
              "%r: want %d passed on, got %r", extra, code, replies)
        check(not failovers(gw), "%r: failed over: %r", extra,
              failovers(gw))
        gw.stop()
        a.stop()
    check(not b.messages() and not b.events("MAIL"),
          "b got something: %r", b.events())


def test_routing_by_sender():
    a, b, c = Upstream(), Upstream(), Upstream()
    gw = gateway({"a": a.port, "b": b.port, "c": c.port}, "a",
                 routes=[("billing", "billing@example.com", "b"),
                         ("org", "@example.org, @.example.net", "c"),
                         ("bounces", "<>", "b, a")])
    cases = [("billing@example.com", b), ("other@example.com", a),
             ("x@example.org", c), ("x@mail.example.net", c),
             ("x@example.net", a), ("", b)]
    for sender, up in cases:
        n = len(up.messages())
        delivered(gw, sender)
        check(len(up.wait_messages(n + 1)) == n + 1,
              "sender <%s> did not leave through port %d", sender, up.port)
    check(len(a.messages()) == 2 and len(b.messages()) == 2 and
          len(c.messages()) == 2, "messages delivered elsewhere too")
    # one session, two routes: a's connection is given back, b opened
    with gw.client() as cl:
        cl.start()
        for sender in ("other@example.com", "billing@example.com",
                       "other@example.com"):
            r = transaction(cl, sender, [RCPT], sample_message())
            check_reply(r[-1], 250, what="end of DATA from " + sender)
        cl.cmd("QUIT")
    check(len(a.wait_messages(4)) == 4 and len(b.wait_messages(3)) == 3,
          "the session did not follow the routes")


def test_marked_down_then_tried_again():
    a = FaultUpstream("421-at-connect", count=1)
    b = Upstream()
    # long enough for the second transaction (valgrind is slow)
    down = int(2 * gwtest.TIME_SCALE)
    gw = gateway({"a": a.port, "b": b.port}, "a, b",
                 gw={"upstream_down_time": str(down),
                     "upstream_down_time_max": str(2 * down)})
    delivered(gw)
    check(len(failovers(gw)) == 1, "no failover: %r", failovers(gw))
    n = len(a.events("connect"))
    check(n == 1, "a saw %d connections, want 1", n)
    # a is down: the next transaction goes to b without trying a
    delivered(gw)
    check(len(b.wait_messages(2)) == 2, "b did not get the second message")
    check(len(a.events("connect")) == 1, "a was tried while marked down")
    check(len(failovers(gw)) == 1, "failed over again: %r", failovers(gw))
    check(re.search(r"relay upstream down upstream=a next=b", gw.log()),
          "no log line for the skipped upstream")
    # after upstream_down_time, a (which answers now) is tried again
    time.sleep(down + 0.5)
    delivered(gw)
    check(len(a.wait_messages(1)) == 1, "a was not tried again")
    check(len(b.messages()) == 2, "b got the third message")


def test_failover_timeout():
    """failover_timeout bounds the whole attempt: past it, the 451."""
    # a refuses at once, b greets and then never answers EHLO (its
    # command_timeout is 20s): the budget, not b's timeout, ends it
    b = FaultUpstream("stall-after-greeting")
    gw = gateway({"a": free_port(), "b": b.port}, "a, b",
                 gw={"failover_timeout": "3"})
    t0 = time.monotonic()
    replies = send(gw)
    took = time.monotonic() - t0
    check(replies[0].code == 451, "want 451 to MAIL, got %r", replies)
    check(took < 3 + 8 * gwtest.TIME_SCALE, "the client waited %.1fs", took)
    check(gw.wait_log(r"relay failover upstream=b class=timeout "
                      r"reason=\"failover_timeout reached\""),
          "no failover_timeout line")


if __name__ == "__main__":
    gwtest.main(globals())
