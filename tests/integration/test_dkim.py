#!/usr/bin/python3
"""DKIM signing: messages relayed through smtpgate to a real upstream, and
the stored (byte-exact) files verified by two independent verifiers from
Debian's packages: python3-dkim (dkimpy) and libmail-dkim-perl (Mail::DKIM,
through tests/dkim/maildkim_verify.pl), with the public keys given instead of DNS.
Mail::DKIM 1.20230212 does not verify Ed25519, so Ed25519 signatures are
checked with dkimpy only.  Keys are made at test time with openssl and
"smtpgate dkim-keygen"; none is stored in the tree."""

import base64
import os
import re
import signal
import stat
import subprocess
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    config_text, ini, newdir, transaction, timeout)

import dkim  # noqa: E402  (python3-dkim)

HERE = os.path.dirname(os.path.abspath(__file__))
DKIMVERIFY = os.path.join(os.path.dirname(HERE), "dkim",
                          "maildkim_verify.pl")
RCPT = "rcpt@example.test"
CANONS = ("simple/simple", "simple/relaxed", "relaxed/simple",
          "relaxed/relaxed")

_keys = {}


# ------------------------------------------------------------- keys

def openssl(*args, data=None):
    p = subprocess.run(["openssl"] + list(args), input=data,
                       capture_output=True, timeout=60)
    check(p.returncode == 0, "openssl %s: %s", " ".join(args),
          p.stderr.decode(errors="replace"))
    return p.stdout


def key(name, alg="rsa", bits=2048):
    """A private key file made by openssl (mode 0600) and its DNS record,
    computed here independently of smtpgate: (path, record)."""
    if name in _keys:
        return _keys[name]
    d = newdir("key-" + name)
    path = os.path.join(d, name + ".pem")
    if alg == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                "rsa_keygen_bits:%d" % bits, "-out", path)
    else:
        openssl("genpkey", "-algorithm", "ed25519", "-out", path)
    os.chmod(path, 0o600)
    spki = openssl("pkey", "-in", path, "-pubout", "-outform", "DER")
    if alg == "rsa":
        rec = "v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode()
    else:
        # the raw 32-byte key is the end of its SubjectPublicKeyInfo
        rec = ("v=DKIM1; k=ed25519; p=" +
               base64.b64encode(spki[-32:]).decode())
    _keys[name] = (path, rec)
    return _keys[name]


def section(name, domain, selector, keyname, **kw):
    """One ("dkim NAME", {...}) for ini()."""
    keys = {"domain": domain, "selector": selector,
            "key_file": _keys[keyname][0]}
    keys.update(kw)
    return ("dkim " + name, keys)


class DkimGateway(Gateway):
    """The harness's gateway with [dkim] sections appended."""

    def __init__(self, upstream, dkim_sections, **kw):
        self.dkim_sections = dkim_sections
        Gateway.__init__(self, upstream, **kw)

    def _write(self, port):
        upstream, gateway, listener, upstream_conf, _, _ = self._args
        self.write_config(config_text(port, upstream.port, gateway,
                                      listener, upstream_conf, self.host) +
                          ini(self.dkim_sections))


# ------------------------------------------------------------- verifiers

def records_of(*pairs):
    """{"sel._domainkey.dom": record} from (selector, domain, keyname)."""
    return {"%s._domainkey.%s" % (s, d): _keys[k][1] for s, d, k in pairs}


def signatures(data):
    """The DKIM-Signature header fields of a message, unfolded, as dicts
    of their tags, in order."""
    head = data.split(b"\r\n\r\n", 1)[0]
    fields = re.split(rb"\r\n(?![ \t])", head)
    out = []
    for f in fields:
        if f.lower().startswith(b"dkim-signature:"):
            v = re.sub(rb"\r\n[ \t]", b" ", f.split(b":", 1)[1]).decode()
            tags = {}
            for t in v.split(";"):
                if "=" in t:
                    k, val = t.split("=", 1)
                    tags[k.strip()] = re.sub(r"\s+", "", val)
            out.append(tags)
    return out


