"""dkimverify - check DKIM signatures with two independent verifiers,
the public keys supplied without DNS.

    import dkimverify
    dkimverify.dkimpy(msg_bytes, {"sel": "v=DKIM1; k=rsa; p=..."})
        -> list of booleans, one per DKIM-Signature header (python3-dkim)
    dkimverify.maildkim(msg_bytes, {"sel": record})
        -> list of (result, detail), one per signature (Mail::DKIM)

Records are keyed by selector.  dkimpy handles rsa-sha256 and
ed25519-sha256; Mail::DKIM (Debian 12) only rsa-sha256 (it reports
Ed25519 signatures as "invalid (unsupported algorithm)").  Run with
Debian's /usr/bin/python3 (python3-dkim is a Debian package).
"""

import os
import re
import subprocess
import tempfile

import dkim

HERE = os.path.dirname(os.path.abspath(__file__))
MAILDKIM_PL = os.path.join(HERE, "maildkim_verify.pl")


def count_signatures(msg):
    head = msg.split(b"\r\n\r\n", 1)[0]
    return len(re.findall(rb"(?im)^dkim-signature[ \t]*:", head))


def dkimpy(msg, records):
    def dnsfunc(name, timeout=5):
        sel = name.split(b".")[0].decode().lower()
        rec = records.get(sel)
        return rec.encode() if rec is not None else None
    out = []
    for i in range(count_signatures(msg)):
        d = dkim.DKIM(msg)
        try:
            out.append(bool(d.verify(idx=i, dnsfunc=dnsfunc)))
        except dkim.DKIMException:
            out.append(False)
    return out


def maildkim(msg, records):
    with tempfile.NamedTemporaryFile(suffix=".eml") as f:
        f.write(msg)
        f.flush()
        args = ["perl", MAILDKIM_PL, f.name]
        args += ["%s=%s" % (s, r) for s, r in records.items()]
        p = subprocess.run(args, capture_output=True, timeout=120)
    res = []
    for line in p.stdout.decode().splitlines():
        result, _, detail = line.partition(" ")
        res.append((result, detail))
    if p.returncode not in (0, 1):
        raise RuntimeError("maildkim_verify.pl: %s" % p.stderr.decode())
    return res
