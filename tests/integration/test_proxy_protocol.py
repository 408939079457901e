#!/usr/bin/python3
"""PROXY protocol listeners (proxy_protocol, proxy_from, proxy_timeout):
behind a real HAProxy (send-proxy and send-proxy-v2) the allow list, the
per-client limit and the log lines use the client address the header
carries; hand-made headers (IPv6, LOCAL, UNKNOWN, TLVs, and malformed,
truncated, oversized, slow or untrusted ones) are taken or refused, and
nothing after the header is read by the header reader."""

import os
import re
import signal
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Client, Gateway, Upstream, check,  # noqa: E402
                    check_reply, log_fields, sample_message, transaction)
from haproxy import HAProxy  # noqa: E402

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_gw(up, version, **extra):
    """A gateway whose listener takes version's headers from 127.0.0.1
    and admits only the carried client 127.0.0.2 (and 2001:db8::/32)."""
    lst = {"proxy_protocol": version, "proxy_from": "127.0.0.1/32",
           "allow": "127.0.0.2/32, 2001:db8::/32"}
    lst.update(extra)
    return Gateway(up, listener=lst)


def v2(cmd, fam, body):
    return V2SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) \
        + body


def v2_inet(src, sport, dst="127.0.0.1", dport=25, tlvs=b""):
    return v2(1, 0x11, socket.inet_pton(socket.AF_INET, src) +
              socket.inet_pton(socket.AF_INET, dst) +
              struct.pack("!HH", sport, dport) + tlvs)


def v2_inet6(src, sport, dst="::1", dport=25, tlvs=b""):
    return v2(1, 0x21, socket.inet_pton(socket.AF_INET6, src) +
              socket.inet_pton(socket.AF_INET6, dst) +
              struct.pack("!HH", sport, dport) + tlvs)


def raw(gw, source=None):
    """A client of the gateway itself, as a balancer would be."""
    return gw.client(source=source)


def expect_dropped(gw, c, reason, detail=None):
    """The connection is closed without a greeting, and the log says why."""
    check(c.closed(5), "connection not closed")
    check(b"220" not in c.buf, "greeted: %r", c.buf)
    pat = r"refused proxy=127\.0\.0\.1 reason=%s" % re.escape(reason)
    if detail:
        pat += r' detail="%s"' % re.escape(detail)
    check(gw.wait_log(pat), "no log line %r", pat)


def deliver_through(c, subject):
    c.start()
    replies = transaction(c, SENDER, [RCPT, "nobody@example.net"],
                          sample_message(subject))
    check_reply(replies[2], 550, what="RCPT the upstream refuses")
    check_reply(replies[-1], 250, what="end of DATA")
    c.cmd("QUIT")


def check_haproxy(send, version):
    up = Upstream("starttls", extra=["--reject", "nobody=550 5.1.1 No"])
    gw = proxy_gw(up, version)
    ha = HAProxy(gw.port, send=send)
    try:
        with ha.client(source="127.0.0.2") as c:
            deliver_through(c, "through haproxy " + send)
        check(len(up.wait_messages(1)) == 1, "not delivered")
        m = gw.wait_log(r"^.* connect from=127\.0\.0\.2 proxy=127\.0\.0\.1$")
        check(m, "connect line without the carried client and the proxy")
        m = gw.wait_log(r"^.* relay client=.*$")
        f = log_fields(m.group(0))
        check(f.get("client") == "127.0.0.2" and
              f.get("proxy") == "127.0.0.1", "transaction line: %r",
              m.group(0))
        check(gw.wait_log(r"disconnect reason=.* proxy=127\.0\.0\.1$"),
              "disconnect line without proxy=")
        check(gw.wait_log(r"relay rcpt refused by=upstream "
                          r"client=127\.0\.0\.2 proxy=127\.0\.0\.1 "
                          r"from=<.*> to=<nobody@example\.net>"),
              "refused-recipient line without both addresses")
        # 127.0.0.3 reaches the gateway from the same balancer, but the
        # allow list sees the carried address and refuses it.
        with ha.client(source="127.0.0.3") as c:
            check_reply(c.greeting(), 554, "5.7.1",
                        what="carried client outside allow")
        check(gw.wait_log(r"refused client=127\.0\.0\.3 proxy=127\.0\.0\.1 "
                          r"reason=not-allowed"), "refusal not logged")
    finally:
        ha.stop()


def test_haproxy_v1():
    check_haproxy("send-proxy", "v1")


def test_haproxy_v2():
    check_haproxy("send-proxy-v2", "any")