def dkimpy(data, records):
    """dkimpy's verdict on each signature: a list of bools."""
    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        return records.get(n.rstrip(".").lower(), "").encode()
    def one(i):
        # dkim.verify() returns False for most failures but raises
        # ValidationError for some (a body hash mismatch): both are "no"
        try:
            return bool(dkim.DKIM(data).verify(idx=i, dnsfunc=dnsfunc))
        except dkim.DKIMException:
            return False
    return [one(i) for i in range(len(signatures(data)))]


def maildkim(data, records):
    """Mail::DKIM's verdict per signature: a list of result words
    ("pass", "fail", "invalid", ...), in the message's order."""
    d = newdir("verify")
    path = os.path.join(d, "msg.eml")
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run(["/usr/bin/perl", DKIMVERIFY, path] +
                       ["%s=%s" % kv for kv in records.items()],
                       capture_output=True, timeout=60)
    out = p.stdout.decode(errors="replace")
    check(p.returncode in (0, 1),
          "maildkim_verify.pl failed (%d): %s %s", p.returncode, out,
          p.stderr.decode(errors="replace"))
    return [ln.split()[0] for ln in out.splitlines() if ln.strip()]


def check_verifies(data, records, rsa_idx=None, what="message"):
    """Every signature verifies with dkimpy, and each RSA one (indexes in
    rsa_idx; default: all of them) with Mail::DKIM too."""
    sigs = signatures(data)
    check(sigs, "%s: no DKIM-Signature in %r", what, data[:400])
    res = dkimpy(data, records)
    check(all(res), "%s: dkimpy does not verify every signature: %r\n%r",
          what, res, data[:1500])
    if rsa_idx is None:
        rsa_idx = [i for i, s in enumerate(sigs) if s["a"] == "rsa-sha256"]
    if rsa_idx:
        mres = maildkim(data, records)
        check(len(mres) == len(sigs), "%s: Mail::DKIM saw %r", what, mres)
        for i in rsa_idx:
            check(mres[i] == "pass", "%s: Mail::DKIM says %r for "
                  "signature %d", what, mres, i)


def check_fails(data, records, what):
    """No signature verifies, with either verifier."""
    res = dkimpy(data, records)
    check(not any(res), "%s: dkimpy still verifies: %r", what, res)
    mres = maildkim(data, records)
    check("pass" not in mres, "%s: Mail::DKIM still passes: %r", what, mres)


# ------------------------------------------------------------- messages

def message(from_hdr=b"From: Sender <sender@example.com>\r\n",
            subject=b"Subject: dkim test\r\n", body=None, extra=b""):
    return (from_hdr +
            b"To: Rcpt <rcpt@example.test>\r\n" + subject +
            b"Date: Sun, 22 Nov 2026 16:00:00 +0000\r\n"
            b"Message-ID: <dkim.1@example.com>\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n" + extra +
            b"\r\n" +
            (body if body is not None else
             b"Hello,\r\n"
             b".leading dot\r\n"
             b"tab\there, trailing blanks   \r\n"
             b"  runs   of    blanks  \r\n"
             b"\r\n"
             b"caf\xc3\xa9\r\n"
             b"\r\n"
             b"\r\n"))


def send(gw, msg, sender="sender@example.com", smtputf8=False):
    """One transaction; returns the final reply."""
    with gw.client() as c:
        c.start()
        if smtputf8:
            check_reply(c.cmd(("MAIL FROM:<%s> SMTPUTF8" % sender).encode()),
                        250, what="MAIL")
            check_reply(c.cmd("RCPT TO:<%s>" % RCPT), 250, what="RCPT")
            r = c.data(msg)
        else:
            replies = transaction(c, sender, [RCPT], msg)
            check(len(replies) == 4, "transaction stopped: %r", replies)
            r = replies[-1]
        c.cmd("QUIT")
    return r


def relay(up, gw, msg, n=1, **kw):
    r = send(gw, msg, **kw)
    check_reply(r, 250, what="end of DATA")
    msgs = up.wait_messages(n)
    check(len(msgs) == n, "want %d messages upstream, got %r", n, msgs)
    return msgs[-1].data


def tx_log(gw, n=1):
    """The dkim= field of the n-th transaction log line."""
    m = gw.wait_log(r"relay client=.*dkim=\"[^\"]*\"", timeout=5)
    check(m, "no dkim= in the transaction log line:\n%s", gw.log()[-2000:])
    found = re.findall(r"relay client=.* dkim=\"([^\"]*)\"", gw.log())
    check(len(found) >= n, "want %d transaction lines, got %r", n, found)
    return found[n - 1]


