#!/usr/bin/python3
"""eight_bit = convert (issue 16, section 3): an 8-bit message for an
upstream that does not announce 8BITMIME (upstream.py --no-8bitmime, a
real aiosmtpd server) arrives 7-bit: each 8-bit part quoted-printable (a
few accented letters) or base64 (mostly non-ASCII), with its
Content-Transfer-Encoding rewritten, BODY=8BITMIME left out of MAIL, and
Python's email package decodes every part to the very text sent.  With
DKIM the signature, made after the conversion, verifies with dkimpy and
Mail::DKIM.  An upstream that offers 8BITMIME gets the message as it
was; so does any upstream under eight_bit = pass.  Under delivery =
queue a message a DKIM key signs is converted when it is taken (the
upstream is not known yet), any other one at delivery, for an upstream
without 8BITMIME only."""

import email
import email.policy
import os
import re
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    check_same_bytes, newdir)
from test_dkim import (DkimGateway, check_verifies, key,  # noqa: E402
                       records_of, section)

SENDER = "sender@example.com"
RCPT = "rcpt@example.test"
NO8 = ["--no-8bitmime"]

GERMAN = ("Grüße aus Köln,\r\n"
          "die Straße ist naß, das Café hat zu.\r\n"
          "Zeile mit = und Leerzeichen am Ende   \r\n"
          ".ein Punkt am Anfang\r\n")
RUSSIAN = ("Привет, мир! Это письмо написано по-русски.\r\n"
           "Вторая строка.\r\n")


def headers(extra=""):
    return ("From: Sender <sender@example.com>\r\n"
            "To: Rcpt <rcpt@example.test>\r\n"
            "Subject: eight bit\r\n"
            "Date: Sun, 06 Dec 2026 03:00:00 +0000\r\n"
            "Message-ID: <eightbit.1@example.com>\r\n" + extra).encode()


def plain(text, cte="Content-Transfer-Encoding: 8bit\r\n"):
    return (headers("MIME-Version: 1.0\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\n" + cte) +
            b"\r\n" + text.encode())


def multipart():
    """mixed( plain 7-bit, plain 8-bit German, plain 8-bit Russian )"""
    return (headers("MIME-Version: 1.0\r\n"
                    "Content-Type: multipart/mixed; boundary=\"b 1\"\r\n") +
            b"\r\npreamble\r\n"
            b"--b 1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            b"plain ascii = fine\r\n"
            b"--b 1\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + GERMAN.encode() +
            b"--b 1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
            RUSSIAN.encode() +
            b"--b 1--\r\nepilogue\r\n")


def send(gw, msg, body8=True):
    """MAIL (with BODY=8BITMIME when body8), RCPT, DATA; the final reply."""
    with gw.client() as c:
        c.start()
        mail = "MAIL FROM:<%s>%s" % (SENDER, " BODY=8BITMIME" if body8
                                     else "")
        check_reply(c.cmd(mail), 250, what="MAIL")
        check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250, what="RCPT")
        r = c.data(msg)
        c.cmd("QUIT")
    check_reply(r, 250, what="end of DATA")


def one_message(up):
    msgs = up.wait_messages(1)
    check(len(msgs) == 1, "want one message upstream, got %r", msgs)
    return msgs[0]


def check_7bit(data, what):
    bad = [i for i, c in enumerate(data) if c > 127]
    check(not bad, "%s: 8-bit octets went out at %r: %r", what, bad[:5],
          data[bad[0] - 40:bad[0] + 40] if bad else b"")
    for ln in data.split(b"\r\n"):
        check(len(ln) <= 998, "%s: a line of %d octets", what, len(ln))


def check_no_body_param(up):
    for e in up.events("MAIL"):
        check(not any("BODY" in o.upper() for o in e.get("options", [])),
              "BODY= went to an upstream without 8BITMIME: %r", e)


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def check_part(part, orig, want_cte, what):
    """part (converted) says want_cte and decodes as orig (the part sent,
    parsed the same way) does."""
    check(part.get_all("Content-Transfer-Encoding") == [want_cte],
          "%s: Content-Transfer-Encoding %r, want %r", what,
          part.get_all("Content-Transfer-Encoding"), want_cte)
    got, want = part.get_payload(decode=True), orig.get_payload(decode=True)
    check(got == want, "%s: decodes to\n%r\nwant\n%r", what, got, want)
    check(part.get_content() == orig.get_content(),
          "%s: get_content() differs: %r\n%r", what, part.get_content(),
          orig.get_content())


@gwtest.timeout(120)
def test_plain_converted():
    """text/plain, BODY=8BITMIME, streaming on (the default): spooled,
    quoted-printable for German, base64 for Russian."""
    up = Upstream("starttls", extra=NO8)
    gw = Gateway(up)
    sent = [plain(GERMAN), plain(RUSSIAN, cte="")]
    send(gw, sent[0])
    send(gw, sent[1], body8=False)
    msgs = up.wait_messages(2)
    check(len(msgs) == 2, "want two messages, got %r", msgs)
    for m, orig, cte in ((msgs[0], sent[0], "quoted-printable"),
                         (msgs[1], sent[1], "base64")):
        check_7bit(m.data, cte)
        e = parse(m.data)
        check_part(e, parse(orig), cte, cte)
        check(GERMAN in e.get_content() or RUSSIAN in e.get_content(),
              "%s: the text is not there: %r", cte, e.get_content())
        check(e["Subject"] == "eight bit", "Subject %r", e["Subject"])
    check_no_body_param(up)
    check(gw.wait_log(r"8-bit body converted to 7 bits"),
          "no log line for the conversion")


