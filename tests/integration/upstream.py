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
--pop-log FILE (with --pop-user and --pop-window) makes it an old
POP-before-SMTP server: RCPT gets "554 5.7.1 Relaying denied" unless
Dovecot's log FILE shows a login of that user from 127.0.0.1 within the
window (log_timestamp "%s ", as tests/integration/dovecot.py sets it).

TLS: --tls-min and --tls-max (1.2 or 1.3) limit the versions the server
accepts; --client-ca FILE makes it require a client certificate that
chains to FILE (with TLS 1.3, a client without one sees the connection
closed after its handshake, without an alert).

AUTH (off unless an account is given):
    --auth-user USER=PASSWORD   an account for PLAIN, LOGIN and CRAM-MD5
    --auth-token USER=TOKEN     an OAuth account for XOAUTH2 and OAUTHBEARER
                                (a test double: Debian has no OAuth SMTP
                                server; it checks the token, and on a bad
                                one answers with the 334 JSON error
                                challenge, then 535 after the client's
                                empty (XOAUTH2) or %x01 (OAUTHBEARER) answer)
    --auth-mechs LIST           mechanisms offered, comma-separated
                                (default PLAIN,LOGIN,CRAM-MD5,XOAUTH2,
                                OAUTHBEARER)
    --auth-refuse MECH          the account backend refuses MECH with 535
                                even for good credentials (may be repeated)
    --auth-refuse-mech MECH=REPLY
                                the server refuses the mechanism itself:
                                "AUTH MECH" gets REPLY at once, before any
                                credentials (for example "534 5.7.9
                                Authentication mechanism is too weak", as
                                RFC 4954 has it); the AUTH event's result
                                is "mech-refused"
    --auth-require              MAIL without AUTH gets 530 5.7.0
    --auth-hide-before-tls      AUTH is neither offered nor accepted (538)
                                before STARTTLS
Every AUTH command is an "AUTH" event (mechanism, and "ok"/"fail" with
the user once decided; never the secret).  A stored message's .json
names the account that authenticated its session ("auth_user", null if
none) and the mechanism ("auth_mech").  On an implicit-TLS listener the
session counts as TLS for AUTH (aiosmtpd alone would answer 538).

DSN (RFC 3461): --dsn advertises DSN and accepts RET and ENVID on MAIL,
NOTIFY and ORCPT on RCPT (aiosmtpd alone answers 555 to them).  Every
MAIL and RCPT is then also a "MAIL_ARGS"/"RCPT_ARGS" event holding the
command's argument exactly as received (aiosmtpd upper-cases the options
it hands on), and a stored message's .json has the exact parameter text
of its MAIL ("mail_params") and of each accepted RCPT ("rcpt_params").
Without --dsn, the stored lists are empty of DSN parameters by
construction: aiosmtpd would have refused the command.

REQUIRETLS (RFC 8689): --requiretls advertises REQUIRETLS in the EHLO
reply of a TLS session only (after STARTTLS, or on an implicit-TLS
listener), and accepts the REQUIRETLS parameter on MAIL (aiosmtpd alone
answers 555); MAIL_ARGS events and "mail_params" record it as with --dsn.