# ------------------------------------------------------------- tests

@timeout(120)
def test_canonicalizations_rsa_and_ed25519():
    # one gateway, a domain per (algorithm, canonicalisation)
    key("rsa1")
    key("ed1", "ed25519")
    secs, recs = [], []
    for alg, kn in (("rsa", "rsa1"), ("ed", "ed1")):
        for c in CANONS:
            dom = "%s-%s.example" % (alg, c.replace("/", "-"))
            secs.append(section(dom, dom, "s1", kn, canonicalization=c))
            recs.append(("s1", dom, kn))
    up = Upstream("starttls")
    gw = DkimGateway(up, secs)
    records = records_of(*recs)
    n = 0
    for alg in ("rsa", "ed"):
        for c in CANONS:
            dom = "%s-%s.example" % (alg, c.replace("/", "-"))
            n += 1
            data = relay(up, gw, message(
                from_hdr=b"From: S <s@" + dom.encode() + b">\r\n"), n,
                sender="s@" + dom)
            sigs = signatures(data)
            check(len(sigs) == 1, "%s: want 1 signature: %r", dom, sigs)
            check(sigs[0]["c"] == c and sigs[0]["d"] == dom and
                  sigs[0]["a"] == ("rsa-sha256" if alg == "rsa" else
                                   "ed25519-sha256"),
                  "%s: tags %r", dom, sigs[0])
            check(data.startswith(b"DKIM-Signature:"),
                  "%s: the signature is not first", dom)
            check_verifies(data, records, what=dom)
            log = tx_log(gw, n)
            check(log == "signed(d=%s,s=s1,a=%s)" % (dom, sigs[0]["a"]),
                  "log says %r", log)


def test_dual_signing():
    key("rsa1")
    key("ed1", "ed25519")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "rsa", "rsa1"),
                          section("e", "example.com", "ed", "ed1")])
    data = relay(up, gw, message())
    sigs = signatures(data)
    check([s["a"] for s in sigs] == ["rsa-sha256", "ed25519-sha256"],
          "want an RSA and an Ed25519 signature, got %r", sigs)
    recs = records_of(("rsa", "example.com", "rsa1"),
                      ("ed", "example.com", "ed1"))
    check(dkimpy(data, recs) == [True, True], "dkimpy: %r",
          dkimpy(data, recs))
    mres = maildkim(data, recs)
    # Mail::DKIM 1.20230212 has no Ed25519: the RSA one must pass
    check(mres[0] == "pass" and mres[1] != "pass" or mres == ["pass"] * 2,
          "Mail::DKIM: %r", mres)
    check(tx_log(gw) == "signed(d=example.com,s=rsa,a=rsa-sha256),"
          "signed(d=example.com,s=ed,a=ed25519-sha256)", "log: %r",
          tx_log(gw))


def test_oversigned_from():
    key("rsa1")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "s", "rsa1")])
    data = relay(up, gw, message())
    recs = records_of(("s", "example.com", "rsa1"))
    sigs = signatures(data)
    h = sigs[0]["h"].lower().split(":")
    check(h.count("from") == 2, "want from twice in h=: %r", h)
    check_verifies(data, recs)
    # a From added below the signature (where a forger would put it)
    sig_end = data.index(b"\r\nFrom:") + 2
    forged = data[:sig_end] + b"From: Boss <boss@example.com>\r\n" + \
        data[sig_end:]
    check_fails(forged, recs, "added From")
    # the control: without oversigning, Mail::DKIM still passes the same
    # forgery (the bottom-most From is the signed one), so it is the extra
    # "from" in h= that caught it above.  (dkimpy always checks an extra
    # From on its own, Debian bug 644046, so it cannot be the control.)
    gw2 = DkimGateway(up, [section("r", "example.com", "s", "rsa1",
                                   oversign="")])
    data2 = relay(up, gw2, message(), 2)
    h2 = signatures(data2)[0]["h"].lower().split(":")
    check(h2.count("from") == 1, "oversign empty: h=%r", h2)
    check_verifies(data2, recs)
    sig_end = data2.index(b"\r\nFrom:") + 2
    forged2 = data2[:sig_end] + b"From: Boss <boss@example.com>\r\n" + \
        data2[sig_end:]
    check(maildkim(forged2, recs) == ["pass"],
          "control: an added From breaks even a signature without "
          "oversigning; the test above proves nothing")


