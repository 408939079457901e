#!/usr/bin/python3
"""TLS on the listener: STARTTLS (RFC 3207) and implicit TLS, with swaks and
Python's smtplib as clients; client certificates (good, untrusted, revoked,
pinned, not pinned, none); plaintext injected behind STARTTLS; a client
that never finishes the handshake; tls_required; AUTH offered only after
TLS beyond loopback; certificate reload on SIGHUP; TLS in and plaintext out
(the reverse gateway)."""

import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Client, Gateway, TestFailure, Upstream, check,  # noqa: E402
                    check_reply, free_port, log_fields, pki, sample_message,
                    transaction, wait_for)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"


def tls_listener(mode="starttls", **extra):
    p = pki()
    d = {"tls": mode, "tls_cert": p["good-chain"], "tls_key": p["good.key"]}
    d.update(extra)
    return d


def client_ctx(cert=None):
    """A client context that trusts the test root; cert: a PKI client."""
    ctx = ssl.create_default_context(cafile=pki()["ca-bundle"])
    if cert is not None:
        ctx.load_cert_chain(pki()[cert + "-chain"], pki()[cert + ".key"])
    return ctx


def wrap(c, ctx):
    """Layer TLS over a gwtest Client (after a 220 to STARTTLS, or at
    once for implicit TLS)."""
    check(c.buf == b"", "plaintext left before the handshake: %r", c.buf)
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
    return c


def starttls(c, ctx=None):
    r = c.cmd("STARTTLS")
    check_reply(r, 220, "2.0.0", what="STARTTLS")
    return wrap(c, ctx or client_ctx())


def implicit_client(gw, cert=None):
    c = Client(gw.port)
    return wrap(c, client_ctx(cert))


def spki_pin(name):
    der = subprocess.run(
        "openssl x509 -in %s -pubkey -noout | openssl pkey -pubin "
        "-outform DER | openssl dgst -sha256 -binary | base64" %
        pki()[name], shell=True, capture_output=True, check=True)
    return der.stdout.decode().strip()


def fingerprint(name):
    r = subprocess.run(["openssl", "x509", "-in", pki()[name], "-noout",
                        "-fingerprint", "-sha256"], capture_output=True,
                       text=True, check=True)
    return r.stdout.strip().split("=", 1)[1]


def tls_lines(gw):
    return [log_fields(ln) for ln in gw.log().splitlines()
            if " tls client=" in ln and "listener_tls" in ln]


def relay_lines(gw):
    return [log_fields(ln) for ln in gw.log().splitlines()
            if " relay client=" in ln]


def send_one(c, subject):
    replies = transaction(c, SENDER, [RCPT], sample_message(subject))
    check_reply(replies[-1], 250, what="end of DATA")


def test_starttls_smtplib():
    up = Upstream("starttls")
    gw = Gateway(up, listener=tls_listener())
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=10) as s:
        code, _ = s.ehlo("client.test")
        check(code == 250 and s.has_extn("starttls"),
              "STARTTLS not offered: %r", s.esmtp_features)
        s.starttls(context=client_ctx())
        s.ehlo("client.test")
        check(not s.has_extn("starttls"), "STARTTLS offered again after "
              "TLS: %r", s.esmtp_features)
        s.sendmail(SENDER, [RCPT], sample_message("starttls in"))
    check(len(up.wait_messages(1)) == 1, "not delivered")
    check(wait_for(lambda: relay_lines(gw)), "no relay line")
    t = tls_lines(gw)[0]
    check(t.get("version") in ("TLSv1.3", "TLSv1.2") and
          t.get("client_cert") == "no" and t.get("verify") ==
          "not-requested", "tls line: %r", t)
    rl = relay_lines(gw)[0]
    check(rl.get("client_tls") == t["version"] and "client_cert" not in rl,
          "relay line: %r", rl)


