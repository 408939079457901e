"""test_dkim_verify - messages signed by gw_dkim (through the
dkim_signfile tool) must verify with python3-dkim and Mail::DKIM.

Keys are made by openssl at test time (RSA-2048 as PKCS#8 and as PKCS#1,
Ed25519), and by dkim_signfile -g (our own keygen).  Every message is
signed in all four canonicalisations, verified by dkimpy (RSA and Ed25519)
and Mail::DKIM (RSA; Debian's version has no Ed25519), and then changed by
one byte, which both must reject.  test_random_messages adds 40 generated
messages (blank runs, folds, blank lines, repeated fields) per run, with a
new seed each time (printed on failure; DKIM_SEED=N repeats a run).
Prints "N passed, N failed".

Environment: DKIM_SIGNFILE (the tool, required), DKIM_SEED,
GWTEST_ONLY=test_a,test_b (run only those).
"""

import base64
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dkimverify  # noqa: E402

SIGNFILE = os.environ.get("DKIM_SIGNFILE", "")
CANONS = ["relaxed/relaxed", "simple/simple", "relaxed/simple",
          "simple/relaxed"]
TMP = tempfile.mkdtemp(prefix="dkimverify.")
KEYS = {}       # name -> (path, record)


def run(args, check=True):
    p = subprocess.run(args, capture_output=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (args[0], p.returncode,
                                                    p.stderr.decode()))
    return p


def openssl_record(path, alg):
    der = run(["openssl", "pkey", "-in", path, "-pubout", "-outform",
               "DER"]).stdout
    if alg == "ed25519":
        der = der[-32:]         # the raw key is the end of the SPKI
    return "v=DKIM1; k=%s; p=%s" % ("rsa" if alg == "rsa" else "ed25519",
                                    base64.b64encode(der).decode())


def make_keys():
    specs = {
        "rsa8": ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                 "rsa_keygen_bits:2048"],
        "ed": ["openssl", "genpkey", "-algorithm", "ed25519"],
    }
    for name, cmd in specs.items():
        path = os.path.join(TMP, name + ".pem")
        run(cmd + ["-out", path])
        os.chmod(path, 0o600)
        KEYS[name] = path
    # the same RSA key as PKCS#1 ("BEGIN RSA PRIVATE KEY")
    path = os.path.join(TMP, "rsa1.pem")
    run(["openssl", "pkey", "-in", KEYS["rsa8"], "-traditional", "-out",
         path])
    os.chmod(path, 0o600)
    KEYS["rsa1"] = path


def alg_of(name):
    return "ed25519" if name.startswith("ed") else "rsa"


def record(name):
    return run([SIGNFILE, "-r", KEYS[name]]).stdout.decode().strip()


def sign(msg, keys, canon="relaxed/relaxed", extra=(), chunk=4096):
    path = os.path.join(TMP, "in.eml")
    with open(path, "wb") as f:
        f.write(msg)
    args = [SIGNFILE, "-c", canon, "-C", str(chunk)]
    for k in keys:
        args += ["-k", KEYS[k]]
    return run(args + list(extra) + [path]).stdout


def records_for(selmap):
    return {sel: record(k) for sel, k in selmap.items()}


def head_of(signed):
    return signed.split(b"\r\n\r\n", 1)[0]


def sig_tags(signed, idx=0):
    head = head_of(signed).decode()
    sigs = re.findall(r"(?ims)^DKIM-Signature:(.*?)(?=^\S)", head + "\r\nX")
    val = re.sub(r"\s+", "", sigs[idx])
    return dict(t.split("=", 1) for t in val.split(";") if t)


def msg(headers, body):
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


BASIC = msg(["From: \"Joe Q. Public\" <joe@example.com>",
             "To: Mary Smith <mary@example.net>, other@example.org",
             "Subject:  Hello   there\t",
             "\tfolded  continuation",
             "Date: Sun, 22 Nov 2026 16:00:00 +0000",
             "Message-ID: <1234@example.com>",
             "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=us-ascii",
             "X-Not-Signed: yes"],
            b"Hi.\r\n\r\nWe lost the game.  Are you hungry yet? \t\r\n"
            b"  leading blanks\r\n\t\r\n\r\n\r\n")
