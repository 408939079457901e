#!/usr/bin/python3
"""The OCSP test responder itself (gwtest.OcspResponder), checked with the
openssl ocsp client: the PKI's OCSP leaves carry the AIA URL, the responder
answers good, revoked and unknown with a signature that verifies against the
trust anchor, it is reachable only through its loopback port, it counts
requests, and a silent one hangs a client until the client's timeout.
The gateway's OCSP tests build on this, so it must hold first."""

import os
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (OcspResponder, check, ocsp_aia_port,  # noqa: E402
                    pki)


def ask(url, cert, issuer="int-ca", timeout=5):
    """Run the openssl ocsp client for cert; return (exit status, output)."""
    p = pki()
    r = subprocess.run(["openssl", "ocsp", "-issuer", p[issuer],
                        "-cert", p[cert], "-url", url,
                        "-CAfile", p["ca-bundle"], "-no_nonce",
                        "-timeout", str(timeout)],
                       capture_output=True, text=True, timeout=timeout + 10)
    return r.returncode, r.stdout + r.stderr


def test_aia_names_the_run_port():
    r = subprocess.run(["openssl", "x509", "-in", pki()["ocsp-good"],
                        "-noout", "-ocsp_uri"], capture_output=True,
                       text=True, check=True)
    check(r.stdout.strip() == "http://127.0.0.1:%d/" % ocsp_aia_port(),
          "AIA OCSP URL %r", r.stdout)


def test_good_revoked_unknown():
    rs = OcspResponder(port=ocsp_aia_port())
    for cert, want in (("ocsp-good", "good"), ("good", "unknown"),
                       ("ocsp-revoked", "revoked"), ("revoked", "revoked"),
                       ("client", "unknown")):
        rc, out = ask(rs.url, cert)
        check(rc == 0 and "Response verify OK" in out and
              ("%s.pem: %s" % (pki()[cert][:-4], want)) in out,
              "%s: want %s, got rc %d: %s", cert, want, rc, out)
    check(len(rs.requests()) == 5, "requests %r", rs.requests())
    check(all(r.startswith("POST /") for r in rs.requests()),
          "requests %r", rs.requests())
    rs.stop()


def test_root_responder():
    rs = OcspResponder(ca="root-ca")
    rc, out = ask(rs.url, "int-ca", issuer="root-ca")
    check(rc == 0 and ": good" in out, "int-ca: %s", out)
    rc, out = ask(rs.url, "revint-ca", issuer="root-ca")
    check(rc == 0 and ": revoked" in out, "revint-ca: %s", out)
    rs.stop()


def test_only_loopback_port():
    # openssl listens on 8888 inside its namespace; outside it nothing of
    # it is reachable (unless something unrelated happens to use 8888).
    rs = OcspResponder()
    s = socket.socket()
    s.settimeout(2)
    try:
        reachable = s.connect_ex(("127.0.0.1", rs.inner)) == 0
    finally:
        s.close()
    if reachable:
        out = subprocess.run(["ss", "-ltnp"], capture_output=True,
                             text=True).stdout
        check("openssl" not in out, "openssl ocsp is reachable: %s", out)
    rs.stop()


def test_down_and_silent():
    rs = OcspResponder()
    rs.stop_responder()
    t0 = time.monotonic()
    rc, out = ask(rs.url, "ocsp-good")
    check(rc != 0 and time.monotonic() - t0 < 5,
          "down responder: rc %d after %.1fs: %s", rc,
          time.monotonic() - t0, out)
    rs.stop()
    rs = OcspResponder(mode="silent")
    t0 = time.monotonic()
    rc, out = ask(rs.url, "ocsp-good", timeout=2)
    dt = time.monotonic() - t0
    check(rc != 0 and 1.5 <= dt < 8, "silent responder: rc %d after %.1fs: %s",
          rc, dt, out)
    check(len(rs.requests()) == 1, "requests %r", rs.requests())
    rs.stop()


gwtest.main(globals())