def test_implicit_smtplib_and_swaks():
    up = Upstream("starttls")
    gw = Gateway(up, listener=tls_listener("implicit"))
    with smtplib.SMTP_SSL("127.0.0.1", gw.port, timeout=10,
                          context=client_ctx()) as s:
        s.ehlo("client.test")
        check(not s.has_extn("starttls"), "STARTTLS offered on implicit "
              "TLS: %r", s.esmtp_features)
        s.sendmail(SENDER, [RCPT], sample_message("implicit in"))
        got = s.sock.cipher()[0]
    # The listener picks by its own order, ChaCha20-Poly1305 first when
    # the TLS library has no AES instructions (OpenSSL's client puts
    # AES-256-GCM first).
    start = gw.wait_log(r"tls: default cipher order (\S+) first")
    check(start, "no start line for the cipher order")
    want = ("TLS_CHACHA20_POLY1305_SHA256"
            if start.group(1) == "ChaCha20-Poly1305" else
            "TLS_AES_128_GCM_SHA256")
    check(got == want, "cipher %r, want %r", got, want)
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port",
                        str(gw.port), "--tls-on-connect", "--tls-verify",
                        "--tls-ca-path", pki()["ca-bundle"],
                        "--from", SENDER, "--to", RCPT, "--helo",
                        "client.test", "--timeout", "10"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "swaks over implicit TLS failed (%d): %s",
          r.returncode, r.stdout[-2000:] + r.stderr[-1000:])
    check(len(up.wait_messages(2)) == 2, "not both delivered")


def test_starttls_swaks_with_client_cert():
    up = Upstream("starttls")
    p = pki()
    # swaks sends its leaf alone: the intermediate is in client_ca_file
    gw = Gateway(up, listener=tls_listener(
        verify_client="required", client_ca_file=p["ca-chain-bundle"]))
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port",
                        str(gw.port), "--tls", "--tls-cert",
                        p["client-chain"], "--tls-key", p["client.key"],
                        "--from", SENDER, "--to", RCPT, "--helo",
                        "client.test", "--timeout", "10"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "swaks with a client certificate failed (%d):"
          " %s", r.returncode, r.stdout[-2000:] + r.stderr[-1000:])
    check(len(up.wait_messages(1)) == 1, "not delivered")
    check(wait_for(lambda: relay_lines(gw)), "no relay line")
    t = tls_lines(gw)[0]
    fp = fingerprint("client")
    check(t.get("client_cert") == "yes" and t.get("verify") == "verified"
          and "smtpgate client" in t.get("subject", ""), "tls line: %r", t)
    check(re.search(r"listener_tls .* sha256=%s " % fp, gw.log()),
          "tls line without sha256=%s", fp)
    rl = relay_lines(gw)[0]
    check("smtpgate client" in rl.get("client_cert", ""), "relay line: %r",
          rl)
    check(re.search(r"relay client=.* client_cert_sha256=%s " % fp,
                    gw.log()), "relay line without client_cert_sha256")


def handshake_refused(gw, cert, cls):
    """A client certificate the listener refuses: no session, and a log
    line with the failure class."""
    with Client(gw.port) as c:
        try:
            wrap(c, client_ctx(cert))
            # TLS 1.3: the client's handshake ends before the server has
            # checked its certificate; the refusal comes on first read.
            c.greeting()
            raise TestFailure("greeting after a refused certificate %s"
                              % cert)
        except (ssl.SSLError, OSError, TestFailure) as e:
            if "greeting after" in str(e):
                raise
    check(gw.wait_log(r"handshake failed class=%s" % cls),
          "no handshake failure of class %s logged for %s:\n%s", cls,
          cert, gw.log()[-1500:])


