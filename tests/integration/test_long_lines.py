#!/usr/bin/python3
"""long_lines = encode: a message with lines over 998 octets (HTML on one
line) reaches a real upstream (aiosmtpd, which refuses lines over 1000
octets) re-encoded as quoted-printable, decodes with Python's email and
quopri to the very octets sent, and its DKIM signature (made after the
re-encoding) verifies with dkimpy and Mail::DKIM.  In a multipart message
only the parts with long lines are re-encoded; messages without long lines
are not touched."""

import email
import email.policy
import os
import quopri
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    transaction)
from test_dkim import (DkimGateway, check_verifies, key,  # noqa: E402
                       records_of, section)

SENDER = "sender@example.com"
RCPT = "rcpt@example.test"

# 5,000+ octets on one line, with what quoted-printable must escape
LONG = (b"<html><body><p class=\"a\">caf\xc3\xa9 = x</p>" +
        b"<td>1=2 \xe2\x82\xac</td>\t" * 220 + b"</body></html>  ")


def body():
    return (b"Hello,\r\n" + LONG + b"\r\n"
            b".leading dot\r\n"
            b"From the start of a line\r\n"
            b"trailing blanks   \r\n"
            b"end\r\n")


def headers(extra=b""):
    return (b"From: Sender <sender@example.com>\r\n"
            b"To: Rcpt <rcpt@example.test>\r\n"
            b"Subject: one long line\r\n"
            b"Date: Fri, 04 Dec 2026 16:00:00 +0000\r\n"
            b"Message-ID: <long.1@example.com>\r\n" + extra)


def send(gw, msg):
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg)
        check(len(replies) == 4, "transaction stopped: %r", replies)
        check_reply(replies[-1], 250, what="end of DATA")
        c.cmd("QUIT")


def one_message(up):
    msgs = up.wait_messages(1)
    check(len(msgs) == 1, "want one message upstream, got %r", msgs)
    return msgs[0].data


def check_lines(data, limit):
    for ln in data.split(b"\r\n"):
        check(len(ln) <= limit, "a line of %d octets went out: %r...",
              len(ln), ln[:80])


def check_decodes(data, want_body, what):
    m = email.message_from_bytes(data, policy=email.policy.default)
    check(m["Content-Transfer-Encoding"] == "quoted-printable",
          "%s: Content-Transfer-Encoding %r", what,
          m["Content-Transfer-Encoding"])
    check(len(m.get_all("Content-Transfer-Encoding")) == 1,
          "%s: more than one Content-Transfer-Encoding", what)
    check(m["MIME-Version"] == "1.0", "%s: MIME-Version %r", what,
          m["MIME-Version"])
    got = m.get_payload(decode=True)
    check(got == want_body, "%s: email decodes to something else:\n%r\n%r",
          what, got[:300], want_body[:300])
    raw = data.split(b"\r\n\r\n", 1)[1]
    check(quopri.decodestring(raw) == want_body,
          "%s: quopri decodes to something else", what)
    check_lines(raw, 76)


@gwtest.timeout(120)
def test_encode_single_part_signed():
    key("rsa-ll")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "s1", "rsa-ll")],
                     listener={"long_lines": "encode",
                               "received_header": "yes"})
    b = body()
    msg = (headers(b"MIME-Version: 1.0\r\n"
                   b"Content-Type: text/html; charset=utf-8\r\n"
                   b"Content-Transfer-Encoding: 8bit\r\n") + b"\r\n" + b)
    send(gw, msg)
    data = one_message(up)
    check_decodes(data, b, "html 8bit")
    check(b"Received: from client.test" in data.split(b"\r\n\r\n")[0],
          "our Received header is missing")
    check_verifies(data, records_of(("s1", "example.com", "rsa-ll")),
                   what="re-encoded message")
    check(gw.wait_log(r"long lines re-encoded as quoted-printable"),
          "no log line for the re-encoding")


def test_encode_adds_mime_headers():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"long_lines": "encode"})
    b = body()
    send(gw, headers() + b"\r\n" + b)
    data = one_message(up)
    check_decodes(data, b, "no MIME headers")


def multipart_message(html_cte=b""):
    """mixed( alternative( plain, html with the long line ), base64 )"""
    return (headers(b"MIME-Version: 1.0\r\n"
                    b"Content-Type: multipart/mixed;\r\n"
                    b"\tboundary=\"outer b\"\r\n") +
            b"\r\npreamble\r\n"
            b"--outer b\r\n"
            b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
            b"--inner\r\nContent-Type: text/plain\r\n\r\nshort = ok \r\n"
            b"--inner\r\nContent-Type: text/html; charset=utf-8\r\n" +
            html_cte + b"\r\n" + LONG + b"\r\n" + LONG + b"\r\n"
            b"--inner--\r\n"
            b"--outer b\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n"
            b"--outer b--\r\nepilogue\r\n")


@gwtest.timeout(120)
def test_encode_multipart_part_signed():
    # The part with the long lines is re-encoded, the others are kept.
    key("rsa-ll")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "s1", "rsa-ll")],
                     listener={"long_lines": "encode"})
    msg = multipart_message(b"Content-Transfer-Encoding: 8bit\r\n")
    send(gw, msg)
    data = one_message(up)
    check_lines(data, 998)
    m = email.message_from_bytes(data, policy=email.policy.default)
    parts = [p for p in m.walk() if not p.is_multipart()]
    check(len(parts) == 3, "want 3 leaf parts, got %d", len(parts))
    check(parts[0].get_payload(decode=True) == b"short = ok ",
          "plain part changed: %r", parts[0].get_payload(decode=True))
    check(parts[1]["Content-Transfer-Encoding"] == "quoted-printable",
          "html part CTE %r", parts[1]["Content-Transfer-Encoding"])
    check(parts[1].get_payload(decode=True) == LONG + b"\r\n" + LONG,
          "html part decodes to something else")
    check(parts[2].get_payload(decode=True) == b"\x00\x01\x02",
          "base64 part changed")
    check(b"\r\npreamble\r\n" in data and data.endswith(b"epilogue\r\n"),
          "preamble or epilogue lost")
    check(data.count(b"Content-Transfer-Encoding:") == 2,
          "want the base64 and our QP field only")
    check_verifies(data, records_of(("s1", "example.com", "rsa-ll")),
                   what="re-encoded multipart")
    check(gw.wait_log(r"long lines re-encoded as quoted-printable"),
          "no log line for the re-encoding")


def test_encode_multipart_encoded_part_passed_as_is():
    # The long lines are in a part that is already quoted-printable (a
    # broken one): nothing can be re-encoded, the message goes on as is.
    up = Upstream("starttls", extra=("--line-limit", "100000"))
    gw = Gateway(up, listener={"long_lines": "encode"})
    msg = multipart_message(
        b"Content-Transfer-Encoding: quoted-printable\r\n")
    send(gw, msg)
    gwtest.check_same_bytes(one_message(up), msg)
    check(gw.wait_log(r"long lines passed as they are \(not re-encoded: "
                      r"multipart, no part that can be re-encoded\)"),
          "no log line for the fallback")


def test_encode_short_lines_untouched():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"long_lines": "encode"})
    msg = (headers(b"Content-Transfer-Encoding: 8bit\r\n") +
           b"\r\nshort = lines\r\ncaf\xc3\xa9 \r\n")
    send(gw, msg)
    gwtest.check_same_bytes(one_message(up), msg)


if __name__ == "__main__":
    gwtest.main(globals())
