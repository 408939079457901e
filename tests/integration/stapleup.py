#!/usr/bin/python3
"""stapleup.py - an implicit-TLS SMTP server that staples an OCSP answer.

Python's ssl module cannot staple, so the TLS side is OpenSSL's own
`openssl s_server -status_file FILE`, which sends FILE as the OCSP staple
of every handshake.  s_server copies the decrypted bytes it receives to its
stdout and sends what it reads on its stdin; this script speaks a small SMTP
server dialogue over those two pipes.  One s_server serves one connection
(-naccept 1) and is started again for the next, so that every session begins
with a clean dialogue.

Usage: stapleup.py PORT SPOOL CERT KEY CHAIN STATUS_FILE|-
("-": no staple).  Prints "READY PORT" once listening.  Messages are stored
with upstream.py's Spool (NNN.eml, then NNN.json), so gwtest's Message
class reads them; events.jsonl gets one line per connection.

The s_server waiting for the next connection must not outlive this
script: it dies with it (PR_SET_PDEATHSIG), and SIGTERM stops it first.
Before, a stopped stapleup.py left it waiting, reparented to init.
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
from gwtest import tcp_listening  # noqa: E402
from upstream import Spool  # noqa: E402


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_PARENT = os.getpid()


def _die_with_parent():
    # In the s_server child between fork and exec: the signals the parent
    # blocked around the fork are unblocked again, and a parent that died
    # before the prctl took effect leaves nobody to wait for.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:
        pass
    if os.getppid() != _PARENT:
        os._exit(1)


class Stop(Exception):
    """SIGTERM or SIGINT: stop the s_server, then exit."""


def _on_signal(signum, frame):
    raise Stop()


class Session:
    def __init__(self, spool):
        self.spool = spool

    def run(self, rd, wr):
        def send(line):
            wr.write(line.encode() + b"\r\n")
            wr.flush()

        send("220 staple.test ESMTP stapleup")
        mail_from, rcpts = None, []
        while True:
            line = rd.readline()
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode("latin-1")
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                send("250-staple.test")
                send("250-PIPELINING")
                send("250 8BITMIME")
            elif verb == "MAIL":
                mail_from, rcpts = cmd.split(":", 1)[1].strip(), []
                send("250 2.1.0 OK")
            elif verb == "RCPT":
                rcpts.append(cmd.split(":", 1)[1].strip())
                send("250 2.1.5 OK")
            elif verb == "DATA":
                send("354 go ahead")
                data = b""
                while True:
                    ln = rd.readline()
                    if not ln:
                        return
                    if ln == b".\r\n":
                        break
                    if ln.startswith(b"."):
                        ln = ln[1:]
                    data += ln
                self.store(mail_from, rcpts, data)
                send("250 2.0.0 stored")
            elif verb == "RSET":
                send("250 2.0.0 OK")
            elif verb == "NOOP":
                send("250 2.0.0 OK")
            elif verb == "QUIT":
                send("221 2.0.0 bye")
                return
            else:
                send("502 5.5.1 not here")

    def store(self, mail_from, rcpts, data):
        meta = {"mail_from": mail_from.strip("<>").split(">")[0],
                "rcpt_tos": [r.strip("<>").split(">")[0] for r in rcpts],
                "tls_version": "stapled"}
        self.spool.store(data, meta)


def main():
    port, spool, cert, key, chain, status = sys.argv[1:7]
    port = int(port)
    spool = Spool(spool)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)
    try:
        serve(port, spool, cert, key, chain, status)
    except Stop:
        pass


def stop_server(p):
    """End one s_server, bounded."""
    try:
        p.stdin.close()
    except OSError:
        pass
    if p.poll() is None:
        p.kill()
    p.wait()


def serve(port, spool, cert, key, chain, status):
    announced = False
    while True:
        argv = ["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
                "-naccept", "1", "-quiet", "-cert", cert, "-key", key,
                "-cert_chain", chain]
        if status != "-":
            argv += ["-status_file", status]
        # SIGTERM during Popen would leave a started s_server that p
        # never names (and so never stops): hold the signals until p is
        # set; one that came meanwhile is raised at the unblock, inside
        # the try whose finally stops p.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        p = None
        try:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL,
                                 preexec_fn=_die_with_parent)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            serve_one(p, port, spool, announced)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            if p is not None:
                stop_server(p)
        announced = True


def serve_one(p, port, spool, announced):
    """Wait for p to listen, run one session, let p end."""
    deadline = time.monotonic() + 10
    while not tcp_listening(port):
        if p.poll() is not None or time.monotonic() > deadline:
            sys.stderr.write("stapleup: s_server did not start\n")
            sys.exit(1)
        time.sleep(0.02)
    if not announced:
        sys.stdout.write("READY %d\n" % port)
        sys.stdout.flush()
    try:
        Session(spool).run(p.stdout, p.stdin)
    except (BrokenPipeError, ConnectionError):
        pass
    spool.events.write(json.dumps({"event": "connection"}) + "\n")
    try:
        p.stdin.close()
    except OSError:
        pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass			# stop_server() kills it


if __name__ == "__main__":
    main()