def test_client_cert_required_refusals():
    up = Upstream("starttls")
    p = pki()
    gw = Gateway(up, listener=tls_listener(
        "implicit", verify_client="required",
        client_ca_file=p["ca-chain-bundle"], crl_file=p["int-ca.crl"]))
    handshake_refused(gw, None, "client-cert-rejected")
    handshake_refused(gw, "client-untrusted", "cert-untrusted")
    handshake_refused(gw, "client-revoked", "cert-revoked")
    with implicit_client(gw, "client") as c:
        c.start()
        send_one(c, "good client cert")
    check(len(up.wait_messages(1)) == 1, "good client not delivered")
    t = tls_lines(gw)[-1]
    # the root's CRL (for the intermediate) is not given: crl_missing
    check(t.get("revocation") in ("crl:good", "crl:missing"),
          "revocation: %r", t)


def test_client_cert_revoked_root_only_store():
    # Only the root is trusted: the intermediate comes in the client's own
    # chain, so its CRL is checked once the chain is built (the deferred
    # path), not while the store is loaded.
    up = Upstream("starttls")
    p = pki()
    gw = Gateway(up, listener=tls_listener(
        "implicit", verify_client="required", client_ca_file=p["ca-bundle"],
        crl_file=p["int-ca.crl"]))
    handshake_refused(gw, "client-revoked", "cert-revoked")
    with implicit_client(gw, "client") as c:
        c.start()
        send_one(c, "good client, root-only store")
    check(len(up.wait_messages(1)) == 1, "good client not delivered")


def leaf_as_ca_pki():
    """A non-CA leaf issued straight by the root (no keyUsage, as many
    private CAs issue them), and a certificate forged with that leaf's
    key: chain forged + leaf."""
    p = pki()
    d = gwtest.newdir("leafasca")
    cnf = os.path.join(d, "ext.cnf")
    with open(cnf, "w") as f:
        f.write("[req]\ndistinguished_name = dn\n[dn]\n"
                "[leaf]\nbasicConstraints = critical, CA:FALSE\n"
                "extendedKeyUsage = clientAuth\n")

    def run(*argv):
        subprocess.run(["openssl"] + list(argv), check=True,
                       capture_output=True, timeout=30)
    for name, ca, cakey in (("direct", p["root-ca"], p["root-ca.key"]),
                            ("forged", None, None)):
        key = os.path.join(d, name + ".key")
        run("genpkey", "-algorithm", "EC", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-out", key)
        csr = os.path.join(d, name + ".csr")
        run("req", "-new", "-key", key, "-subj",
            "/O=smtpgate test/CN=%s client" % name, "-config", cnf,
            "-out", csr)
        if ca is None:
            ca = os.path.join(d, "direct.pem")
            cakey = os.path.join(d, "direct.key")
        run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey,
            "-set_serial", "0x%x" % (1000 + len(name)), "-days", "30",
            "-sha256", "-extfile", cnf, "-extensions", "leaf",
            "-out", os.path.join(d, name + ".pem"))
    chain = os.path.join(d, "forged-chain.pem")
    with open(chain, "w") as f:
        for n in ("forged", "direct"):
            with open(os.path.join(d, n + ".pem")) as g:
                f.write(g.read())
    return chain, os.path.join(d, "forged.key")


def test_client_cert_leaf_is_no_ca():
    # The root issued a client certificate directly and there is no CRL
    # from the root (crl_missing = ignore): that leaf's missing CRL is let
    # through, but it must never become an issuer.  Learnt into the store
    # as a CA, a certificate forged with its key would pass as verified.
    up = Upstream("starttls")
    p = pki()
    gw = Gateway(up, listener=tls_listener(
        "implicit", verify_client="required", client_ca_file=p["ca-bundle"],
        crl_file=p["int-ca.crl"]))
    chain, key = leaf_as_ca_pki()
    ctx = ssl.create_default_context(cafile=p["ca-bundle"])
    ctx.load_cert_chain(chain, key)
    with Client(gw.port) as c:
        try:
            wrap(c, ctx)
            r = c.greeting()
            raise TestFailure("a certificate forged with a leaf's key "
                              "was taken: %r" % (r,))
        except (ssl.SSLError, OSError) as e:
            pass
    check(gw.wait_log(r"handshake failed class="),
          "no handshake failure logged:\n%s", gw.log()[-1500:])
    check(not re.search(r"forged client.*verify=verified", gw.log()),
          "forged certificate verified:\n%s", gw.log()[-1500:])