def test_haproxy_per_client_limit_on_carried_address():
    up = Upstream("starttls")
    gw = proxy_gw(up, "v2", allow="127.0.0.0/8",
                  max_sessions_per_client="1")
    ha = HAProxy(gw.port, send="send-proxy-v2")
    try:
        a = ha.client(source="127.0.0.2")
        b = ha.client(source="127.0.0.3")
        try:
            # one balancer, two clients: each has its own count
            check_reply(a.greeting(), 220, what="first client")
            check_reply(b.greeting(), 220, what="second client")
            with ha.client(source="127.0.0.2") as c:
                check_reply(c.greeting(), 421, "4.7.0",
                            what="second session of 127.0.0.2")
        finally:
            a.close()
            b.close()
        # the session's end gives back the carried address's slot
        ok = gwtest.wait_for(lambda: _greets(ha, "127.0.0.2"), 5)
        check(ok, "slot of 127.0.0.2 not released")
    finally:
        ha.stop()


def _greets(ha, source):
    try:
        with ha.client(source=source) as c:
            return c.greeting().code == 220
    except (gwtest.TestFailure, OSError):
        return False


def test_v1_header_then_smtp_in_one_packet():
    # The client's first octets come in the same segment as the header:
    # they must be left for the session (with implicit TLS, the
    # ClientHello), not swallowed by the header reader.
    up = Upstream("starttls")
    gw = proxy_gw(up, "v1")
    with raw(gw) as c:
        c.send(b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 25\r\nEHLO x\r\n")
        check_reply(c.greeting(), 220)
        check_reply(c.reply(), 250, what="EHLO sent with the header")
    check(gw.wait_log(r"connect from=127\.0\.0\.2 proxy=127\.0\.0\.1"),
          "carried address not used")


def test_v2_ipv6_with_tlvs_in_pieces():
    up = Upstream("starttls")
    gw = proxy_gw(up, "v2")
    tlvs = b"\x04\x00\x05noopx" + b"\x01\x00\x04smtp"   # NOOP, ALPN
    hdr = v2_inet6("2001:db8::7", 40001, tlvs=tlvs)
    with raw(gw) as c:
        # a byte at a time for the fixed part, then the rest with data
        for i in range(16):
            c.send(hdr[i:i + 1])
            time.sleep(0.01)
        c.send(hdr[16:] + b"EHLO x\r\n")
        check_reply(c.greeting(), 220)
        check_reply(c.reply(), 250)
        replies = transaction(c, SENDER, [RCPT], sample_message("v6"))
        check_reply(replies[-1], 250)
    m = gw.wait_log(r"^.* relay client=.*$")
    f = log_fields(m.group(0))
    check(f.get("client") == "2001:db8::7", "client: %r", m.group(0))


def test_v1_tcp6():
    up = Upstream("starttls")
    gw = proxy_gw(up, "v1")
    with raw(gw) as c:
        c.send(b"PROXY TCP6 2001:db8::9 ::1 40002 25\r\n")
        check_reply(c.greeting(), 220)
    check(gw.wait_log(r"connect from=2001:db8::9 proxy=127\.0\.0\.1"),
          "IPv6 client not carried")


def test_local_and_unknown_use_the_balancer():
    # LOCAL (v2) and UNKNOWN (v1) name no client: the balancer is it, so
    # the allow list must admit the balancer's own address.
    up = Upstream("starttls")
    gw = proxy_gw(up, "any")
    for hdr in (v2(0, 0x00, b""), b"PROXY UNKNOWN\r\n"):
        with raw(gw) as c:
            c.send(hdr)
            check_reply(c.greeting(), 554, "5.7.1",
                        what="balancer outside allow")
    gw2 = proxy_gw(up, "any", allow="127.0.0.1/32")
    for hdr in (v2(0, 0x00, b""), b"PROXY UNKNOWN ::1 ::1 1 2\r\n"):
        with raw(gw2) as c:
            c.send(hdr)
            check_reply(c.greeting(), 220, what="LOCAL/UNKNOWN")
    check(len(re.findall(r"connect from=127\.0\.0\.1 proxy=127\.0\.0\.1",
                         gw2.log())) == 2, "LOCAL/UNKNOWN not logged")


def test_malformed_headers():
    up = Upstream("starttls")
    gw = proxy_gw(up, "any")
    cases = [
        (b"EHLO x\r\n", "bad signature"),
        (b"\x16\x03\x01\x00\x05hello", "bad signature"),
        (b"PROXY TCP4 127.0.0.2 127.0.0.1 0400 25\r\n",
         "v1 header has a bad port"),
        (b"PROXY TCP4 ::1 127.0.0.1 4 25\r\n", "v1 header has a bad address"),
        (b"PROXY TCP4 127.0.0.2 127.0.0.1 4 25\n",
         "v1 header not ended by CRLF"),
        (b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n",
         "v1 header longer than 107 octets"),
        (V2SIG + b"\x21\x11\x04\x01", "v2 header longer than 1024 octets"),
        (V2SIG + b"\x31\x11\x00\x00", "v2 header has an unknown version"),
        (v2(1, 0x31, b"\x00" * 216), "v2 header with a unix socket address"),
        (v2_inet("127.0.0.2", 1, tlvs=b"\x04\x00\x09ab"),
         "v2 header has a malformed TLV"),
    ]
    for data, detail in cases:
        with raw(gw) as c:
            c.send(data)
            expect_dropped(gw, c, "proxy-header", detail)
    check(not up.events(), "upstream contacted: %r", up.events())


def test_version_not_taken():
    up = Upstream("starttls")
    gw1 = proxy_gw(up, "v1")
    with raw(gw1) as c:
        c.send(v2_inet("127.0.0.2", 1))
        expect_dropped(gw1, c, "proxy-header",
                       "v2 header where only v1 is taken")
    gw2 = proxy_gw(up, "v2")
    with raw(gw2) as c:
        c.send(b"PROXY TCP4 127.0.0.2 127.0.0.1 4 25\r\n")
        expect_dropped(gw2, c, "proxy-header",
                       "v1 header where only v2 is taken")


def test_truncated_header():
    up = Upstream("starttls")
    gw = proxy_gw(up, "any")
    for data in (b"PROXY TCP4 127.0.0.2 127.0", v2_inet("127.0.0.2", 1)[:20]):
        c = raw(gw)
        c.send(data)
        c.sock.shutdown(socket.SHUT_WR)
        expect_dropped(gw, c, "proxy-header",
                       "closed before the header's end")
        c.close()


def test_slow_header():
    # The timeout is a deadline: a header dripping in a byte at a time
    # does not extend it.
    up = Upstream("starttls")
    gw = proxy_gw(up, "v1", proxy_timeout="1s")
    with raw(gw) as c:
        t0 = time.monotonic()
        c.send(b"PROXY ")
        expect_dropped(gw, c, "proxy-timeout")
        check(time.monotonic() - t0 >= 0.9, "closed too early")
    with raw(gw) as c:
        t0 = time.monotonic()
        for ch in b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 25":
            try:
                c.send(bytes([ch]))
            except OSError:
                break
            time.sleep(0.1)
            if time.monotonic() - t0 > 3:
                break
        expect_dropped(gw, c, "proxy-timeout")
        check(time.monotonic() - t0 < 3.5, "deadline extended by input")


def test_untrusted_peer():
    up = Upstream("starttls")
    gw = proxy_gw(up, "any")
    with raw(gw, source="127.0.0.2") as c:
        c.send(b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 25\r\n")
        check(c.closed(5), "untrusted peer not closed")
        check(c.buf == b"", "reply to an untrusted peer: %r", c.buf)
    check(gw.wait_log(r"refused client=127\.0\.0\.2 "
                      r"reason=proxy-not-trusted"), "not logged")


def test_reload_keeps_waiting_connection():
    # A connection waiting for its header when SIGHUP swaps in a listener
    # with other proxy keys finishes, and is admitted under the new one.
    up = Upstream("starttls")
    gw = proxy_gw(up, "v1")
    with raw(gw) as c:
        c.send(b"PROXY TCP4 127.0.0.2 ")
        text = gw.config.replace("proxy_protocol = v1",
                                 "proxy_protocol = any")
        text = text.replace("proxy_from = 127.0.0.1/32",
                            "proxy_from = 127.0.0.1/32, 10.0.0.0/8")
        check(text != gw.config, "configuration not changed")
        gw.write_config(text)
        start = len(gw.log())
        gw.signal(signal.SIGHUP)
        check(gw.wait_log(r"reload: new configuration in use", start=start),
              "reload not done")
        c.send(b"127.0.0.1 40000 25\r\n")
        check_reply(c.greeting(), 220, what="after the reload")
    # and the new listener takes v2 now
    with raw(gw) as c:
        c.send(v2_inet("127.0.0.2", 2))
        check_reply(c.greeting(), 220, what="v2 after the reload")


if __name__ == "__main__":
    gwtest.main(globals())