@gwtest.timeout(120)
def test_multipart_converted_signed():
    """Only the 8-bit parts change; the DKIM signature covers the
    converted message and verifies."""
    key("rsa-8b")
    up = Upstream("starttls", extra=NO8)
    gw = DkimGateway(up, [section("r", "example.com", "s1", "rsa-8b")],
                     listener={"received_header": "yes"})
    msg = multipart()
    send(gw, msg)
    data = one_message(up).data
    check_7bit(data, "multipart")
    check(b"\r\n--b 1\r\nContent-Type: text/plain; charset=us-ascii\r\n"
          b"\r\nplain ascii = fine\r\n--b 1\r\n" in data,
          "the 7-bit part changed:\n%r", data[:1500])
    parts = list(parse(data).iter_parts())
    origs = list(parse(msg).iter_parts())
    check(len(parts) == 3, "want 3 parts, got %d", len(parts))
    check(parts[0].get_content() == origs[0].get_content(),
          "ascii part %r", parts[0].get_content())
    check_part(parts[1], origs[1], "quoted-printable", "German part")
    check_part(parts[2], origs[2], "base64", "Russian part")
    check(parts[2].get_content() == RUSSIAN.rstrip("\r\n"),
          "Russian part %r", parts[2].get_content())
    check_verifies(data, records_of(("s1", "example.com", "rsa-8b")),
                   what="converted message")
    check(b"Received: from client.test" in data.split(b"\r\n\r\n")[0],
          "our Received header is missing")


@gwtest.timeout(120)
def test_upstream_with_8bitmime_unchanged():
    """An upstream that offers 8BITMIME gets the octets sent, streamed,
    with BODY=8BITMIME."""
    up = Upstream("starttls")
    gw = Gateway(up)
    msg = multipart()
    send(gw, msg)
    m = one_message(up)
    check_same_bytes(m.data, msg)
    opts = [o.upper() for e in up.events("MAIL")
            for o in e.get("options", [])]
    check("BODY=8BITMIME" in opts, "BODY=8BITMIME not passed on: %r", opts)
    check(not re.search(r"8-bit", gw.log()), "a conversion was logged")


@gwtest.timeout(120)
def test_pass_and_seven_bit_untouched():
    """eight_bit = pass sends the octets as they are; a 7-bit message is
    never touched, whatever the upstream."""
    up = Upstream("starttls", extra=NO8)
    gw = Gateway(up, listener={"eight_bit": "pass"})
    msg = plain(GERMAN)
    send(gw, msg)
    check_same_bytes(one_message(up).data, msg)
    up2 = Upstream("starttls", extra=NO8)
    gw2 = Gateway(up2)
    seven = plain("only = ascii \r\n", cte="")
    send(gw2, seven, body8=False)
    check_same_bytes(one_message(up2).data, seven)


@gwtest.timeout(120)
def test_queue_signed_converted_at_acceptance():
    """delivery = queue: the upstream is not known when the message is
    taken and signed, so an 8-bit message a key signs is converted then;
    an upstream with 8BITMIME gets the converted message, signature
    good."""
    key("rsa-8b")
    qdir = os.path.join(newdir("queue"), "q")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "s1", "rsa-8b")],
                     gateway={"queue_dir": qdir, "queue_retry": "1s"},
                     listener={"delivery": "queue"})
    msg = plain(GERMAN)
    send(gw, msg)
    data = up.wait_messages(1, timeout=15)[0].data
    check_7bit(data, "queued")
    check_part(parse(data), parse(msg), "quoted-printable", "queued")
    check_verifies(data, records_of(("s1", "example.com", "rsa-8b")),
                   what="queued message")



@gwtest.timeout(120)
def test_queue_unsigned_converted_at_delivery():
    """delivery = queue without DKIM: stored as it came; converted at
    delivery for an upstream without 8BITMIME only."""
    msg = plain(RUSSIAN)
    for extra, converted in ((NO8, True), ([], False)):
        qdir = os.path.join(newdir("queue"), "q")
        up = Upstream("starttls", extra=extra)
        gw = Gateway(up, gateway={"queue_dir": qdir, "queue_retry": "1s"},
                     listener={"delivery": "queue"})
        send(gw, msg)
        data = up.wait_messages(1, timeout=15)[0].data
        if not converted:
            check_same_bytes(data, msg, "to an upstream with 8BITMIME")
            continue
        check_7bit(data, "converted at delivery")
        check_part(parse(data), parse(msg), "base64", "at delivery")
        check_no_body_param(up)
        check(gw.wait_log(r"8-bit body converted to 7 bits"),
              "no log line for the conversion at delivery")


if __name__ == "__main__":
    gwtest.main(globals())