def test_client_cert_pins():
    up = Upstream("starttls")
    p = pki()
    gw = Gateway(up, listener=tls_listener(
        "implicit", verify_client="required", client_ca_file=p["ca-bundle"],
        client_cert_pins=spki_pin("client")))
    with implicit_client(gw, "client") as c:
        c.start()
        send_one(c, "pinned device")
    handshake_refused(gw, "client2", "pin-mismatch")
    check(len(up.wait_messages(1)) == 1, "pinned client not delivered")


def test_client_cert_pins_without_ca():
    """Pins alone: a known device whatever signed its certificate."""
    up = Upstream("starttls")
    gw = Gateway(up, listener=tls_listener(
        "implicit", verify_client="required",
        client_cert_pins=spki_pin("client-untrusted")))
    with implicit_client(gw, "client-untrusted") as c:
        c.start()
    handshake_refused(gw, "client", "pin-mismatch")


def test_client_cert_optional():
    up = Upstream("starttls")
    gw = Gateway(up, listener=tls_listener(
        "implicit", verify_client="optional",
        client_ca_file=pki()["ca-bundle"]))
    with implicit_client(gw) as c:
        c.start()
        send_one(c, "no cert under optional")
    t = tls_lines(gw)[0]
    check(t.get("client_cert") == "no" and t.get("verify") ==
          "no-certificate", "tls line: %r", t)
    handshake_refused(gw, "client-untrusted", "cert-untrusted")


def reused_on_second(gw, cert):
    """Connect twice with the same client context, offering the first
    session again: was it resumed?"""
    ctx = client_ctx(cert)
    sess = None
    for i in range(2):
        with Client(gw.port) as c:
            c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost",
                                     session=sess)
            c.greeting()
            c.cmd("QUIT")	# TLS 1.3 tickets come after the handshake
            reused, sess = c.sock.session_reused, c.sock.session
    return reused


def test_resumption_only_without_client_certs():
    """A listener without client certificates resumes sessions; one with
    them always runs the full handshake (verification, CRLs, the
    certificate in the logs)."""
    up = Upstream("starttls")
    gw = Gateway(up, listener=tls_listener("implicit"))
    check(reused_on_second(gw, None), "no resumption without "
          "verify_client")
    gw2 = Gateway(up, listener=tls_listener(
        "implicit", verify_client="required",
        client_ca_file=pki()["ca-bundle"]))
    check(not reused_on_second(gw2, "client"), "a session was resumed "
          "under verify_client")
    check(len([t for t in tls_lines(gw2) if t.get("client_cert") == "yes"])
          == 2, "not two full handshakes with the certificate: %r",
          tls_lines(gw2))


def test_starttls_injection():
    """Commands pipelined behind STARTTLS are never run: 554 and close,
    no handshake, nothing reaches the upstream."""
    up = Upstream("starttls")
    gw = Gateway(up, listener=tls_listener())
    with Client(gw.port) as c:
        c.start()
        c.send(b"STARTTLS\r\nMAIL FROM:<evil@example.test>\r\n")
        r = c.reply()
        check_reply(r, 554, "5.5.1", what="STARTTLS with data behind it")
        check(c.closed(5), "not closed after the injection")
        check(b"250" not in c.buf, "a pipelined command was answered: %r",
              c.buf)
    check(gw.wait_log(r"behind STARTTLS before the handshake"),
          "injection not logged")
    check(not up.events(), "upstream contacted: %r", up.events())