Connection reuse (the gateway's pool): --idle-close SECONDS closes a
connection (a plain close, no reply) when no command arrived for that
long, as real servers drop idle clients; --idle-close-reply REPLY sends
REPLY (e.g. "421 4.4.2 Idle timeout") first.  Either is an "IDLE_CLOSE"
event.  --mail-reply-reused REPLY answers MAIL with REPLY on every
connection that already carried a stored message (the first message of
a connection gets 250, a reused connection fails at MAIL); a 421 is
followed by a close, as Postfix does.  It is a "MAIL_REUSED" event.
--delay-at also takes RSET and QUIT; a client that closes while the
reply to its QUIT is delayed is a "QUIT_CUT" event.
--reused-only limits --drop-at and --delay-at to such connections (a
fault after the first message, where the gateway must not retry).
Count connections as the distinct "peer" values of the EHLO events.

--no-8bitmime leaves 8BITMIME out of the EHLO reply, as old servers do
(aiosmtpd announces it with decode_data off); the stored message shows
whether the client sent 8-bit octets anyway.

--bare-replies answers as aiosmtpd and Exim do, without enhanced status
codes: "250 OK" to MAIL, RCPT and the end of DATA (use --reject with a
reply such as "550 no such user here" for refusals).

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
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, MISSING

# 64 MiB: more than the 10 MB test message, less than nothing sensible.
DATA_LIMIT = 64 * 1024 * 1024

ALL_MECHS = ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER"]
# RFC 4954 allows 12288 octets for an AUTH line; aiosmtpd's reader stops
# every line at 1001 (line_length_limit), which is enough for test secrets
AUTH_LINE_MAX = 1000

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
        self.accounts = {}		# user -> password
        self.tokens = {}		# user -> OAuth token
        self.refuse = set()		# mechanisms the backend refuses
        self.refuse_mech = {}		# mechanism -> reply to AUTH itself
        self.pop_log = None		# --pop-log: relay only after a login
        self.pop_user = None
        self.pop_window = 60
        self.dsn = False		# --dsn: advertise and accept DSN
        self.no_8bitmime = False	# --no-8bitmime: not announced
        self.no_pipelining = False	# --no-pipelining: not announced
        self.requiretls = False		# --requiretls: the same for RFC 8689
        self.bare = False		# --bare-replies: no enhanced codes
        self.store_delay = 0		# --store-delay: stored, answered late
        self.idle_close_reply = None	# --idle-close-reply
        self.mail_reply_reused = None	# --mail-reply-reused
        self.reused_only = False	# --reused-only

    def pop_recent(self):
        """The classic pop-before-smtp log watcher: a successful POP3 login
        of pop_user from 127.0.0.1 in Dovecot's log (log_timestamp "%s ")
        within the last pop_window seconds."""
        rx = re.compile(r"^(\d+) pop3-login: Info: Login: user=<%s>.*"
                        r"rip=127\.0\.0\.1" % re.escape(self.pop_user), re.M)
        try:
            with open(self.pop_log, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return False
        now = time.time()
        return any(now - int(m.group(1)) <= self.pop_window
                   for m in rx.finditer(text))

    async def pop_recent_wait(self, wait=2.0):
        """pop_recent, giving Dovecot's log process up to wait seconds:
        it writes the login line after the client already has its +OK
        (another process, through a pipe), so a gateway that goes on at
        once can be faster than the line on a busy machine, as with a
        real log watcher.  No login at all is still refused."""
        deadline = time.monotonic() + wait
        while not self.pop_recent():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    def authenticator(self, server, session, envelope, mechanism,
                      auth_data):
        """PLAIN and LOGIN (aiosmtpd's own) and CRAM-MD5 (below)."""
        user = auth_data.login.decode("utf-8", "replace")
        ok = (mechanism not in self.refuse and
              user in self.accounts and
              auth_data.password == self.accounts[user].encode())
        return self._outcome(server, mechanism, user, ok)

    def _outcome(self, server, mechanism, user, ok):
        self.spool.event(server, "AUTH", mech=mechanism, user=user,
                         result="ok" if ok else "fail")
        if not ok:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=LoginPassword(
            user.encode(), b""))

    async def auth_CRAM__MD5(self, server, args):
        if len(args) != 1:
            await server.push("501 5.5.2 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = "<%d.%d@upstream.test>" % (os.getpid(),
                                               int.from_bytes(os.urandom(4),
                                                              "big"))
        answer = await server.challenge_auth(challenge)
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        user, _, digest = answer.decode("utf-8", "replace").rpartition(" ")
        pw = self.accounts.get(user)
        ok = pw is not None and hmac.compare_digest(
            digest, hmac.new(pw.encode(), challenge.encode(),
                             hashlib.md5).hexdigest())
        return self._outcome(server, "CRAM-MD5",
                                user, ok and "CRAM-MD5" not in self.refuse)

    async def oauth(self, server, mech, args, parse):
        if len(args) == 2:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except ValueError:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        fields = parse(blob)
        if fields is None:
            self.spool.event(server, "AUTH", mech=mech, result="malformed")
            await server.push("501 5.5.2 Malformed %s response" % mech)
            return AuthResult(success=False, handled=True)
        user, token = fields
        ok = (mech not in self.refuse and user in self.tokens and
              token == self.tokens[user])
        if ok:
            return self._outcome(server, mech, user, True)
        self.spool.event(server, "AUTH", mech=mech, user=user, result="fail")
        # the error challenge of RFC 7628 3.2.2 (and Google's XOAUTH2)
        err = json.dumps({"status": "invalid_token", "schemes": "bearer",
                          "scope": "https://mail.example/"})
        answer = await server.challenge_auth(err)
        want = b"" if mech == "XOAUTH2" else b"\x01"
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        if answer != want:
            await server.push("501 5.5.2 Bad answer to the error challenge")
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Invalid token")

    @staticmethod
    def parse_xoauth2(blob):
        """user=U^Aauth=Bearer T^A^A -> (U, T), or None."""
        if not blob.endswith(b"\x01\x01"):
            return None
        parts = blob[:-2].split(b"\x01")
        if (len(parts) != 2 or not parts[0].startswith(b"user=") or
                not parts[1].startswith(b"auth=Bearer ")):
            return None
        return (parts[0][5:].decode("utf-8", "replace"),
                parts[1][12:].decode("utf-8", "replace"))

    @staticmethod
    def parse_oauthbearer(blob):
        """n,a=U,^Ahost=H^Aport=P^Aauth=Bearer T^A^A -> (U, T), or None."""
        if not blob.endswith(b"\x01\x01"):
            return None
        parts = blob[:-2].split(b"\x01")
        gs2 = parts[0].split(b",")
        if len(gs2) != 3 or gs2[0] != b"n" or not gs2[1].startswith(b"a="):
            return None
        kv = dict(p.split(b"=", 1) for p in parts[1:] if b"=" in p)
        if len(kv) != len(parts) - 1 or not kv.get(b"auth", b"").startswith(
                b"Bearer "):
            return None
        if b"host" not in kv or b"port" not in kv:
            return None
        return (gs2[1][2:].decode("utf-8", "replace"),
                kv[b"auth"][7:].decode("utf-8", "replace"))

    async def auth_XOAUTH2(self, server, args):
        return await self.oauth(server, "XOAUTH2", args, self.parse_xoauth2)

    async def auth_OAUTHBEARER(self, server, args):
        return await self.oauth(server, "OAUTHBEARER", args,
                                self.parse_oauthbearer)

    async def misbehave(self, server, what):
        """--delay-at and --drop-at: True if the connection was dropped."""
        if self.reused_only and not getattr(server, "carried", 0):
            return False
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
        extra = [] if self.no_pipelining else ["250-PIPELINING"]
        if self.requiretls and tls_info(server)[0] is not None:
            extra.append("250-REQUIRETLS")
        if self.dsn:
            extra.append("250-DSN")
            # RFC 3461 4: MAIL may grow by 100 octets, RCPT by 500
            server.command_size_limits["MAIL"] += 100
            server.command_size_limits["RCPT"] = (server.command_size_limit
                                                  + 500)
        if self.no_8bitmime:
            responses = [r for r in responses if r[4:] != "8BITMIME"]
        return responses[:-1] + extra + responses[-1:]

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        self.spool.event(server, "HELO", arg=hostname)
        return "250 {}".format(server.hostname)

    async def handle_MAIL(self, server, session, envelope, address, options):
        # ahead: octets already received behind this MAIL, that is
        # commands the client sent without waiting for its reply (RFC 2920)
        reader = getattr(server, "_reader", None)
        self.spool.event(server, "MAIL", arg=address, options=options,
                         ahead=len(getattr(reader, "_buffer", b"")))
        if await self.misbehave(server, "MAIL"):
            return "421 4.4.2 dropped"
        if self.mail_reply:
            return self.mail_reply
        carried = getattr(server, "carried", 0)
        if self.mail_reply_reused and carried > 0:
            reply = self.mail_reply_reused
            self.spool.event(server, "MAIL_REUSED", carried=carried,
                             reply=reply)
            if reply.startswith("421"):
                # after aiosmtpd has written the reply (no await between
                # this return and its write); close() sends what is
                # buffered first
                server.loop.call_soon(server.transport.close)
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        session.dsn_rcpt_params = []
        return "250 OK" if self.bare else "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if await self.misbehave(server, "RCPT"):
            return "421 4.4.2 dropped"
        if self.pop_log and not await self.pop_recent_wait():
            reply = "554 5.7.1 Relaying denied"
            self.spool.event(server, "RCPT", arg=address, reply=reply)
            return reply
        local = address.rsplit("@", 1)[0].lower()
        for prefix, reply in self.rejects:
            if local.startswith(prefix):
                self.spool.event(server, "RCPT", arg=address, reply=reply)
                return reply
        self.spool.event(server, "RCPT", arg=address, reply="250")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        if hasattr(session, "dsn_last_rcpt"):
            session.dsn_rcpt_params = getattr(session, "dsn_rcpt_params",
                                              []) + [session.dsn_last_rcpt]
        return "250 OK" if self.bare else "250 2.1.5 Recipient OK"

    async def handle_RSET(self, server, session, envelope):
        self.spool.event(server, "RSET")
        await self.misbehave(server, "RSET")  # --delay-at RSET only
        return "250 2.0.0 OK"

    async def handle_QUIT(self, server, session, envelope):
        self.spool.event(server, "QUIT")
        try:
            await self.misbehave(server, "QUIT")  # --delay-at QUIT only
        except asyncio.CancelledError:
            # the client closed before our 221 (aiosmtpd cancels the
            # handler at EOF)
            self.spool.event(server, "QUIT_CUT")
            raise
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
            "auth_user": (session.auth_data.login.decode("utf-8", "replace")
                          if session.authenticated and session.auth_data
                          else None),
            "auth_mech": getattr(session, "auth_mech", None),
            "mail_params": getattr(session, "dsn_mail_params", None),
            "rcpt_params": getattr(session, "dsn_rcpt_params", None),
        }
        base = self.spool.store(data, meta)
        # messages this connection carried (on the protocol object: the
        # session is made anew at STARTTLS)
        server.carried = getattr(server, "carried", 0) + 1
        if self.store_delay:
            # stored, answered late: a client that dies meanwhile has the
            # message delivered without knowing it (the queue's window)
            await asyncio.sleep(self.store_delay)
        if self.bare:
            return "250 OK"
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
    p.add_argument("--store-delay", type=float, default=0,
                   metavar="SECONDS",
                   help="store the message at the end of DATA, then wait "
                   "this long before the 250")
    p.add_argument("--delay-at", action="append", default=[],
                   metavar="EVENT=SECONDS",
                   help="wait before answering MAIL, RCPT, end of DATA, "
                   "RSET or QUIT (a client that closes before the 221 "
                   "is a QUIT_CUT event)")
    p.add_argument("--line-limit", type=int, default=0,
                   help="longest line taken, CRLF included (aiosmtpd's "
                   "line_length_limit, 1001 unless given), as Postfix "
                   "takes long message lines")
    p.add_argument("--timeout", type=float, default=60,
                   help="idle timeout of a session, seconds")
    p.add_argument("--tls-min", choices=["1.2", "1.3"],
                   help="oldest TLS version the server accepts")
    p.add_argument("--tls-max", choices=["1.2", "1.3"],
                   help="newest TLS version the server accepts")
    p.add_argument("--no-tickets", action="store_true",
                   help="issue no session tickets (TLS 1.2: session IDs)")
    p.add_argument("--client-order", action="store_true",
                   help="pick the cipher suite by the client's order")
    p.add_argument("--weak-cert", action="store_true",
                   help="allow serving an RSA-1024 or SHA-1 certificate "
                   "(OpenSSL security level 0)")
    p.add_argument("--client-ca",
                   help="require a client certificate that chains to "
                        "this CA file")
    p.add_argument("--auth-user", action="append", default=[],
                   metavar="USER=PASSWORD", help="an account (PLAIN, LOGIN, "
                   "CRAM-MD5)")
    p.add_argument("--auth-token", action="append", default=[],
                   metavar="USER=TOKEN", help="an OAuth account (XOAUTH2, "
                   "OAUTHBEARER)")
    p.add_argument("--auth-mechs", default=",".join(ALL_MECHS),
                   help="mechanisms offered, comma-separated")
    p.add_argument("--auth-refuse", action="append", default=[],
                   choices=ALL_MECHS,
                   help="the backend refuses this mechanism with 535")
    p.add_argument("--auth-refuse-mech", action="append", default=[],
                   metavar="MECH=REPLY",
                   help="answer AUTH MECH with REPLY at once (504, 534, "
                   "538 ...)")
    p.add_argument("--auth-require", action="store_true",
                   help="530 5.7.0 to MAIL before AUTH")
    p.add_argument("--auth-hide-before-tls", action="store_true",
                   help="no AUTH before STARTTLS (538 if tried)")
    p.add_argument("--pop-log", help="POP-before-SMTP: Dovecot's log; RCPT "
                   "is refused (554 5.7.1) unless it shows a recent login")
    p.add_argument("--pop-user", default="", help="the login to look for")
    p.add_argument("--pop-window", type=int, default=60,
                   help="seconds a POP3 login allows relaying")
    p.add_argument("--no-8bitmime", action="store_true",
                   help="leave 8BITMIME out of the EHLO reply")
    p.add_argument("--no-pipelining", action="store_true",
                   help="do not announce PIPELINING (one command at a time)")
    p.add_argument("--requiretls", action="store_true",
                   help="advertise REQUIRETLS after TLS, accept it on MAIL")
    p.add_argument("--dsn", action="store_true",
                   help="advertise DSN, accept and record RET, ENVID, "
                        "NOTIFY and ORCPT")
    p.add_argument("--bare-replies", action="store_true",
                   help="'250 OK' without enhanced status codes to MAIL, "
                        "RCPT and the end of DATA")
    p.add_argument("--idle-close", type=float, default=0,
                   metavar="SECONDS", help="close a connection when no "
                   "command arrived for this long (no reply)")
    p.add_argument("--idle-close-reply", metavar="REPLY",
                   help="with --idle-close: send this reply first "
                   "(e.g. '421 4.4.2 Idle timeout')")
    p.add_argument("--mail-reply-reused", metavar="REPLY",
                   help="answer MAIL with this on a connection that "
                   "already carried a message (421: then close)")
    p.add_argument("--reused-only", action="store_true",
                   help="--drop-at and --delay-at only on a connection "
                   "that already carried a message")
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
    args.accounts, args.tokens = {}, {}
    for what, dest in ((args.auth_user, args.accounts),
                       (args.auth_token, args.tokens)):
        for a in what:
            user, sep, secret = a.partition("=")
            if not sep or not user:
                p.error("bad account %r" % a)
            dest[user] = secret
    args.refuse_mech = {}
    for r in args.auth_refuse_mech:
        mech, sep, reply = r.partition("=")
        if not sep or mech.upper() not in ALL_MECHS or \
                not reply[:3].isdigit():
            p.error("bad --auth-refuse-mech %r" % r)
        args.refuse_mech[mech.upper()] = reply
    args.mechs = [m.strip().upper() for m in args.auth_mechs.split(",")
                  if m.strip()]
    for m in args.mechs:
        if m not in ALL_MECHS:
            p.error("unknown mechanism %r" % m)
    for r in filter(None, (args.idle_close_reply, args.mail_reply_reused)):
        if not r[:3].isdigit():
            p.error("bad reply %r" % r)
    if args.idle_close_reply and not args.idle_close:
        p.error("--idle-close-reply needs --idle-close")
    args.delays = {}
    for d in args.delay_at:
        what, sep, secs = d.partition("=")
        try:
            args.delays[what.upper()] = float(secs)
        except ValueError:
            p.error("bad --delay-at %r" % d)
        if not sep or what.upper() not in ("MAIL", "RCPT", "DATA",
                                           "RSET", "QUIT"):
            p.error("bad --delay-at %r" % d)
    return args


TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class AuthSMTP(SMTP):
    """aiosmtpd's SMTP with AUTH events, a longer AUTH line, and implicit
    TLS counted as TLS."""

    def __init__(self, handler, implicit=False, **kw):
        super().__init__(handler, **kw)
        self.implicit = implicit
        self.command_size_limits["AUTH"] = AUTH_LINE_MAX

    async def smtp_AUTH(self, arg):
        mech = arg.split()[0].upper() if arg and arg.split() else ""
        self.event_handler.spool.event(self, "AUTH", mech=mech,
                                       result="start")
        self.session.auth_mech = mech
        reply = self.event_handler.refuse_mech.get(mech)
        if reply and not self.session.authenticated:
            self.event_handler.spool.event(self, "AUTH", mech=mech,
                                           result="mech-refused")
            await self.push(reply)
            return
        await super().smtp_AUTH(arg)


DSN_PARAMS = ("RET", "ENVID", "NOTIFY", "ORCPT")


def _params_text(arg):
    """The parameter text after the path of a MAIL/RCPT argument, exactly
    as sent ("" if none)."""
    _, sep, rest = (arg or "").partition(">")
    return rest.strip() if sep else ""


class DSNMixin:
    """RFC 3461 for aiosmtpd: the DSN parameters are taken out of the set
    aiosmtpd checks (it answers 555 to any it does not know), and the
    command's argument is recorded exactly as it came."""

    def _getparams(self, params):
        result = super()._getparams(params)
        h = self.event_handler
        if result is not None:
            for k in DSN_PARAMS if h.dsn else ():
                result.pop(k, None)
            # RFC 8689: only where it was offered (a TLS session)
            if h.requiretls and tls_info(self)[0] is not None:
                result.pop("REQUIRETLS", None)
        return result

    async def smtp_MAIL(self, arg):
        self.event_handler.spool.event(self, "MAIL_ARGS", arg=arg)
        if self.session is not None:
            self.session.dsn_mail_params = _params_text(arg)
            self.session.dsn_rcpt_params = []
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        self.event_handler.spool.event(self, "RCPT_ARGS", arg=arg)
        if self.session is not None:
            self.session.dsn_last_rcpt = _params_text(arg)
        await super().smtp_RCPT(arg)