def test_utf8_subject():
    key("rsa1")
    key("ed1", "ed25519")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "rsa", "rsa1"),
                          section("e", "example.com", "ed", "ed1")])
    recs = records_of(("rsa", "example.com", "rsa1"),
                      ("ed", "example.com", "ed1"))
    enc = message(subject=b"Subject: =?UTF-8?B?" +
                  base64.b64encode("Gr\u00fc\u00dfe \u2709".encode()) +
                  b"?=\r\n")
    data = relay(up, gw, enc)
    check_verifies(data, recs, what="RFC 2047 subject")
    raw = message(subject="Subject: Gr\u00fc\u00dfe   \u2709 \u65e5\u672c"
                  "\r\n".encode(),
                  from_hdr="From: J\u00f6rg <j\u00f6rg@example.com>"
                  "\r\n".encode())
    data = relay(up, gw, raw, 2, sender="j\u00f6rg@example.com",
                 smtputf8=True)
    check("\u65e5".encode() in data, "raw UTF-8 subject changed")
    check_verifies(data, recs, what="raw UTF-8 subject")


@timeout(200)
def test_20mb_body():
    gwtest.skip_under_valgrind()
    key("rsa1")
    key("ed1", "ed25519")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "rsa", "rsa1"),
                          section("e", "example.com", "ed", "ed1")],
                     listener={"max_message_size": "30M"})
    line = b"0123456789 abcdefghij ABCDEFGHIJ \t klmnop  " * 2 + b"\r\n"
    body = line * (20 * 1024 * 1024 // len(line))
    # send one small message first, so the baseline has the code paths
    relay(up, gw, message())
    base = gwtest.proc_status_kb(gw.proc.pid, "VmRSS")
    data = relay(up, gw, message(body=body), 2)
    hwm = gwtest.proc_status_kb(gw.proc.pid, "VmHWM")
    check(len(data) > 20 * 1000 * 1000, "stored %d bytes", len(data))
    recs = records_of(("rsa", "example.com", "rsa1"),
                      ("ed", "example.com", "ed1"))
    check_verifies(data, recs, what="20 MB")
    # the body streams: the peak stays far below the message's size.
    # AddressSanitizer keeps freed memory in quarantine (up to 256 MB), so
    # the figure means nothing in a sanitizer build.
    print("# 20 MB message: VmRSS before %d KiB, VmHWM after %d KiB"
          % (base, hwm), flush=True)
    if gwtest.sanitized(gw.proc.pid):
        print("# sanitizer build: memory bound not checked", flush=True)
        return
    check(hwm - base < 12 * 1024, "memory grew by %d KiB for a 20 MB "
          "message (VmRSS before %d KiB, VmHWM %d KiB)", hwm - base, base,
          hwm)


def test_one_byte_change():
    key("rsa1")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "s", "rsa1",
                                  canonicalization="relaxed/relaxed")])
    recs = records_of(("s", "example.com", "rsa1"))
    data = relay(up, gw, message())
    check_verifies(data, recs)
    i = data.index(b"Hello")
    check_fails(data[:i] + b"J" + data[i + 1:], recs, "body byte")
    i = data.index(b"dkim test")
    check_fails(data[:i] + b"D" + data[i + 1:], recs, "Subject byte")


def test_missing_and_repeated_from():
    key("rsa1")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "s", "rsa1")])
    cases = [
        (message(from_hdr=b""), "no From"),
        (message(extra=b"From: Other <other@example.com>\r\n"), "From"),
    ]
    for n, (msg, word) in enumerate(cases, 1):
        data = relay(up, gw, msg, n)
        check(b"DKIM-Signature" not in data, "signed: %r", data[:300])
        check(data == msg, "message changed")
        log = tx_log(gw, n)
        check(log.startswith("unsigned(") and word in log,
              "log says %r", log)


