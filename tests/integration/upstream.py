#!/usr/bin/python3
"""upstream.py - a real SMTP server for smtpgate's tests, on aiosmtpd.

Run it with Debian's /usr/bin/python3 (it imports python3-aiosmtpd 1.4.3):

    upstream.py --port 0 --mode starttls --cert good-chain.pem --key good.key
                --spool DIR

Modes:
    starttls   STARTTLS offered and required (530 to anything but
               EHLO, NOOP, QUIT and STARTTLS before it)
    starttls-optional
               STARTTLS offered but not required
    implicit   TLS from the first byte (SMTPS, like port 465)
    plain      no TLS at all, STARTTLS is not offered

Every accepted message is stored in the spool as NNN.eml (the DATA bytes
exactly as received, after dot-unstuffing, CRLF kept) and NNN.json
(envelope sender, recipients, MAIL/RCPT parameters, HELO name, peer, TLS
version and cipher).  The .json file is written last, after the .eml is
complete, so a reader that sees NNN.json can trust NNN.eml.  Every
command the server handles is also appended to events.jsonl (one JSON
object a line, with the TLS state at that moment), so tests can check what
the gateway did and did not send.

Recipients are rejected by local-part prefix (--reject PREFIX=REPLY, may be
repeated).  The defaults: "reject..." -> "550 5.1.1 No such user",
"tempfail..." -> "451 4.3.0 Try again later".  --mail-reply and
--data-reply force the reply to MAIL or to the end of DATA; --drop-at
closes the connection instead of answering, --delay-at answers late.

TLS: --tls-min and --tls-max (1.2 or 1.3) limit the versions the server
accepts; --client-ca FILE makes it require a client certificate that
chains to FILE (with TLS 1.3, a client without one sees the connection
closed after its handshake, without an alert).

When listening, it prints "READY <port>" on stdout and flushes; it stops
on SIGTERM or SIGINT, or when stdin is closed if --stdin-watch is given.

What aiosmtpd 1.4.3 does that tests must know:
- decode_data=False keeps the DATA bytes (envelope.original_content);
  only CRLF ends a DATA line, so a bare LF or CR stays inside a line.
- data_size_limit defaults to 32 MiB and is advertised as SIZE; it is set
  to 64 MiB here.  Over it: "552 Error: Too much mail data" after the
  whole message was read (and MAIL with a larger SIZE= gets 552 at once).
- A DATA line longer than 1001 octets (998 + CRLF + a stuffing dot) gets
  "500 Line too long" after the message; nothing is stored.
- Command lines are split at LF (a bare LF ends a command) and limited to
  512 octets (plus 26 for SIZE and 10 for SMTPUTF8 once EHLO was given).
- SMTPUTF8 is enabled, so the gateway may pass MAIL ... SMTPUTF8 on.
- The null reverse-path is stored as mail_from "<>".
"""

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP

# 64 MiB: more than the 10 MB test message, less than nothing sensible.
DATA_LIMIT = 64 * 1024 * 1024

DEFAULT_REJECTS = [
    ("reject", "550 5.1.1 No such user"),
    ("tempfail", "451 4.3.0 Try again later"),
]


def tls_info(server):
    """(version, cipher) of the session's TLS, or (None, None)."""
    transport = server.transport
    if transport is None:
        return None, None
    sslobj = transport.get_extra_info("ssl_object")
    if sslobj is None:
        return None, None
    cipher = sslobj.cipher()
    return sslobj.version(), cipher[0] if cipher else None


