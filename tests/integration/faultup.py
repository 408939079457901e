#!/usr/bin/python3
"""faultup.py - a scriptable upstream SMTP test double for smtpgate's tests.

A real SMTP server cannot be made to misbehave in the ways an upstream on
a bad day does; this one can.  Standard library only (socket, ssl,
threading, select); one thread per connection, every read and every wait
bounded in time and in bytes.

    faultup.py --fault FAULT --spool DIR [--mode starttls|implicit|plain]
               [--cert CHAIN.pem --key KEY.pem] [--count N] [--port 0]

Faults (what the upstream does to the gateway's connection):

    none                    behave: greet, EHLO, STARTTLS, MAIL, RCPT, DATA,
                            store the message, 250
    close-mid-data          accept MAIL, RCPT and DATA (354), then close
                            the connection after --body-bytes bytes of the
                            message body (never a reply to the final dot)
    stall-after-greeting    send 220, then read and never answer
    421-at-connect          send "421 4.3.2 ..." as the greeting and close
    tls-reset               offer STARTTLS, answer 220, and reset the
                            connection (SO_LINGER 0) as soon as the first
                            bytes of the ClientHello arrive
    garbage-after-starttls  answer 220 to STARTTLS, then, once the
                            ClientHello arrived, send plain text instead of
                            a ServerHello
    starttls-extra-reply    answer STARTTLS with "220 go\\r\\n250 extra\\r\\n"
                            in one segment (a reply the client must not
                            take as the start of TLS)
    implicit-tls-reset      port-465 style: reset the connection as soon as
                            the ClientHello arrives (use with --mode
                            implicit)
    drip-reply              answer EHLO one byte a second (a reply that
                            takes half a minute to arrive)
    wrong-reply             answer the command named by --at (MAIL, RCPT,
                            DATA, DOT for the final dot, RSET) with the
                            line --reply instead of the right one, for
                            example DATA with "250 2.0.0 OK" instead of
                            354 (then no body is read: the server thinks
                            the transaction is over) or the final dot with
                            a 3xx (the body is read, nothing is stored)
    scram-no-proof          offer AUTH SCRAM-SHA-256, answer the
                            client-first message with a server-first one
                            and the client-final with 235 at once: no v=,
                            the server never proves it knows the password
    scram-bad-proof         the same, but a 334 v= with a wrong server
                            signature before the 235

--count N applies the fault to the first N connections only; later ones
behave (fault "none"), so a test can show that the gateway recovers and
delivers through the same upstream.  The default, 0, faults every
connection.

When listening it prints "READY <port>" on stdout.  It records what it
received in DIR/events.jsonl, one JSON object a line, written and flushed
as it happens:

    {"conn": 1, "event": "connect", "fault": "tls-reset"}
    {"conn": 1, "event": "cmd", "line": "EHLO gw.test", "tls": false}
    {"conn": 1, "event": "body", "bytes": 4096}        (close-mid-data)
    {"conn": 1, "event": "clienthello", "bytes": 517}
    {"conn": 1, "event": "delivered", "n": 1, "size": 812, "sha256": "..."}
    {"conn": 1, "event": "close", "why": "reset after ClientHello"}

and every delivered message as DIR/NNN.eml (dot-unstuffed, CRLF kept).
A test asserts "nothing was delivered" by finding no "delivered" event and
no .eml file.  It stops on SIGTERM/SIGINT, or when stdin reaches end of
file with --stdin-watch.
"""

import argparse
import base64
import hashlib
import json
import os
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time

FAULTS = ("none", "close-mid-data", "stall-after-greeting", "421-at-connect",
          "tls-reset", "garbage-after-starttls", "starttls-extra-reply",
          "implicit-tls-reset", "drip-reply", "wrong-reply",
          "scram-no-proof", "scram-bad-proof")
WRONG_AT = ("MAIL", "RCPT", "DATA", "DOT", "RSET")

IDLE_TIMEOUT = 30.0		# seconds a connection may sit silent
STALL_LIMIT = 60.0		# stall-after-greeting holds at most this long
MAX_LINE = 4096			# longest command line read
MAX_MESSAGE = 64 * 1024 * 1024	# largest body stored
MAX_CONNS = 1000		# connections served before refusing more