UTF8 = msg(["From: =?UTF-8?Q?J=C3=B6rg?= <jorg@example.com>",
            "To: you@example.org",
            "Subject: Gr\u00fc\u00dfe aus K\u00f6ln \u2014 \u2603",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit"],
           "Stra\u00dfe \u00e9t\u00e9 \u2603\r\n".encode())
# the Subject line above holds raw UTF-8 (RFC 6532)
EMPTY = msg(["From: a@example.com", "Subject: empty"], b"")
NOFINAL = msg(["From: a@example.com", "Subject: no final CRLF"],
              b"line one\r\nlast  line")
REPEATED = msg(["From: a@example.com", "To: first@example.org",
                "Subject: two To", "To: second@example.org",
                "Received: x"], b"body\r\n")
BLANKS = msg(["From: a@example.com"], b"\r\n\r\n \t \r\n")
# bodies from SMTP always end in CRLF; NOFINAL is tested on its own
MESSAGES = {"basic": BASIC, "utf8": UTF8, "empty": EMPTY,
            "repeated": REPEATED, "blanks": BLANKS}


def check_pass(signed, selmap):
    """dkimpy accepts every signature; Mail::DKIM every RSA one (it
    reports Ed25519 as unsupported, which is all it can do)."""
    recs = records_for(selmap)
    got = dkimverify.dkimpy(signed, recs)
    assert got and all(got), "dkimpy: %r" % got
    md = dkimverify.maildkim(signed, recs)
    assert len(md) == len(got), "Mail::DKIM: %r" % md
    for r in md:
        if "unsupported algorithm ed25519" in r[1]:
            continue
        assert r[0] == "pass", "Mail::DKIM: %r" % md


def check_fail(signed, selmap):
    recs = records_for(selmap)
    got = dkimverify.dkimpy(signed, recs)
    assert got and not any(got), "dkimpy accepted: %r" % got
    md = dkimverify.maildkim(signed, recs)
    assert md and not any(r[0] == "pass" for r in md), \
        "Mail::DKIM accepted: %r" % md


def flip_body_byte(signed):
    head, body = signed.split(b"\r\n\r\n", 1)
    i = body.find(b"a")
    if i < 0:
        return head + b"\r\n\r\nx" + body   # an empty body gains a byte
    return head + b"\r\n\r\n" + body[:i] + b"b" + body[i + 1:]


def flip_subject_byte(signed):
    return re.sub(rb"(?m)^(Subject:.*?)([A-Za-z])",
                  lambda m: m.group(1) + (b"Q" if m.group(2) != b"Q"
                                          else b"R"), signed, count=1)


# --- tests ------------------------------------------------------------------

def random_message(rnd):
    """A message with the whitespace, folding and blank-line shapes that
    canonicalisation must get right, always CRLF-terminated (as SMTP
    delivers it)."""
    def ws():
        return rnd.choice([" ", "  ", "\t", " \t ", ""])

    def words(n):
        return ws().join(rnd.choice(["alpha", "b:c", "d;e", "x=1", "<f@g>",
                                     "(c)", "\"q s\"", "K\u00f6ln"])
                         + rnd.choice([" ", "  ", "\t "])
                         for _ in range(n)).rstrip(" \t") + ws()

    def value():
        v = ws() + words(rnd.randint(0, 4))
        for _ in range(rnd.randint(0, 2)):
            v += rnd.choice(["\r\n\t", "\r\n ", "\r\n  \t"]) + \
                words(rnd.randint(1, 3))
        return v

    names = ["To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
             "MIME-Version", "Content-Type", "X-Other", "Received",
             "subject", "TO", "References"]
    # no blanks before the colon: obsolete syntax that dkimpy refuses
    # (the unit tests cover it)
    hdrs = ["From:" + ws() + "a@example.com" + ws()]
    for _ in range(rnd.randint(0, 8)):
        hdrs.insert(rnd.randint(0, len(hdrs)),
                    rnd.choice(names) + ":" + value())
    lines = []
    for _ in range(rnd.randint(0, 12)):
        lines.append(rnd.choice(["", ws(), words(rnd.randint(1, 6)),
                                 ws() + words(2) + ws()]))
    body = "".join(ln + "\r\n" for ln in lines)
    return ("\r\n".join(hdrs) + "\r\n\r\n" + body).encode()


def test_random_messages():
    import random
    seed = int(os.environ.get("DKIM_SEED", "0")) or int(time.time())
    rnd = random.Random(seed)
    recs = records_for({"e": "ed", "r": "rsa8"})
    for i in range(40):
        m = random_message(rnd)
        canon = CANONS[i % 4]
        path = os.path.join(TMP, "in.eml")
        with open(path, "wb") as f:
            f.write(m)
        signed = run([SIGNFILE, "-c", canon, "-C", str(rnd.randint(1, 64)),
                      "-k", KEYS["ed"] + ":e", "-k", KEYS["rsa8"] + ":r",
                      "-H", "From,To,Cc,Subject,Date,Message-ID,Reply-To,"
                      "MIME-Version,Content-Type,References,X-Other",
                      path]).stdout
        what = "seed %d, message %d, %s: %r" % (seed, i, canon, m)
        got = dkimverify.dkimpy(signed, recs)
        assert got == [True, True], "dkimpy %r, %s" % (got, what)
        md = dkimverify.maildkim(signed, recs)
        assert md[1][0] == "pass", "Mail::DKIM %r, %s" % (md, what)


def test_records_match_openssl():
    for name in ("rsa8", "rsa1", "ed"):
        assert record(name) == openssl_record(KEYS[name], alg_of(name)), name


def test_all_canonicalisations_verify():
    n = 0
    for key in ("rsa8", "rsa1", "ed"):
        for canon in CANONS:
            for mname, m in MESSAGES.items():
                signed = sign(m, [key], canon, ["-s", "s1"])
                tags = sig_tags(signed)
                assert tags["c"] == canon, tags
                assert tags["a"] == ("ed25519-sha256" if key == "ed"
                                     else "rsa-sha256")
                try:
                    check_pass(signed, {"s1": key})
                except AssertionError as e:
                    raise AssertionError("%s %s %s: %s" % (key, canon,
                                                           mname, e))
                n += 1
    assert n == 3 * 4 * len(MESSAGES)


def test_one_byte_change_fails():
    for key in ("rsa8", "ed"):
        for canon in CANONS:
            signed = sign(BASIC, [key], canon, ["-s", "s1"])
            check_fail(flip_body_byte(signed), {"s1": key})
            check_fail(flip_subject_byte(signed), {"s1": key})


def test_chunking_gives_same_signature():
    # Ed25519 is deterministic: equal input hashes give equal signatures
    ref = sign(BASIC, ["ed"], "relaxed/relaxed", ["-t", "1700000000"])
    for chunk in (1, 2, 3, 7, 64, 1000):
        got = sign(BASIC, ["ed"], "relaxed/relaxed", ["-t", "1700000000"],
                   chunk=chunk)
        assert got == ref, "chunk %d differs" % chunk


def test_dual_signing():
    # one pass over the message, two signatures (RFC 8463 §4)
    path = os.path.join(TMP, "in.eml")
    with open(path, "wb") as f:
        f.write(BASIC)
    signed = run([SIGNFILE, "-k", KEYS["rsa8"] + ":r", "-k",
                  KEYS["ed"] + ":e", path]).stdout
    assert dkimverify.count_signatures(signed) == 2
    recs = records_for({"r": "rsa8", "e": "ed"})
    got = dkimverify.dkimpy(signed, recs)
    assert got == [True, True], got
    md = dkimverify.maildkim(signed, recs)
    assert md[0][0] == "pass" and "unsupported" in md[1][1], md
    check_fail(flip_body_byte(signed), {"r": "rsa8", "e": "ed"})


def test_oversign_from():
    signed = sign(BASIC, ["ed"], "relaxed/relaxed", ["-s", "s1"])
    assert sig_tags(signed)["h"].lower().split(":").count("from") == 2
    # a second From added later breaks the signature
    check_fail_dkimpy(b"From: evil@example.com\r\n" + signed, "ed")
    # Cc is absent and not oversigned: adding one keeps it valid (control)
    got = dkimverify.dkimpy(b"Cc: added@example.org\r\n" + signed,
                            records_for({"s1": "ed"}))
    assert got == [True], got
    # oversigning Cc too: adding one now breaks it
    signed = sign(BASIC, ["ed"], "relaxed/relaxed",
                  ["-s", "s1", "-O", "From,Cc"])
    check_fail_dkimpy(b"Cc: added@example.org\r\n" + signed, "ed")


def check_fail_dkimpy(signed, key):
    got = dkimverify.dkimpy(signed, records_for({"s1": key}))
    assert got == [False], got


def test_h_tag_structure():
    signed = sign(REPEATED, ["ed"], "relaxed/relaxed",
                  ["-s", "s1", "-H", "Subject,To,From,Date"])
    h = sig_tags(signed)["h"].split(":")
    # config order, one entry per instance, From once more (oversigned)
    assert h == ["Subject", "To", "To", "From", "From"], h
    check_pass(signed, {"s1": "ed"})
    # From is always signed, even when left out of the list
    signed = sign(BASIC, ["ed"], "relaxed/relaxed",
                  ["-s", "s1", "-H", "Subject", "-O", ""])
    assert sig_tags(signed)["h"].split(":") == ["From", "Subject"]


def test_sign_date_and_message_id_off():
    signed = sign(BASIC, ["rsa8"], "relaxed/relaxed", ["-s", "s1", "-D"])
    h = [x.lower() for x in sig_tags(signed)["h"].split(":")]
    assert "date" not in h and "message-id" in h, h
    signed = sign(BASIC, ["rsa8"], "relaxed/relaxed",
                  ["-s", "s1", "-D", "-M"])
    h = [x.lower() for x in sig_tags(signed)["h"].split(":")]
    assert "date" not in h and "message-id" not in h, h
    check_pass(signed, {"s1": "rsa8"})


def test_expire_and_identity():
    now = int(time.time())
    signed = sign(BASIC, ["rsa8"], "relaxed/relaxed",
                  ["-s", "s1", "-t", str(now), "-x", "3600",
                   "-i", "joe@mail.example.com"])
    tags = sig_tags(signed)
    assert tags["t"] == str(now) and tags["x"] == str(now + 3600), tags
    assert tags["i"] == "joe@mail.example.com", tags
    check_pass(signed, {"s1": "rsa8"})
    # an expired signature is refused by both verifiers (dkimpy allows
    # 10 hours of clock skew, so expire it two days ago)
    signed = sign(BASIC, ["rsa8"], "relaxed/relaxed",
                  ["-s", "s1", "-t", str(now - 172800), "-x", "60"])
    check_fail(signed, {"s1": "rsa8"})


def test_folding_under_78_columns():
    signed = sign(BASIC, ["rsa8", "ed"], "relaxed/relaxed",
                  ["-i", "someone@example.com", "-x", "86400"])
    for line in head_of(signed).split(b"\r\n"):
        assert len(line) < 78, line
    assert b"\n" not in signed.replace(b"\r\n", b"")


def test_no_final_crlf():
    # A body without a final CRLF (SMTP never delivers one, so the relay
    # never meets this; only the signing tool can).  The verifiers differ:
    # for simple, RFC 6376 §3.4.3 and dkimpy add the CRLF, Mail::DKIM does
    # not; for relaxed with blanks at the very end, §3.4.4 and Mail::DKIM
    # drop them, dkimpy keeps one SP.  We follow the RFC each time.
    for canon in CANONS:
        signed = sign(NOFINAL, ["rsa8"], canon, ["-s", "s1"])
        got = dkimverify.dkimpy(signed, records_for({"s1": "rsa8"}))
        assert got == [True], (canon, got)
        if canon.endswith("relaxed"):
            md = dkimverify.maildkim(signed, records_for({"s1": "rsa8"}))
            assert md and md[0][0] == "pass", (canon, md)
    m = msg(["From: a@example.com"], b"line one\r\nlast line  ")
    for canon in ("relaxed/relaxed", "simple/relaxed"):
        signed = sign(m, ["rsa8"], canon, ["-s", "s1"])
        md = dkimverify.maildkim(signed, records_for({"s1": "rsa8"}))
        assert md and md[0][0] == "pass", (canon, md)


def test_large_body():
    body = b"".join(b"line %07d of a large body, padded out  \r\n" % i
                    for i in range(25000))       # about 1 MB
    m = msg(["From: big@example.com", "Subject: big"], body)
    for key in ("rsa8", "ed"):
        for canon in ("relaxed/relaxed", "simple/simple"):
            check_pass(sign(m, [key], canon, ["-s", "s1"], chunk=65536),
                       {"s1": key})


def test_own_keygen():
    for alg in ("rsa", "ed25519"):
        path = os.path.join(TMP, "gen-%s.pem" % alg)
        run([SIGNFILE, "-g", alg, path])
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        # openssl reads it and derives the same public key
        KEYS["gen-" + alg] = path
        rec = record("gen-" + alg)
        assert rec == openssl_record(path, "ed25519" if alg == "ed25519"
                                     else "rsa"), rec
        check_pass(sign(BASIC, ["gen-" + alg], "relaxed/relaxed",
                        ["-s", "s1"]), {"s1": "gen-" + alg})
        # never overwrites
        p = run([SIGNFILE, "-g", alg, path], check=False)
        assert p.returncode != 0 and b"exists" in p.stderr, p.stderr
    with open(KEYS["gen-rsa"]) as f:
        assert "BEGIN RSA PRIVATE KEY" in f.read()
    with open(KEYS["gen-ed25519"]) as f:
        assert "BEGIN PRIVATE KEY" in f.read()


def test_readable_key_refused():
    path = os.path.join(TMP, "open.pem")
    with open(KEYS["ed"], "rb") as f, open(path, "wb") as g:
        g.write(f.read())
    for mode in (0o640, 0o604):
        os.chmod(path, mode)
        p = run([SIGNFILE, "-r", path], check=False)
        assert p.returncode != 0, mode
        assert ("chmod 600 %s" % path).encode() in p.stderr, p.stderr
    os.chmod(path, 0o600)
    assert run([SIGNFILE, "-r", path]).returncode == 0


def test_small_rsa_refused_and_weak_accepted():
    small = os.path.join(TMP, "rsa512.pem")
    run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
         "rsa_keygen_bits:512", "-out", small])
    os.chmod(small, 0o600)
    p = run([SIGNFILE, "-r", small], check=False)
    assert p.returncode != 0 and b"at least 1024" in p.stderr, p.stderr
    weak = os.path.join(TMP, "rsa1024.pem")
    run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
         "rsa_keygen_bits:1024", "-out", weak])
    os.chmod(weak, 0o600)
    KEYS["weak"] = weak
    check_pass(sign(BASIC, ["weak"], "relaxed/relaxed", ["-s", "s1"]),
               {"s1": "weak"})