def test_header_block_too_large():
    key("rsa1")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "s", "rsa1")])
    filler = b"".join(b"X-Filler-%04d: " % i + b"f" * 960 + b"\r\n"
                      for i in range(300))
    msg = message(extra=filler)
    data = relay(up, gw, msg)
    check(data == msg, "message changed")
    check(tx_log(gw) == "unsigned(header block too large)", "log: %r",
          tx_log(gw))
    gw2 = DkimGateway(up, [section("r", "example.com", "s", "rsa1")],
                      listener={"dkim_required": "yes"})
    check_reply(send(gw2, msg), 550, "5.7.1", what="dkim_required")
    check(len(up.messages()) == 1, "refused message went upstream")


def test_too_many_fields_to_sign():
    # more signed fields than h= may hold: unsignable, not a retryable fault
    key("rsa1")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "s", "rsa1")])
    many = b"".join(b"To: r%d@example.test\r\n" % i for i in range(140))
    msg = message(extra=many)
    data = relay(up, gw, msg)
    check(data == msg, "message changed")
    check(tx_log(gw).startswith("unsigned(") and "too many" in tx_log(gw),
          "log: %r", tx_log(gw))


def test_signature_options():
    key("ed1", "ed25519")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("e", "example.com", "ed", "ed1",
                                  expire="1h", sign_date="no",
                                  sign_message_id="no",
                                  identity="bounce@mail.example.com",
                                  headers="From, Subject, Date, Message-ID,"
                                  " To",
                                  oversign="From, Subject",
                                  canonicalization="relaxed")])
    data = relay(up, gw, message())
    sig = signatures(data)[0]
    h = sig["h"].lower().split(":")
    check(sorted(h) == ["from", "from", "subject", "subject", "to"],
          "h= %r", h)
    check(sig["c"] == "relaxed/simple", "c=relaxed means relaxed/simple: %r",
          sig["c"])
    check(int(sig["x"]) - int(sig["t"]) == 3600, "x=%s t=%s", sig["x"],
          sig["t"])
    check(sig["i"] == "bounce@mail.example.com", "i=%r", sig.get("i"))
    check_verifies(data, records_of(("ed", "example.com", "ed1")))


def test_no_key_for_domain():
    key("rsa1")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "s", "rsa1")])
    msg = message(from_hdr=b"From: <x@example.org>\r\n")
    data = relay(up, gw, msg)
    check(data == msg, "message changed")
    check(tx_log(gw) == "unsigned(no key for example.org)", "log: %r",
          tx_log(gw))


def test_dkim_required():
    key("rsa1")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "s", "rsa1")],
                     listener={"dkim_required": "yes"})
    with gw.client() as c:
        c.start()
        for msg in (message(from_hdr=b""),
                    message(from_hdr=b"From: <x@example.org>\r\n")):
            r = transaction(c, "s@example.com", [RCPT], msg)[-1]
            check_reply(r, 550, "5.7.1", what="unsignable message")
        # the session goes on: a signable message is relayed and signed
        r = transaction(c, "s@example.com", [RCPT], message())[-1]
        check_reply(r, 250, what="signable message")
        c.cmd("QUIT")
    msgs = up.wait_messages(1)
    check(len(msgs) == 1, "want only the signed message: %r", msgs)
    check_verifies(msgs[0].data, records_of(("s", "example.com", "rsa1")))
    refused = re.findall(r'dkim="(unsigned\([^"]*\))" reply="550 5\.7\.1 ',
                         gw.log())
    check(refused == ["unsigned(no From header)",
                      "unsigned(no key for example.org)"],
          "want two 550 log lines with the reasons, got %r", refused)


def test_listener_selection():
    key("rsa1")
    key("rsa2")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("a", "example.com", "sa", "rsa1"),
                          section("b", "example.com", "sb", "rsa2")],
                     listener={"dkim": "b"})
    data = relay(up, gw, message())
    sigs = signatures(data)
    check([s["s"] for s in sigs] == ["sb"], "want only s=sb: %r", sigs)
    check_verifies(data, records_of(("sb", "example.com", "rsa2")))