class Recorder:
    """events.jsonl and the message files, shared by all threads."""

    def __init__(self, spool):
        self.spool = spool
        os.makedirs(spool, exist_ok=True)
        self.lock = threading.Lock()
        self.f = open(os.path.join(spool, "events.jsonl"), "a",
                      encoding="utf-8")
        self.delivered = 0

    def event(self, conn, kind, **fields):
        # kind, not "what": events carry a field named "what"
        rec = {"conn": conn, "event": kind, "t": round(time.time(), 3)}
        rec.update(fields)
        with self.lock:
            self.f.write(json.dumps(rec, sort_keys=True) + "\n")
            self.f.flush()

    def store(self, conn, data):
        with self.lock:
            self.delivered += 1
            n = self.delivered
        path = os.path.join(self.spool, "%03d.eml" % n)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.rename(path + ".tmp", path)
        self.event(conn, "delivered", n=n, size=len(data),
                   sha256=hashlib.sha256(data).hexdigest())
        return n


class Closed(Exception):
    """The peer went away, or a limit was hit: end the session."""


class Session:
    """One upstream connection, run in its own thread."""

    def __init__(self, args, rec, sock, conn, fault, ctx):
        self.args = args
        self.rec = rec
        self.sock = sock
        self.conn = conn
        self.fault = fault
        self.ctx = ctx
        self.buf = b""
        self.tls = False

    # -- plumbing

    def ev(self, kind, **fields):
        self.rec.event(self.conn, kind, **fields)

    def send(self, data):
        self.sock.sendall(data)

    def recv_some(self, timeout=IDLE_TIMEOUT):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Closed("idle for %.0f s" % timeout)
        except (OSError, ssl.SSLError) as e:
            raise Closed("recv: %s" % e)
        if not data:
            raise Closed("peer closed")
        return data

    def readline(self):
        """One line, CRLF or LF ended, without the line end."""
        for _ in range(MAX_LINE + 1):
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1:]
                return line.rstrip(b"\r")
            if len(self.buf) > MAX_LINE:
                raise Closed("command line too long")
            self.buf += self.recv_some()
        raise Closed("no line")

    def reset(self, why):
        """Close with an RST (SO_LINGER 0) instead of a FIN."""
        raw = self.sock
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                           struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.ev("close", why=why, reset=True)
        raw.close()

    def wait_clienthello(self):
        """Wait (bounded) for the first bytes of the peer's ClientHello;
        record how many arrived.  A TLS record starts with 0x16."""
        r, _, _ = select.select([self.sock], [], [], IDLE_TIMEOUT)
        if not r:
            raise Closed("no ClientHello within %.0f s" % IDLE_TIMEOUT)
        data = self.sock.recv(16384, socket.MSG_PEEK)
        self.ev("clienthello", bytes=len(data),
                handshake=bool(data) and data[0] == 0x16)
        return data

    # -- the session

    def run(self):
        try:
            self.ev("connect", fault=self.fault,
                    peer=list(self.sock.getpeername()[:2]))
            self.serve()
        except Closed as e:
            self.ev("close", why=str(e))
        except (OSError, ssl.SSLError) as e:
            self.ev("close", why="error: %s" % e)
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def serve(self):
        f = self.fault
        if self.args.mode == "implicit":
            if f == "implicit-tls-reset":
                self.wait_clienthello()
                self.reset("reset after ClientHello (implicit TLS)")
                raise Closed("reset")
            self.start_tls()
        if f == "421-at-connect":
            self.send(b"421 4.3.2 faultup.test busy, closing\r\n")
            self.sock.shutdown(socket.SHUT_WR)
            # Let the peer read it; a bounded wait for its close.
            self.sock.settimeout(5)
            try:
                self.sock.recv(4096)
            except OSError:
                pass
            raise Closed("421 at connect")
        self.send(b"220 faultup.test ESMTP faultup\r\n")
        if f == "stall-after-greeting":
            self.stall()
        self.commands()

    def stall(self):
        """Read and record everything, answer nothing, until the peer
        closes or STALL_LIMIT passes."""
        deadline = time.monotonic() + STALL_LIMIT
        while time.monotonic() < deadline:
            data = self.recv_some(max(0.1, deadline - time.monotonic()))
            self.ev("stalled-input", data=data.decode("latin-1"))
        raise Closed("stall limit reached")

    def start_tls(self):
        self.sock.settimeout(IDLE_TIMEOUT)
        try:
            self.sock = self.ctx.wrap_socket(self.sock, server_side=True)
        except (OSError, ssl.SSLError) as e:
            raise Closed("TLS handshake failed: %s" % e)
        self.tls = True
        self.ev("tls", version=self.sock.version())

    def commands(self):
        offer_tls = self.args.mode == "starttls"
        in_mail = rcpts = 0
        for _ in range(1000):
            line = self.readline()
            text = line.decode("latin-1")
            verb = text.split(" ", 1)[0].upper()
            self.ev("cmd", line=text, tls=self.tls)
            if verb in ("EHLO", "HELO"):
                ext = [b"faultup.test", b"PIPELINING", b"8BITMIME",
                       b"SIZE 67108864"]
                if offer_tls and not self.tls:
                    ext.append(b"STARTTLS")
                if self.fault.startswith("scram-"):
                    ext.append(b"AUTH SCRAM-SHA-256")
                if verb == "HELO":
                    ext = ext[:1]
                out = b"".join(b"250-" + e + b"\r\n" for e in ext[:-1])
                out += b"250 " + ext[-1] + b"\r\n"
                if self.fault == "drip-reply":
                    self.drip(out)
                else:
                    self.send(out)
                in_mail = rcpts = 0
            elif verb == "STARTTLS" and offer_tls and not self.tls:
                self.starttls()
                in_mail = rcpts = 0
            elif verb in ("MAIL", "RCPT", "DATA", "RSET") and \
                    self.wrong(verb):
                in_mail = rcpts = 0
            elif verb == "MAIL":
                in_mail, rcpts = 1, 0
                self.send(b"250 2.1.0 Sender OK\r\n")
            elif verb == "RCPT":
                if not in_mail:
                    self.send(b"503 5.5.1 MAIL first\r\n")
                    continue
                rcpts += 1
                self.send(b"250 2.1.5 Recipient OK\r\n")
            elif verb == "DATA":
                if not rcpts:
                    self.send(b"503 5.5.1 RCPT first\r\n")
                    continue
                self.send(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                self.data()
                in_mail = rcpts = 0
            elif verb in ("RSET", "NOOP"):
                if verb == "RSET":
                    in_mail = rcpts = 0
                self.send(b"250 2.0.0 OK\r\n")
            elif verb == "AUTH" and self.fault.startswith("scram-"):
                self.scram(text)
            elif verb == "QUIT":
                self.send(b"221 2.0.0 Bye\r\n")
                raise Closed("quit")
            else:
                self.send(b"502 5.5.2 Command not implemented\r\n")
        raise Closed("too many commands")

    def scram(self, text):
        """scram-no-proof / scram-bad-proof: a SCRAM-SHA-256 exchange
        whose server never proves it knows the password (the password
        is not even looked at)."""
        parts = text.split(" ")
        if len(parts) != 3:
            self.send(b"501 5.5.2 initial response expected\r\n")
            return
        first = base64.b64decode(parts[2]).decode("latin-1")
        cnonce = first.split(",r=", 1)[1]
        sf = "r=%sfaultup,s=%s,i=4096" % (
            cnonce, base64.b64encode(b"salt-salt").decode())
        self.send(b"334 " + base64.b64encode(sf.encode()) + b"\r\n")
        final = self.readline().decode("latin-1")
        self.ev("auth", what="client-final", line=final)
        if final == "*":
            self.send(b"501 5.0.0 cancelled\r\n")
            return
        if self.fault == "scram-bad-proof":
            bad = base64.b64encode(b"v=" + base64.b64encode(b"x" * 32))
            self.send(b"334 " + bad + b"\r\n")
            line = self.readline().decode("latin-1")
            self.ev("auth", what="after v=", line=line)
            if line == "*":
                self.send(b"501 5.0.0 cancelled\r\n")
                return
        self.ev("sent", what="235 without a valid proof")
        self.send(b"235 2.7.0 Authentication successful\r\n")

    def wrong(self, verb):
        """wrong-reply: answer verb with --reply if --at names it; True
        if it did (the caller then forgets the transaction)."""
        if self.fault != "wrong-reply" or self.args.at != verb:
            return False
        # recorded first: the gateway may act on it before we return
        self.ev("sent", what="wrong reply to %s" % verb,
                reply=self.args.reply)
        self.send(self.args.reply.encode("latin-1") + b"\r\n")
        return True

    def starttls(self):
        f = self.fault
        if f == "starttls-extra-reply":
            # One segment: the 220 and a reply nobody asked for.
            self.send(b"220 go\r\n250 extra\r\n")
            self.ev("sent", what="220 go + 250 extra in one segment")
            # The gateway must not start TLS over this; give it a bounded
            # time to hang up.
            self.linger_read(10)
            raise Closed("after extra reply")
        self.send(b"220 2.0.0 Ready to start TLS\r\n")
        if f == "tls-reset":
            self.wait_clienthello()
            self.reset("reset after ClientHello (STARTTLS)")
            raise Closed("reset")
        if f == "garbage-after-starttls":
            self.wait_clienthello()
            self.send(b"this is not a TLS ServerHello\r\n250 ok\r\n")
            self.ev("sent", what="garbage instead of ServerHello")
            self.linger_read(10)
            raise Closed("after garbage")
        if self.buf:
            raise Closed("data pipelined after STARTTLS")
        self.start_tls()

    def drip(self, data, per_byte=1.0):
        """Send data one byte every per_byte seconds (bounded: at most
        120 bytes); stop early if the peer goes away."""
        self.ev("drip", bytes=len(data))
        for i in range(min(len(data), 120)):
            try:
                self.send(data[i:i + 1])
            except OSError:
                raise Closed("peer gone during the drip after %d bytes" % i)
            time.sleep(per_byte)

    def linger_read(self, secs):
        """Read (and record) until the peer closes, at most secs."""
        deadline = time.monotonic() + secs
        total = 0
        while time.monotonic() < deadline and total < 1 << 20:
            try:
                data = self.recv_some(max(0.1, deadline - time.monotonic()))
            except Closed:
                return
            total += len(data)
            self.ev("input", bytes=len(data))

    def data(self):
        """Read the message to the final dot.  close-mid-data closes
        after --body-bytes bytes instead."""
        raw = bytearray(self.buf)
        self.buf = b""
        cut = self.args.body_bytes if self.fault == "close-mid-data" else -1
        pos = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if 0 <= cut <= len(raw):
                self.ev("body", bytes=len(raw))
                if self.args.rst:
                    self.reset("reset mid-data after %d bytes" % len(raw))
                    raise Closed("reset")
                raise Closed("closed mid-data after %d bytes" % len(raw))
            if raw[:3] == b".\r\n":
                body, rest = b"", raw[3:]
                break
            i = raw.find(b"\r\n.\r\n", max(0, pos - 4))
            if i >= 0:
                body, rest = raw[:i + 2], raw[i + 5:]
                break
            if len(raw) > MAX_MESSAGE:
                raise Closed("message too big")
            pos = len(raw)
            raw += self.recv_some()
        else:
            raise Closed("DATA took too long")
        self.buf = bytes(rest)
        msg = bytes(body).replace(b"\r\n..", b"\r\n.")
        if msg.startswith(b".."):
            msg = msg[1:]
        if self.fault == "wrong-reply" and self.args.at == "DOT":
            # the reply claims nothing: nothing is stored
            self.ev("body", bytes=len(msg))
            self.ev("sent", what="wrong reply to the final dot",
                    reply=self.args.reply)
            self.send(self.args.reply.encode("latin-1") + b"\r\n")
            return
        n = self.rec.store(self.conn, msg)
        self.send(b"250 2.0.0 Ok: queued as faultup-%d\r\n" % n)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--fault", required=True, choices=FAULTS)
    p.add_argument("--mode", default="starttls",
                   choices=["starttls", "implicit", "plain"])
    p.add_argument("--cert", help="certificate chain PEM (leaf first)")
    p.add_argument("--key", help="private key PEM")
    p.add_argument("--spool", required=True)
    p.add_argument("--count", type=int, default=0,
                   help="fault only the first N connections (0: all)")
    p.add_argument("--body-bytes", type=int, default=4096,
                   help="close-mid-data: body bytes read before closing")
    p.add_argument("--rst", action="store_true",
                   help="close-mid-data: reset instead of a FIN")
    p.add_argument("--at", choices=WRONG_AT,
                   help="wrong-reply: the command answered wrongly")
    p.add_argument("--reply", default="250 2.0.0 OK",
                   help="wrong-reply: the line sent instead (no CRLF)")
    p.add_argument("--stdin-watch", action="store_true")
    args = p.parse_args(argv)
    if args.fault == "wrong-reply" and not args.at:
        p.error("--fault wrong-reply needs --at")
    if args.mode != "plain" and not (args.cert and args.key):
        p.error("--cert and --key are needed for mode %s" % args.mode)
    return args


def main(argv):
    args = parse_args(argv)
    ctx = None
    if args.mode != "plain":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    rec = Recorder(args.spool)
    lsock = socket.socket(socket.AF_INET6 if ":" in args.host
                          else socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.host, args.port))
    lsock.listen(64)
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: stop.append(s))
    print("READY %d" % lsock.getsockname()[1], flush=True)
    watch = [0] if args.stdin_watch else []
    conns = 0
    while not stop and conns < MAX_CONNS:
        try:
            r, _, _ = select.select([lsock] + watch, [], [], 0.5)
        except InterruptedError:
            continue
        if 0 in r and not os.read(0, 4096):
            break
        if lsock not in r:
            continue
        try:
            sock, _ = lsock.accept()
        except OSError:
            continue
        conns += 1
        fault = args.fault
        if args.count and conns > args.count:
            fault = "none"
        s = Session(args, rec, sock, conns, fault, ctx)
        threading.Thread(target=s.run, daemon=True).start()
    lsock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