class Spool:
    """Numbered message files in one directory."""

    def __init__(self, path):
        self.path = path
        os.makedirs(path, exist_ok=True)
        self.count = 0
        self.events = open(os.path.join(path, "events.jsonl"), "a",
                           buffering=1, encoding="utf-8")

    def event(self, server, what, **fields):
        version, _ = tls_info(server)
        peer = server.session.peer if server.session else None
        rec = {"event": what, "tls": version, "peer": list(peer or [])}
        rec.update(fields)
        self.events.write(json.dumps(rec, sort_keys=True) + "\n")

    def store(self, data, meta):
        self.count += 1
        base = os.path.join(self.path, "%03d" % self.count)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(data)
        os.rename(base + ".eml.tmp", base + ".eml")
        with open(base + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
            f.write("\n")
        os.rename(base + ".json.tmp", base + ".json")
        return base


class Handler:
    """aiosmtpd hooks: record, reject by rule, store."""

    def __init__(self, spool, rejects, mail_reply, data_reply, drop_at=(),
                 delay_at=None):
        self.spool = spool
        self.rejects = rejects
        self.mail_reply = mail_reply
        self.data_reply = data_reply
        self.drop_at = set(drop_at)
        self.drop_count = -1		# < 0: every time
        self.delay_at = delay_at or {}

    async def misbehave(self, server, what):
        """--delay-at and --drop-at: True if the connection was dropped."""
        delay = self.delay_at.get(what)
        if delay:
            await asyncio.sleep(delay)
        if what in self.drop_at and self.drop_count != 0:
            self.drop_count -= 1
            self.spool.event(server, "DROP", at=what)
            server.transport.abort()
            return True
        return False

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        self.spool.event(server, "EHLO", arg=hostname)
        # aiosmtpd answers pipelined commands in order; say so, as real
        # submission servers do.
        return responses[:-1] + ["250-PIPELINING"] + responses[-1:]

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        self.spool.event(server, "HELO", arg=hostname)
        return "250 {}".format(server.hostname)

    async def handle_MAIL(self, server, session, envelope, address, options):
        self.spool.event(server, "MAIL", arg=address, options=options)
        if await self.misbehave(server, "MAIL"):
            return "421 4.4.2 dropped"
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if await self.misbehave(server, "RCPT"):
            return "421 4.4.2 dropped"
        local = address.rsplit("@", 1)[0].lower()
        for prefix, reply in self.rejects:
            if local.startswith(prefix):
                self.spool.event(server, "RCPT", arg=address, reply=reply)
                return reply
        self.spool.event(server, "RCPT", arg=address, reply="250")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Recipient OK"

    async def handle_RSET(self, server, session, envelope):
        self.spool.event(server, "RSET")
        return "250 2.0.0 OK"

    async def handle_QUIT(self, server, session, envelope):
        self.spool.event(server, "QUIT")
        return "221 2.0.0 Bye"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content
        self.spool.event(server, "DATA", size=len(data),
                         rcpts=list(envelope.rcpt_tos))
        if await self.misbehave(server, "DATA"):
            return "421 4.4.2 dropped"
        if self.data_reply:
            return self.data_reply
        version, cipher = tls_info(server)
        peer = session.peer or ()
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": list(envelope.rcpt_options),
            "helo": session.host_name,
            "peer": list(peer),
            "tls_version": version,
            "tls_cipher": cipher,
            "size": len(data),
        }
        base = self.spool.store(data, meta)
        return "250 2.0.0 Ok: queued as %s" % os.path.basename(base)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0,
                   help="0 picks a free port (printed in READY)")
    p.add_argument("--mode", default="starttls",
                   choices=["starttls", "starttls-optional", "implicit",
                            "plain"])
    p.add_argument("--cert", help="certificate chain PEM (leaf first)")
    p.add_argument("--key", help="private key PEM")
    p.add_argument("--spool", required=True, help="directory for messages")
    p.add_argument("--hostname", default="upstream.test",
                   help="name in the banner and EHLO reply")
    p.add_argument("--reject", action="append", default=[],
                   metavar="PREFIX=REPLY",
                   help="reject recipients whose local part starts with "
                        "PREFIX with REPLY (e.g. 'nobody=550 5.1.1 No')")
    p.add_argument("--mail-reply", help="reply to every MAIL with this")
    p.add_argument("--data-reply", help="reply to every end of DATA with "
                                        "this (nothing is stored)")
    p.add_argument("--drop-at", action="append", default=[],
                   choices=["MAIL", "RCPT", "DATA"],
                   help="close the connection instead of answering MAIL, "
                        "RCPT or the end of DATA (nothing is stored)")
    p.add_argument("--drop-count", type=int, default=-1,
                   help="drop only this many times (default: always)")
    p.add_argument("--delay-at", action="append", default=[],
                   metavar="EVENT=SECONDS",
                   help="wait before answering MAIL, RCPT or end of DATA")
    p.add_argument("--timeout", type=float, default=60,
                   help="idle timeout of a session, seconds")
    p.add_argument("--tls-min", choices=["1.2", "1.3"],
                   help="oldest TLS version the server accepts")
    p.add_argument("--tls-max", choices=["1.2", "1.3"],
                   help="newest TLS version the server accepts")
    p.add_argument("--client-ca",
                   help="require a client certificate that chains to "
                        "this CA file")
    p.add_argument("--stdin-watch", action="store_true",
                   help="exit when stdin reaches end of file")
    args = p.parse_args(argv)
    if args.mode != "plain" and not (args.cert and args.key):
        p.error("--cert and --key are needed for mode %s" % args.mode)
    rejects = []
    for r in args.reject:
        prefix, sep, reply = r.partition("=")
        if not sep or not reply[:3].isdigit():
            p.error("bad --reject %r" % r)
        rejects.append((prefix.lower(), reply))
    args.rejects = rejects + DEFAULT_REJECTS
    args.delays = {}
    for d in args.delay_at:
        what, sep, secs = d.partition("=")
        try:
            args.delays[what.upper()] = float(secs)
        except ValueError:
            p.error("bad --delay-at %r" % d)
        if not sep or what.upper() not in ("MAIL", "RCPT", "DATA"):
            p.error("bad --delay-at %r" % d)
    return args


TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def server_context(cert, key, tls_min=None, tls_max=None, client_ca=None):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls_min:
        ctx.minimum_version = TLS_VERSIONS[tls_min]
    if tls_max:
        ctx.maximum_version = TLS_VERSIONS[tls_max]
    if client_ca:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


async def serve(args):
    loop = asyncio.get_running_loop()
    handler = Handler(Spool(args.spool), args.rejects, args.mail_reply,
                      args.data_reply, args.drop_at, args.delays)
    handler.drop_count = args.drop_count
    ctx = None
    if args.mode != "plain":
        ctx = server_context(args.cert, args.key, args.tls_min,
                             args.tls_max, args.client_ca)

    def factory():
        # hostname given: aiosmtpd would otherwise call getfqdn(), which
        # can wait on DNS.  SMTPUTF8 on so that the gateway may pass the
        # parameter on; decode_data off so the DATA bytes are kept.
        kw = dict(data_size_limit=DATA_LIMIT, enable_SMTPUTF8=True,
                  decode_data=False, hostname=args.hostname,
                  ident="ESMTP upstream.py", timeout=args.timeout, loop=loop)
        if args.mode in ("starttls", "starttls-optional"):
            kw["tls_context"] = ctx
            kw["require_starttls"] = args.mode == "starttls"
        return SMTP(handler, **kw)

    server = await loop.create_server(
        factory, host=args.host, port=args.port,
        ssl=ctx if args.mode == "implicit" else None,
        reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(0))
    if args.stdin_watch:
        def on_stdin():
            if not os.read(0, 4096):
                loop.remove_reader(0)
                if not stop.done():
                    stop.set_result(0)
        loop.add_reader(0, on_stdin)
    print("READY %d" % port, flush=True)
    await stop
    server.close()
    await server.wait_closed()


def main(argv):
    args = parse_args(argv)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