def test_starttls_forgets_state():
    up = Upstream("starttls")
    gw = Gateway(up, listener=tls_listener())
    with Client(gw.port) as c:
        c.start()
        starttls(c)
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        check_reply(r, 503, "5.5.1", what="MAIL without EHLO after TLS")
        c.ehlo()
        r = c.cmd("STARTTLS")
        check_reply(r, 503, "5.5.1", what="second STARTTLS")
        send_one(c, "after the forgotten EHLO")
    # STARTTLS where the listener has no TLS
    gw2 = Gateway(up)
    with Client(gw2.port) as c:
        r = c.start()
        check("STARTTLS" not in r.keywords, "STARTTLS offered without "
              "tls: %r", r.keywords)
        check_reply(c.cmd("STARTTLS"), 502, "5.5.1", what="STARTTLS, no tls")


def test_tls_required():
    up = Upstream("starttls")
    gw = Gateway(up, listener=tls_listener(tls_required="yes"))
    with Client(gw.port) as c:
        c.start()
        check_reply(c.cmd("MAIL FROM:<%s>" % SENDER), 530, "5.7.0",
                    what="MAIL before STARTTLS")
        starttls(c)
        c.ehlo()
        send_one(c, "after tls_required")
    check(len(up.wait_messages(1)) == 1, "not delivered")


def test_handshake_timeout():
    """A client that never finishes the handshake costs little: closed at
    tls_handshake_timeout, with or without a trickle of bytes."""
    up = Upstream("starttls")
    gw = Gateway(up, listener=tls_listener("implicit",
                                           tls_handshake_timeout="2s"))
    t0 = time.monotonic()
    with Client(gw.port) as silent, Client(gw.port) as trickle:
        # a TLS record header that promises more than ever comes
        for b in (b"\x16", b"\x03", b"\x01", b"\x02"):
            trickle.send(b)
            time.sleep(0.5)
        check(silent.closed(6), "silent client not closed")
        check(trickle.closed(6), "trickling client not closed")
        check(silent.buf == b"", "greeting sent before TLS: %r", silent.buf)
    took = time.monotonic() - t0
    check(took < 8 * gwtest.TIME_SCALE, "closed only after %.1fs", took)
    check(gw.wait_log(r"timeout kind=tls-handshake"), "timeout not logged")


def test_auth_only_after_tls_beyond_loopback():
    up = Upstream("starttls", auth={"users": {"user": "pass"}})
    gw = Gateway(up, listener=tls_listener(allow="0.0.0.0/0, ::/0"),
                 upstream_conf={"auth": "passthrough"})
    with Client(gw.port) as c:
        r = c.start()
        check("AUTH" not in r.keywords, "AUTH offered before TLS: %r",
              r.keywords)
        check_reply(c.cmd("AUTH PLAIN AHVzZXIAcGFzcw=="), 530, "5.7.0",
                    what="AUTH before TLS")
        starttls(c)
        r = c.ehlo()
        check("AUTH" in r.keywords, "AUTH not offered after TLS: %r",
              r.keywords)