def test_subdomains():
    key("rsa1")
    key("rsa2")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("a", "example.com", "s", "rsa1",
                                  subdomains="yes"),
                          section("b", "example.net", "s", "rsa2")])
    data = relay(up, gw, message(
        from_hdr=b"From: <x@Mail.Example.COM>\r\n"), sender="x@example.com")
    sigs = signatures(data)
    check(len(sigs) == 1 and sigs[0]["d"] == "example.com",
          "want d=example.com for a subdomain: %r", sigs)
    check_verifies(data, records_of(("s", "example.com", "rsa1")))
    msg = message(from_hdr=b"From: <x@sub.example.net>\r\n")
    data = relay(up, gw, msg, 2, sender="x@example.net")
    check(data == msg, "signed a subdomain without subdomains = yes")
    check(tx_log(gw, 2) == "unsigned(no key for sub.example.net)",
          "log: %r", tx_log(gw, 2))


def test_received_header_not_signed():
    key("rsa1")
    up = Upstream("starttls")
    gw = DkimGateway(up, [section("r", "example.com", "s", "rsa1")],
                     listener={"received_header": "yes"})
    data = relay(up, gw, message())
    check(re.match(rb"DKIM-Signature:.*?\r\nReceived: from ", data, re.S),
          "want DKIM-Signature first, then Received: %r", data[:600])
    check("received" not in signatures(data)[0]["h"].lower(),
          "Received is signed: %r", signatures(data)[0]["h"])
    check_verifies(data, records_of(("s", "example.com", "rsa1")))


def check_t(text, want_rc):
    d = newdir("conf-t")
    path = os.path.join(d, "smtpgate.ini")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([gwtest.BIN, "-t", "-c", path], capture_output=True,
                       timeout=30)
    out = p.stderr.decode(errors="replace")
    check(p.returncode == want_rc, "-t: want exit %d, got %d: %s",
          want_rc, p.returncode, out)
    return path, out


def test_key_file_checks():
    key("rsa1")
    d = newdir("badkeys")
    loose = os.path.join(d, "loose.pem")
    with open(_keys["rsa1"][0], "rb") as f:
        pem = f.read()
    with open(loose, "wb") as f:
        f.write(pem)
    os.chmod(loose, 0o644)
    base = config_text(2525, 2526)
    text = base + ini([("dkim loose", {"domain": "example.com",
                                       "selector": "s",
                                       "key_file": loose})])
    path, out = check_t(text, 1)
    line = text.split("\n").index("[dkim loose]") + 1
    check(re.search(r"^%s:%d: \[dkim loose\]: key_file: .*chmod 600 %s"
                    % (re.escape(path), line, re.escape(loose)), out, re.M),
          "want FILE:LINE: [dkim loose]: key_file: ... chmod 600 FILE: %s",
          out)
    # not a key; an RSA key of 1024 bits (warning only); one of 512 bits
    notkey = os.path.join(d, "notkey.pem")
    with open(notkey, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nAAAA\n"
                "-----END CERTIFICATE-----\n")
    os.chmod(notkey, 0o600)
    key("rsa1024", "rsa", 1024)
    text = base + ini([("dkim junk", {"domain": "example.com",
                                      "selector": "s",
                                      "key_file": notkey})])
    path, out = check_t(text, 1)
    check(re.search(r"^%s:\d+: \[dkim junk\]: key_file: " % re.escape(path),
                    out, re.M), "no key_file error for junk: %s", out)
    text = base + ini([("dkim weak", {"domain": "example.com",
                                      "selector": "s",
                                      "key_file": _keys["rsa1024"][0]})])
    path, out = check_t(text, 0)
    check(re.search(r"\[dkim weak\]: key_file: warning: RSA key of 1024 "
                    r"bits", out), "no warning for RSA 1024: %s", out)
    try:
        key("rsa512", "rsa", 512)
    except gwtest.TestFailure:
        return		# this openssl will not make one
    text = base + ini([("dkim tiny", {"domain": "example.com",
                                      "selector": "s",
                                      "key_file": _keys["rsa512"][0]})])
    path, out = check_t(text, 1)
    check(re.search(r"\[dkim tiny\]: key_file: ", out),
          "RSA 512 not refused: %s", out)


