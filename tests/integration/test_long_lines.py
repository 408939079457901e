#!/usr/bin/python3
"""long_lines = encode: a message with lines over 998 octets (HTML on one
line) reaches a real upstream (aiosmtpd, which refuses lines over 1000
octets) re-encoded as quoted-printable, decodes with Python's email and
quopri to the very octets sent, and its DKIM signature (made after the
re-encoding) verifies with dkimpy and Mail::DKIM.  Multipart messages are
passed as they are (documented), and messages without long lines are not
touched."""

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


def test_encode_multipart_passed_as_is():
    # Only single-part messages are re-encoded; a multipart one goes on
    # as under pass (docs/configuration.md says so).
    up = Upstream("starttls", extra=("--line-limit", "100000"))
    gw = Gateway(up, listener={"long_lines": "encode"})
    msg = (headers(b"MIME-Version: 1.0\r\n"
                   b"Content-Type: multipart/alternative; boundary=\"b1\"\r\n")
           + b"\r\n--b1\r\nContent-Type: text/plain\r\n\r\nshort\r\n"
           b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
           LONG + b"\r\n--b1--\r\n")
    send(gw, msg)
    gwtest.check_same_bytes(one_message(up), msg)
    check(gw.wait_log(r"long lines passed as they are "
                      r"\(not re-encoded: multipart\)"),
          "no log line for the multipart fallback")


def test_encode_short_lines_untouched():
    up = Upstream("starttls")
    gw = Gateway(up, listener={"long_lines": "encode"})
    msg = (headers(b"Content-Transfer-Encoding: 8bit\r\n") +
           b"\r\nshort = lines\r\ncaf\xc3\xa9 \r\n")
    send(gw, msg)
    gwtest.check_same_bytes(one_message(up), msg)


if __name__ == "__main__":
    gwtest.main(globals())