class DSNSMTP(DSNMixin, SMTP):
    pass


class DSNAuthSMTP(DSNMixin, AuthSMTP):
    pass


def idle_close_cb(server):
    """--idle-close: aiosmtpd's session timeout (restarted at every
    command), recorded, with an optional last reply."""
    if server.transport is None:
        return
    h = server.event_handler
    h.spool.event(server, "IDLE_CLOSE", reply=h.idle_close_reply)
    if h.idle_close_reply:
        server.transport.write((h.idle_close_reply + "\r\n").encode())
    server.transport.close()


def server_context(cert, key, tls_min=None, tls_max=None, client_ca=None,
                   weak=False, no_tickets=False, client_order=False):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if client_order:
        # as Postfix by default (tls_preempt_cipherlist = no): the
        # client's order of cipher suites decides
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if no_tickets:
        # TLS 1.2 resumption by session ID only (OpenSSL's server cache)
        ctx.options |= ssl.OP_NO_TICKET
    if weak:
        # Debian's OpenSSL refuses to serve an RSA-1024 or SHA-1 signed
        # certificate at its default security level
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
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
    handler.accounts = args.accounts
    handler.tokens = args.tokens
    handler.refuse = set(args.auth_refuse)
    handler.refuse_mech = args.refuse_mech
    handler.pop_log = args.pop_log
    handler.pop_user = args.pop_user
    handler.pop_window = args.pop_window
    handler.dsn = args.dsn
    handler.no_8bitmime = args.no_8bitmime
    handler.no_pipelining = args.no_pipelining
    handler.requiretls = args.requiretls
    params = args.dsn or args.requiretls	# the parameter-taking classes
    handler.bare = args.bare_replies
    handler.store_delay = args.store_delay
    handler.idle_close_reply = args.idle_close_reply
    handler.mail_reply_reused = args.mail_reply_reused
    handler.reused_only = args.reused_only
    auth_on = bool(args.accounts or args.tokens)
    ctx = None
    if args.mode != "plain":
        ctx = server_context(args.cert, args.key, args.tls_min,
                             args.tls_max, args.client_ca, args.weak_cert,
                             args.no_tickets, args.client_order)

    def cls(base):
        attrs = {}
        if args.line_limit:
            # aiosmtpd sizes its reader from the class attribute in
            # __init__
            attrs["line_length_limit"] = args.line_limit
        if args.idle_close:
            attrs["_timeout_cb"] = idle_close_cb
        if not attrs:
            return base
        return type(base.__name__, (base,), attrs)

    def factory():
        # hostname given: aiosmtpd would otherwise call getfqdn(), which
        # can wait on DNS.  SMTPUTF8 on so that the gateway may pass the
        # parameter on; decode_data off so the DATA bytes are kept.
        kw = dict(data_size_limit=DATA_LIMIT, enable_SMTPUTF8=True,
                  decode_data=False, hostname=args.hostname,
                  ident="ESMTP upstream.py",
                  timeout=args.idle_close or args.timeout, loop=loop)
        if args.mode in ("starttls", "starttls-optional"):
            kw["tls_context"] = ctx
            kw["require_starttls"] = args.mode == "starttls"
        if not auth_on:
            # as before AUTH support: only aiosmtpd's own (always failing)
            # LOGIN and PLAIN, not the handler's mechanisms
            kw["auth_exclude_mechanism"] = ["CRAM-MD5", "XOAUTH2",
                                            "OAUTHBEARER"]
            return cls(DSNSMTP if params else SMTP)(handler, **kw)
        kw["authenticator"] = handler.authenticator
        kw["auth_required"] = args.auth_require
        # aiosmtpd counts only STARTTLS as TLS: on an implicit-TLS
        # listener its TLS check would refuse every AUTH (538)
        kw["auth_require_tls"] = (args.auth_hide_before_tls and
                                  args.mode != "implicit")
        kw["auth_exclude_mechanism"] = [m for m in ALL_MECHS
                                        if m not in args.mechs]
        return cls(DSNAuthSMTP if params else AuthSMTP)(handler, **kw)

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