def test_reload_bad_key_then_rotation():
    key("rsa1")
    d = newdir("reloadkey")
    kp = os.path.join(d, "k.pem")
    with open(_keys["rsa1"][0], "rb") as f:
        pem = f.read()
    with open(kp, "wb") as f:
        f.write(pem)
    os.chmod(kp, 0o600)
    up = Upstream("starttls")
    gw = DkimGateway(up, [("dkim r", {"domain": "example.com",
                                      "selector": "s", "key_file": kp})])
    os.chmod(kp, 0o644)
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"keeping the running configuration", start=mark),
          "reload with a 0644 key was not refused:\n%s", gw.log()[mark:])
    check(re.search(r"chmod 600", gw.log()[mark:]),
          "no chmod advice in the log:\n%s", gw.log()[mark:])
    data = relay(up, gw, message())
    check_verifies(data, records_of(("s", "example.com", "rsa1")))
    # key rotation: a new selector and key, taken on the next SIGHUP
    key("rsa2")
    gw.dkim_sections = [section("r", "example.com", "s2", "rsa2")]
    gw._write(gw.port)
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"new configuration in use", start=mark),
          "reload with the new key failed:\n%s", gw.log()[mark:])
    data = relay(up, gw, message(), 2)
    sigs = signatures(data)
    check([x["s"] for x in sigs] == ["s2"], "after rotation: %r", sigs)
    check_verifies(data, records_of(("s2", "example.com", "rsa2")))


def zone_record(out):
    """The TXT value of a zone-file line 'S._domainkey.D. IN TXT ( "..." )'
    (strings joined), and the owner name."""
    m = re.match(r'^(\S+) IN TXT \( ((?:"[^"]*"\s*)+)\)\s*$', out.strip(),
                 re.S)
    check(m, "not a zone-file TXT line: %r", out)
    strings = re.findall(r'"([^"]*)"', m.group(2))
    check(all(len(s) <= 255 for s in strings), "a string over 255: %r",
          strings)
    return m.group(1), "".join(strings)


def test_keygen():
    for alg in ("rsa", "ed25519"):
        d = newdir("keygen-" + alg)
        path = os.path.join(d, "k.pem")
        p = subprocess.run([gwtest.BIN, "dkim-keygen", "--algorithm", alg,
                            "--domain", "example.com", "--selector",
                            "kg" + alg, "--out", path],
                           capture_output=True, timeout=120)
        check(p.returncode == 0, "dkim-keygen %s: %s", alg, p.stderr)
        check(stat.S_IMODE(os.stat(path).st_mode) == 0o600,
              "%s key mode %o", alg, os.stat(path).st_mode)
        owner, rec = zone_record(p.stdout.decode())
        check(owner == "kg%s._domainkey.example.com." % alg,
              "owner name %r", owner)
        check(rec.startswith("v=DKIM1; k=%s; p=" % alg), "record %r", rec)
        if alg == "rsa":
            check(len(rec) > 255 and
                  p.stdout.decode().count('"') >= 4,
                  "a 2048-bit record must be split: %r", p.stdout)
        # refuses to overwrite
        p2 = subprocess.run([gwtest.BIN, "dkim-keygen", "--algorithm", alg,
                             "--domain", "example.com", "--selector", "x",
                             "--out", path], capture_output=True,
                            timeout=60)
        check(p2.returncode != 0, "dkim-keygen overwrote %s", path)
        # the printed record verifies mail signed with the key
        _keys["kg" + alg] = (path, rec)
        up = Upstream("starttls")
        gw = DkimGateway(up, [section("k", "example.com", "kg" + alg,
                                      "kg" + alg)])
        data = relay(up, gw, message())
        check_verifies(data, records_of(("kg" + alg, "example.com",
                                         "kg" + alg)), what=alg)
        check(gw.stop() == [], "gateway stop")
        up.stop()


def test_dkim_record():
    key("rsa1")
    key("ed1", "ed25519")
    for kn in ("rsa1", "ed1"):
        path, rec = _keys[kn]
        p = subprocess.run([gwtest.BIN, "dkim-record", path, "--domain",
                            "example.com", "--selector", "sel"],
                           capture_output=True, timeout=30)
        check(p.returncode == 0, "dkim-record: %s", p.stderr)
        owner, got = zone_record(p.stdout.decode())
        check(owner == "sel._domainkey.example.com.", "owner %r", owner)
        check(got == rec, "%s: record %r, openssl says %r", kn, got, rec)
        p = subprocess.run([gwtest.BIN, "dkim-record", path],
                           capture_output=True, timeout=30)
        check(p.returncode == 0 and p.stdout.decode().strip() == rec,
              "dkim-record without a name: %r", p.stdout)


if __name__ == "__main__":
    gwtest.main(globals())