def run_check(gw):
    gw.port = gw.port if getattr(gw, "port", None) else free_port()
    gw._write(gw.port)
    r = subprocess.run([gwtest.BIN, "-t", "-c", gw.path],
                       capture_output=True, timeout=30)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def test_config_refusals():
    up = Upstream("starttls")
    p = pki()
    cases = [
        ({"tls": "starttls"}, r"tls_cert: required with tls = starttls"),
        ({"tls_cert": p["good-chain"]}, r"tls_cert: set, but tls = none"),
        (tls_listener(verify_client="required"),
         r"verify_client: needs client_ca_file or client_cert_pins"),
        (tls_listener(verify_client="required", client_ca_file="system"),
         r"client_ca_file: \"system\": must be an absolute path"),
        (tls_listener(tls_cert="/nonexistent/cert.pem"),
         r"/nonexistent/cert.pem"),
        (tls_listener(tls_key=p["client.key"]),
         r"tls_key .* does not belong to tls_cert"),
        (tls_listener(tls_key=p["rsa.key"]),
         r"tls_key .* does not belong to tls_cert"),
    ]
    for lst, want in cases:
        gw = Gateway(up, listener=lst, start=False)
        rc, out = run_check(gw)
        check(rc != 0 and re.search(want, out) and
              re.search(r"smtpgate.ini:\d+:", out),
              "-t with %r: exit %d, want %r with FILE:LINE:\n%s", lst, rc,
              want, out)
    # the right key of every type the PKI has passes
    for name in ("good", "rsa", "ed25519"):
        gw = Gateway(up, listener=tls_listener(
            tls_cert=p[name + "-chain"], tls_key=p[name + ".key"]),
            start=False)
        rc, out = run_check(gw)
        check(rc == 0, "-t with %s's own key: exit %d: %s", name, rc, out)
    # passthrough from the network without TLS: refused, unless allowed
    gw = Gateway(up, listener={"allow": "0.0.0.0/0"},
                 upstream_conf={"auth": "passthrough"}, start=False)
    rc, out = run_check(gw)
    check(rc != 0 and "AUTH is offered only after TLS" in out,
          "-t passthrough beyond loopback without TLS: %d %s", rc, out)
    gw = Gateway(up, listener={"allow": "0.0.0.0/0",
                               "auth_allow_cleartext": "yes"},
                 upstream_conf={"auth": "passthrough"}, start=False)
    rc, out = run_check(gw)
    check(rc == 0 and "auth_allow_cleartext" in out,
          "-t with auth_allow_cleartext: %d %s", rc, out)


def served_fingerprint(gw):
    with Client(gw.port) as c:
        s = wrap(c, client_ctx()).sock
        der = s.getpeercert(binary_form=True)
    import hashlib
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def test_reload_certificate():
    up = Upstream("starttls")
    p = pki()
    d = gwtest.newdir("tlsreload")
    cert = os.path.join(d, "cert.pem")
    key = os.path.join(d, "key.pem")

    def install(name):
        for src, dst in ((p[name + "-chain"], cert), (p[name + ".key"], key)):
            with open(src, "rb") as f:
                data = f.read()
            with open(dst + ".tmp", "wb") as f:
                f.write(data)
            os.chmod(dst + ".tmp", 0o600)
            os.rename(dst + ".tmp", dst)

    install("good")
    gw = Gateway(up, listener=tls_listener("implicit", tls_cert=cert,
                                           tls_key=key))
    check(served_fingerprint(gw) == fingerprint("good"), "not good's cert")
    install("rsa")
    n = gw.log().count("reload")
    gw.signal(signal.SIGHUP)
    check(wait_for(lambda: served_fingerprint(gw) == fingerprint("rsa"),
                   timeout=10), "new certificate not served after SIGHUP")
    # a broken certificate file: the old one stays, and the log says why
    with open(cert, "w") as f:
        f.write("not a certificate\n")
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"tls_cert %s: no PEM certificate" % re.escape(cert),
                      timeout=10), "bad certificate not reported:\n%s",
          gw.log()[-1500:])
    check(served_fingerprint(gw) == fingerprint("rsa"),
          "the old certificate was not kept")
    check(gw.alive(), "gateway died on a bad certificate")
    check(gw.log().count("reload") > n, "no reload logged")


def test_reverse_gateway():
    """TLS in, plaintext out: devices that speak TLS, a server without
    it (tls = none upstream)."""
    up = Upstream("plain")
    gw = Gateway(up, listener=tls_listener("implicit"),
                 upstream_conf={"tls": "none", "ca_file": None,
                                "verify_hostname": None, "tls_name": None})
    with implicit_client(gw) as c:
        c.start()
        send_one(c, "reverse")
    m = up.wait_messages(1)
    check(len(m) == 1, "not delivered")
    rl = relay_lines(gw)[0]
    check(rl.get("tls") == "none" and rl.get("client_tls") in
          ("TLSv1.3", "TLSv1.2"), "relay line: %r", rl)


if __name__ == "__main__":
    gwtest.main(globals())
