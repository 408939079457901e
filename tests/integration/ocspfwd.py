#!/usr/bin/python3
"""ocspfwd - a loopback TCP front for an OCSP responder under test.

usage: ocspfwd.py PORT LOG (--netns PID TARGET_PORT | --silent | --drip)

Listens on 127.0.0.1:PORT in the caller's network namespace.  With --netns
it then joins the network namespace of process PID (the listening socket
stays where it was made; sockets made afterwards belong to the new one) and
relays each connection to 127.0.0.1:TARGET_PORT there: "openssl ocsp" binds
every interface, so it runs in a namespace that has only lo, and this is
its only way in.  With --silent it accepts connections, reads what they send
and never answers, the responder that hangs a blocking client.  With --drip
it answers each request with an HTTP 200 header and body one byte every 0.5
seconds, never finishing: a responder that defeats an idle timeout.

LOG gets one line per HTTP request seen ("POST /path" or "GET /path"), so
that a test can count the requests a client made; it is flushed at once.
Prints "ready" on stdout when it listens.  Single-threaded: select() only.
"""

import ctypes
import os
import select
import socket
import sys

DRIP = (b"HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n"
        b"Content-Length: 60000\r\n\r\n" + b"0" * 60000)

CLONE_NEWNET = 0x40000000


def setns_net(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns: " + os.strerror(e))
    finally:
        os.close(fd)


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: ocspfwd.py PORT LOG (--netns PID TPORT | --silent"
                 " | --drip)")
    port, logpath, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    target = None
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    if mode == "--netns":
        setns_net(int(sys.argv[4]))
        target = int(sys.argv[5])
    elif mode not in ("--silent", "--drip"):
        sys.exit("ocspfwd: unknown mode %r" % mode)
    drip = {}		# client socket -> offset into DRIP, once asked
    log = open(logpath, "a", buffering=1)
    peer = {}		# socket -> the socket its bytes go to (None: silent)
    head = {}		# client socket -> bytes not yet scanned for requests
    print("ready", flush=True)

    def close(s):
        o = peer.pop(s, None)
        head.pop(s, None)
        s.close()
        if o is not None and o in peer:
            peer.pop(o, None)
            head.pop(o, None)
            o.close()

    while True:
        r, _, _ = select.select([ls] + list(peer), [], [],
                                0.5 if drip else None)
        if not r:
            for s in list(drip):
                try:
                    s.send(DRIP[drip[s]:drip[s] + 1])
                    drip[s] = min(drip[s] + 1, len(DRIP) - 1)
                except OSError:
                    drip.pop(s, None)
                    close(s)
            continue
        for s in r:
            if s is ls:
                c, _ = ls.accept()
                if target is None:
                    peer[c] = None
                    head[c] = b""
                    continue
                u = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    u.connect(("127.0.0.1", target))
                except OSError:
                    u.close()
                    c.close()	# responder down: the client sees a reset
                    continue
                peer[c], peer[u] = u, c
                head[c] = b""
                continue
            if s not in peer:
                continue	# closed earlier in this round
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                drip.pop(s, None)
                close(s)
                continue
            if s in head:
                # Count request lines; the body may contain anything, so
                # only a method at the start of a line counts, and a
                # partial line is kept for the next read.
                buf = head[s] + data
                lines = buf.split(b"\r\n")
                head[s] = lines.pop()[-4096:]
                for ln in lines:
                    if ln.startswith((b"POST /", b"GET /")):
                        if mode == "--drip":
                            drip.setdefault(s, 0)
                        log.write(ln.split(b" ")[0].decode() + " " +
                                  ln.split(b" ")[1].decode("latin-1") +
                                  "\n")
            o = peer[s]
            if o is not None:
                try:
                    o.sendall(data)
                except OSError:
                    close(s)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