def test_rsa_4096():
    path = os.path.join(TMP, "rsa4096.pem")
    run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
         "rsa_keygen_bits:4096", "-out", path])
    os.chmod(path, 0o600)
    KEYS["rsa4096"] = path
    assert record("rsa4096") == openssl_record(path, "rsa")
    for canon in ("relaxed/relaxed", "simple/simple"):
        signed = sign(BASIC, ["rsa4096"], canon, ["-s", "s1"])
        assert len(base64.b64decode(sig_tags(signed)["b"])) == 512
        check_pass(signed, {"s1": "rsa4096"})
        check_fail(flip_body_byte(signed), {"s1": "rsa4096"})


def test_unsignable_from():
    for m, why in ((msg(["Subject: x"], b"b\r\n"), b"no From header"),
                   (msg(["From: a@example.com", "From: b@example.com"],
                        b"b\r\n"), b"2 From headers")):
        path = os.path.join(TMP, "bad.eml")
        with open(path, "wb") as f:
            f.write(m)
        p = run([SIGNFILE, "-k", KEYS["ed"], path], check=False)
        assert p.returncode == 3 and why in p.stderr, p.stderr


def main():
    if not SIGNFILE or not os.access(SIGNFILE, os.X_OK):
        print("DKIM_SIGNFILE not set", file=sys.stderr)
        return 2
    make_keys()
    only = [x for x in os.environ.get("GWTEST_ONLY", "").split(",") if x]
    passed = failed = 0
    for name, fn in list(globals().items()):
        if not name.startswith("test_") or not callable(fn):
            continue
        if only and name not in only:
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("ok   %s (%.1fs)" % (name, time.time() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % name, flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        subprocess.run(["rm", "-rf", TMP])
