"""gwtest - the shared harness of smtpgate's integration tests.

A test file imports this module, defines test_* functions (run in the order
they are written) and ends with ``gwtest.main(globals())``.  The harness:

- makes one test PKI per run (certs/mkpki.sh) in a temporary directory;
- starts upstream.py instances (Upstream) and the gateway (Gateway) on free
  loopback ports, waits for them with bounded waits, and always stops them:
  after each test, at exit, and (through PR_SET_PDEATHSIG) even when this
  process is killed.  Each child leads a process group of its own, which
  is signalled whole, so that what a child started (stapleup.py's
  openssl s_server) goes with it; a process left in such a group after
  the test fails the test, named;
- gives tests a raw SMTP client over sockets (Client), so that they can send
  exact bytes (pipelined groups, bare LF) and read parsed replies;
- prints one line per test and "N passed, N failed" at the end, and exits
  non-zero when anything failed.

Environment: SMTPGATE_BIN (the binary, required), SRCDIR (source tree,
default: two levels up), SMTPGATE_KEEP=1 keeps the temporary directory,
GWTEST_ONLY=name[,name] runs only those tests.  SMTPGATE_TEST_RUN marks
every process of a run (set here to a fresh value unless the runner,
scripts/test.sh, gave one): scripts/leftovers.sh finds what a run left
behind by it, and never mistakes another user's test run for ours.

SMTPGATE_VALGRIND=1 runs every Gateway under valgrind's memcheck (log in
the gateway's directory, valgrind.log); an error, a definite or indirect
leak, or exit status 99 fails the test that started it.  Valgrind is slow,
so the harness's own waits (start, replies, stop, per-test and per-file
budgets, wait_for, Client.closed) are multiplied by TIME_SCALE
(SMTPGATE_TIME_SCALE, default 8 under valgrind, 1 otherwise).  A test that
cannot run under valgrind in reasonable time calls skip_under_valgrind();
it is reported as "skip" and counted in "N passed, N failed, N skipped".

SMTPGATE_TEST_LOG_FORMAT=json adds "log_format = json" to the [gateway]
section of every configuration a Gateway writes (unless it names a
log_format itself), checks at stop that every line that gateway wrote is
one JSON object with the fields every line has (a line that is not fails
the test), and gives tests the log as text lines rebuilt from the JSON
(Gateway.log(), wait_log()), so that the suite's checks of text lines
hold in both forms: this checks that the JSON carries what the text does.

Only the Python standard library is used here; upstream.py needs Debian's
python3-aiosmtpd and is run with /usr/bin/python3.
"""

import atexit
import ctypes
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

# smtpgate refuses a group- or world-writable configuration file; under a
# umask of 002 every file the tests write would be one.
os.umask(0o022)

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("SMTPGATE_BIN", "")
PYTHON = "/usr/bin/python3"
UPSTREAM_PY = os.path.join(HERE, "upstream.py")
OCSPFWD_PY = os.path.join(HERE, "ocspfwd.py")
STAPLEUP_PY = os.path.join(HERE, "stapleup.py")
FAULTUP_PY = os.path.join(HERE, "faultup.py")
MKPKI = os.path.join(SRCDIR, "certs", "mkpki.sh")

VALGRIND = os.environ.get("SMTPGATE_VALGRIND") == "1"
VALGRIND_BIN = "/usr/bin/valgrind"
VALGRIND_ARGS = ["--tool=memcheck", "--error-exitcode=99",
                 "--leak-check=full",
                 "--show-leak-kinds=definite,indirect",
                 "--errors-for-leak-kinds=definite,indirect",
                 "--track-fds=no"]
VALGRIND_RE = re.compile(r"ERROR SUMMARY: [1-9]|definitely lost: [1-9]"
                         r"|indirectly lost: [1-9]")
TIME_SCALE = float(os.environ.get("SMTPGATE_TIME_SCALE") or
                   (8 if VALGRIND else 1))

# Seconds per test function, unless it says; for a whole file (ctest
# allows 300); for a child to be ready; for one SMTP reply; for smtpgate to
# exit after SIGTERM.
TEST_TIMEOUT = int(45 * TIME_SCALE)
FILE_BUDGET = int(250 * TIME_SCALE)
START_TIMEOUT = 10 * TIME_SCALE
REPLY_TIMEOUT = 15 * TIME_SCALE
STOP_TIMEOUT = 10 * TIME_SCALE
MAX_REPLY_LINES = 200
MAX_LINE = 8192

# SMTPGATE_TEST_LOG_FORMAT=json: every gateway logs JSON (see docstring)
LOG_FORMAT = os.environ.get("SMTPGATE_TEST_LOG_FORMAT", "")
_LOG_FORMAT_RE = re.compile(r"^\s*log_format\s*=\s*(\S+)", re.M)

SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)"
    r"|runtime error:")

_tmp = None
_pki = None
_ocsp_aia_port = None
_children = []			# every live child process, oldest first

# The run's marker, inherited by every process the tests start (see the
# docstring); unique per run, so other test runs on the machine never match.
RUN_MARK_VAR = "SMTPGATE_TEST_RUN"
if not os.environ.get(RUN_MARK_VAR):
    os.environ[RUN_MARK_VAR] = "gwtest-%d-%d" % (os.getpid(), time.time_ns())
RUN_MARK = os.environ[RUN_MARK_VAR]
_gateways = []			# Gateway objects made by the running test


class TestFailure(Exception):
    """A check did not hold."""


class TestTimeout(Exception):
    """A test ran over its time."""


class TestSkip(Exception):
    """The test does not apply in this run (reported as skip)."""


def proc_status_kb(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM), 0 if absent."""
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith(field + ":"):
                return int(ln.split()[1])
    return 0


def sanitized(pid):
    """True if process pid runs with AddressSanitizer (its memory figures
    then mean nothing: freed memory stays in quarantine)."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def skip_under_valgrind(why="too slow under valgrind"):
    """Call first thing in a test that cannot run under valgrind in
    reasonable time: with SMTPGATE_VALGRIND=1 the test stops here and is
    reported as skipped."""
    if VALGRIND:
        raise TestSkip(why)


# ----------------------------------------------------------------- checks

def check(cond, msg, *args):
    """Fail the running test with msg % args unless cond."""
    if not cond:
        raise TestFailure(msg % args if args else msg)


def check_reply(reply, code, enh=None, what=""):
    """The reply has this code (int, or a str prefix like "4") and, if given,
    this enhanced code (str, or a prefix ending in ".", like "4.7.")."""
    label = (what + ": ") if what else ""
    if isinstance(code, int):
        ok = reply.code == code
    else:
        ok = str(reply.code).startswith(code)
    check(ok, "%swant %s, got %r", label, code, reply)
    if enh is not None:
        if enh.endswith("."):
            ok = (reply.enh or "").startswith(enh)
        else:
            ok = reply.enh == enh
        check(ok, "%swant enhanced code %s, got %r", label, enh, reply)


def check_same_bytes(got, want, what="message"):
    """got == want, or a failure that says where they first differ."""
    if got == want:
        return
    n = min(len(got), len(want))
    i = next((k for k in range(n) if got[k] != want[k]), n)
    lo = max(0, i - 40)
    raise TestFailure(
        "%s differs at byte %d (got %d bytes, want %d): got %r, want %r" %
        (what, i, len(got), len(want), got[lo:i + 40], want[lo:i + 40]))


_FIELD_RE = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|<[^>]*>|\S*)')


def _unvis(v):
    r"""Undo the log's escaping (str_vis): \\, \", \xNN."""
    return re.sub(r'\\(x[0-9a-f]{2}|.)',
                  lambda m: (chr(int(m.group(1)[1:], 16))
                             if len(m.group(1)) == 3 else m.group(1)), v)


def log_fields(line):
    """The key=value fields of one smtpgate log line, as a dict: quoted
    values unescaped, <addresses> without the brackets."""
    out = {}
    for k, v in _FIELD_RE.findall(line):
        if v.startswith('"'):
            v = _unvis(v[1:-1])
        elif v.startswith("<"):
            v = _unvis(v[1:-1])
        out.setdefault(k, v)
    return out


def reply_as_logged(reply):
    """A client's Reply as smtpgate's log writes it: "451 4.4.2 text"
    (one-line replies)."""
    return "%d %s" % (reply.code, reply.text)


def _vis(v, quote=True):
    r"""smtpgate's str_vis on a value: \\, \", \xNN outside printable
    ASCII (on the UTF-8 octets); quote=False: log_escape, which leaves
    backslashes and quotes alone."""
    out = []
    for b in v.encode("utf-8", "surrogateescape"):
        c = chr(b)
        if quote and c in '\\"':
            out.append("\\" + c)
        elif 0x20 <= b < 0x7f:
            out.append(c)
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


# How a log_kv field is written in the text form, where its JSON type does
# not say (src/util/logfmt.h: LOGT_*): addresses in <>, quoted strings,
# values escaped by the caller (LOGT_VIS), bare flags.
_ADDR_KEYS = {"from", "to"}
_QUOTED_KEYS = {"tls", "reply", "reason", "client_cert", "dkim"}
_VIS_KEYS = {"subject", "issuer", "client_cert", "dkim"}
_FLAG_KEYS = {"listener_tls", "failed"}
_HEAD_KEYS = ("time", "level", "pid", "facility", "session", "event",
              "msg", "truncated")


def _text_value(obj, k, v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "%.3fs" % v
    vis = v if k in _VIS_KEYS else _vis(v)
    if k in _ADDR_KEYS and obj.get("event") != "connect":
        return "<%s>" % vis
    quoted = k in _QUOTED_KEYS or (k in ("subject", "issuer") and
                                   "listener_tls" in obj)
    if k == "reason" and obj.get("event") == "smtp message refused":
        quoted = False
    return '"%s"' % vis if quoted else vis


def json_log_line(line):
    """One JSON log line -> (dict, None) or (None, why it is not one)."""
    try:
        obj = json.loads(line)
    except ValueError as e:
        return None, "not JSON (%s)" % e
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    for k, t in (("time", str), ("level", str), ("pid", int)):
        if not isinstance(obj.get(k), t):
            return None, "no %s" % k
    if not isinstance(obj.get("msg", obj.get("event")), str):
        return None, "neither msg nor event"
    if obj["level"] not in ("error", "warning", "info", "debug", "fatal"):
        return None, "level %r" % obj["level"]
    if "session" in obj and not re.fullmatch(r"[0-9a-f]{16}",
                                             str(obj["session"])):
        return None, "session %r" % obj["session"]
    return obj, None


def json_log_text(obj):
    """The text line smtpgate would have written for a JSON line."""
    label = obj["level"]
    if obj.get("facility"):
        label += "/" + obj["facility"]
    head = "%s smtpgate[%d]: %s: " % (re.sub(r"\.\d+Z$", "Z", obj["time"]),
                                      obj["pid"], label)
    sid = obj["session"] + " " if "session" in obj else ""
    if "msg" in obj:
        return head + sid + _vis(obj["msg"], quote=False)
    out = [obj["event"]]
    for k, v in obj.items():
        if k in _HEAD_KEYS:
            continue
        if k in _FLAG_KEYS and v is True:
            out.append(k)
        else:
            out.append("%s=%s" % (k, _text_value(obj, k, v)))
    return head + sid + " ".join(out)


def wait_for(pred, timeout=5.0, interval=0.05):
    """Poll pred() until it returns a true value or timeout (times
    TIME_SCALE); return it."""
    deadline = time.monotonic() + timeout * TIME_SCALE
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def tcp_listening(port, pid="self"):
    """True when a TCP socket on port is listening (state 0A) in the
    network namespace of pid; reads /proc, so it opens no connection."""
    want = ":%04X" % port
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/%s/net/%s" % (pid, name)) as f:
                for ln in f.readlines()[1:]:
                    fs = ln.split()
                    if fs[1].endswith(want) and fs[3] == "0A":
                        return True
        except OSError:
            pass
    return False


def wait_serving(proc, *ports):
    """True once every port listens; False when proc exits first or
    START_TIMEOUT passes (the start of a test peer)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if all(tcp_listening(p) for p in ports):
            return True
        time.sleep(0.05)
    return False


def read_text(path):
    """A peer's log file as text; "" while it does not exist yet."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ------------------------------------------------------------- processes

def _pdeathsig():
    # Runs in the child between fork and exec: die with the test runner,
    # so that a runner killed by ctest's timeout leaves nothing behind;
    # and lead a process group, so that _reap() reaches what the child
    # starts in turn (PDEATHSIG does not pass to grandchildren).
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)	# PR_SET_PDEATHSIG
    except Exception:
        pass


def _spawn(argv, **kw):
    p = subprocess.Popen(argv, preexec_fn=_pdeathsig, **kw)
    _children.append(p)
    return p


def _signal_group(p, sig):
    """sig to p's process group (p leads it), or to p alone if the group
    is gone.  Only while p is not reaped: then its id cannot name anyone
    else's group."""
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass


def _proc_marked(pid):
    """True if /proc/pid carries this run's marker in its environment."""
    want = ("%s=%s" % (RUN_MARK_VAR, RUN_MARK)).encode()
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return want in f.read().split(b"\0")
    except OSError:
        return False


def _proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(
                "utf-8", "replace").strip()
    except OSError:
        return "?"


def group_members(pgid):
    """Live processes of process group pgid that carry this run's marker
    (zombies, already dead, are left out): [(pid, command line)]."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) < 3 or fields[0] == b"Z" or int(fields[2]) != pgid:
            continue
        if _proc_marked(pid):
            out.append((pid, _proc_cmdline(pid)))
    return out


def _kill_leftovers(pgid):
    """Kill what is left in a stopped child's group; return what was."""
    left = group_members(pgid)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return left


_leftovers = []		# [(pid, command line)] found by _reap since reset


def _reap(p, sig=signal.SIGTERM, timeout=10.0):
    """Stop p and its process group (sig, then SIGKILL after timeout);
    return p's exit status and whether it had to be killed.  Processes of
    the group still alive after p is gone are killed and remembered in
    _leftovers (the runner fails the test for them)."""
    killed = False
    if p.poll() is None:
        try:
            _signal_group(p, sig)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            killed = True
            _signal_group(p, signal.SIGKILL)
            p.wait(5)
    # A grandchild may outlive p (it had no reason to notice): give it a
    # moment to follow the signal, then kill what stays.
    if wait_for(lambda: not group_members(p.pid), 2.0, 0.05) is False:
        _leftovers.extend(_kill_leftovers(p.pid))
    if p in _children:
        _children.remove(p)
    return p.returncode, killed


def _kill_all():
    for p in list(_children):
        try:
            _signal_group(p, signal.SIGKILL)
            p.wait(5)
            _kill_leftovers(p.pid)
        except Exception:
            pass
        if p in _children:
            _children.remove(p)


def tmpdir():
    """The run's temporary directory (made on first use)."""
    global _tmp
    if _tmp is None:
        _tmp = tempfile.mkdtemp(prefix="smtpgate-it-")
    return _tmp


def newdir(prefix):
    return tempfile.mkdtemp(prefix=prefix + "-", dir=tmpdir())


def _cleanup():
    _kill_all()
    if _tmp and os.environ.get("SMTPGATE_KEEP") != "1":
        subprocess.run(["rm", "-rf", _tmp], check=False)


def pki():
    """Paths of the test PKI, made once per run: pki()["good-chain"] etc.
    Keys of the dict are the file names without .pem, and NAME.key.
    The ocsp-* leaves name http://127.0.0.1:ocsp_aia_port()/ in their AIA."""
    global _pki
    if _pki is None:
        d = os.path.join(tmpdir(), "pki")
        env = dict(os.environ, MKPKI_OCSP_URL="http://127.0.0.1:%d/"
                   % ocsp_aia_port())
        r = subprocess.run(["bash", MKPKI, d], capture_output=True,
                           text=True, timeout=60 * TIME_SCALE, env=env)
        if r.returncode != 0:
            raise TestFailure("mkpki.sh failed: %s" % r.stderr.strip())
        _pki = {}
        for f in os.listdir(d):
            name, ext = os.path.splitext(f)
            _pki[name if ext == ".pem" else f] = os.path.join(d, f)
    return _pki


def ocsp_aia_port():
    """The loopback port the PKI's AIA OCSP URL names, chosen once per run;
    start an OcspResponder on it to answer the URL."""
    global _ocsp_aia_port
    if _ocsp_aia_port is None:
        _ocsp_aia_port = free_port()
    return _ocsp_aia_port


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago on host."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _tail(path, n=40):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-n:])


# --------------------------------------------------------------- upstream

class Message:
    """One message stored by upstream.py."""

    def __init__(self, base):
        self.base = base
        with open(base + ".eml", "rb") as f:
            self.data = f.read()
        with open(base + ".json", encoding="utf-8") as f:
            self.meta = json.load(f)
        self.mail_from = self.meta["mail_from"]
        self.rcpt_tos = self.meta["rcpt_tos"]
        # the account the upstream session authenticated as, or None
        self.auth_user = self.meta.get("auth_user")
        self.auth_mech = self.meta.get("auth_mech")

    def __repr__(self):
        return "<Message %s from=%s to=%s %d bytes tls=%s>" % (
            os.path.basename(self.base), self.mail_from, self.rcpt_tos,
            len(self.data), self.meta.get("tls_version"))


def auth_args(auth):
    """upstream.py arguments for Upstream(auth={...})."""
    if not auth:
        return []
    argv = []
    for u, pw in (auth.get("users") or {}).items():
        argv += ["--auth-user", "%s=%s" % (u, pw)]
    for u, tok in (auth.get("tokens") or {}).items():
        argv += ["--auth-token", "%s=%s" % (u, tok)]
    if auth.get("mechs"):
        argv += ["--auth-mechs", ",".join(auth["mechs"])]
    for m in auth.get("refuse") or ():
        argv += ["--auth-refuse", m]
    for m, reply in (auth.get("refuse_mech") or {}).items():
        argv += ["--auth-refuse-mech", "%s=%s" % (m, reply)]
    if auth.get("require", True):
        argv.append("--auth-require")
    if auth.get("hide_before_tls"):
        argv.append("--auth-hide-before-tls")
    return argv


class Upstream:
    """An upstream.py process: a real SMTP server on a loopback port.

    mode: starttls | starttls-optional | implicit | plain
    cert: a server identity of the PKI (good, wrongname, untrusted,
    expired, selfsigned); extra: more upstream.py arguments.
    auth: None, or a dict turning AUTH on: users {user: password},
    tokens {user: token}, mechs [offered], refuse [mechs the backend
    refuses with 535], refuse_mech {mech: reply given to the AUTH command
    itself, e.g. "534 5.7.9 ..."}, require (530 to MAIL before AUTH, default True),
    hide_before_tls (no AUTH before STARTTLS)."""

    def __init__(self, mode="starttls", cert="good", extra=(),
                 host="127.0.0.1", auth=None):
        self.mode = mode
        self.host = host
        self.spool = newdir("upstream-" + mode)
        self.log = os.path.join(self.spool, "upstream.log")
        argv = [PYTHON, UPSTREAM_PY, "--host", host, "--port", "0",
                "--mode", mode, "--spool", self.spool, "--stdin-watch"]
        if mode != "plain":
            p = pki()
            argv += ["--cert", p[cert + "-chain"], "--key", p[cert + ".key"]]
        argv += auth_args(auth)
        argv += list(extra)
        with open(self.log, "wb") as logf:
            self.proc = _spawn(argv, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=logf)
        self.port = self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        buf = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                chunk = os.read(fd, 1024)
                if not chunk:
                    break
                buf += chunk
                m = re.search(rb"READY (\d+)\n", buf)
                if m:
                    return int(m.group(1))
            elif self.proc.poll() is not None:
                break
        self.stop()
        raise TestFailure("upstream.py (%s) did not start: %s %s" %
                          (self.mode, buf.decode(errors="replace"),
                           _tail(self.log, 10)))

    def messages(self):
        """Stored messages, in arrival order (only complete ones)."""
        names = sorted(f for f in os.listdir(self.spool)
                       if re.fullmatch(r"\d+\.json", f))
        return [Message(os.path.join(self.spool, n[:-5])) for n in names]

    def wait_messages(self, n, timeout=5.0):
        """Wait until at least n messages are stored; return all of them."""
        wait_for(lambda: len(self.messages()) >= n, timeout)
        return self.messages()

    def events(self, kind=None):
        """Commands the upstream saw (dicts from events.jsonl)."""
        out = []
        try:
            with open(os.path.join(self.spool, "events.jsonl"),
                      encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        out.append(json.loads(line))
        except FileNotFoundError:
            pass
        return [e for e in out if kind is None or e["event"] == kind]

    def stop(self):
        if self.proc.poll() is None:
            _reap(self.proc, timeout=5)
        elif self.proc in _children:
            _children.remove(self.proc)


class FaultUpstream(Upstream):
    """A faultup.py process: an upstream that misbehaves on purpose.

    fault: one of faultup.py's --fault names; mode: starttls | implicit |
    plain; count: fault only the first count connections (0: all), later
    ones deliver.  events() and messages() say what it received."""

    def __init__(self, fault, mode="starttls", cert="good", count=0,
                 extra=(), host="127.0.0.1"):
        self.mode = fault
        self.host = host
        self.spool = newdir("faultup-" + fault)
        self.log = os.path.join(self.spool, "faultup.log")
        argv = [PYTHON, FAULTUP_PY, "--host", host, "--port", "0",
                "--fault", fault, "--mode", mode, "--spool", self.spool,
                "--count", str(count), "--stdin-watch"]
        if mode != "plain":
            p = pki()
            argv += ["--cert", p[cert + "-chain"], "--key", p[cert + ".key"]]
        argv += list(extra)
        with open(self.log, "wb") as logf:
            self.proc = _spawn(argv, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=logf)
        self.port = self._wait_ready()

    def messages(self):
        """Delivered messages (bytes), in arrival order."""
        names = sorted(f for f in os.listdir(self.spool)
                       if re.fullmatch(r"\d+\.eml", f))
        out = []
        for n in names:
            with open(os.path.join(self.spool, n), "rb") as f:
                out.append(f.read())
        return out

    def events(self, kind=None, conn=None):
        """What it saw (dicts from events.jsonl), optionally one kind of
        event or one connection (numbered from 1)."""
        return [e for e in Upstream.events(self, kind)
                if conn is None or e["conn"] == conn]


# ---------------------------------------------------------------- gateway

class OcspResponder:
    """An "openssl ocsp" responder for one CA of the PKI, reachable only on
    127.0.0.1:port.

    openssl ocsp binds every interface, so it runs in a network namespace
    of its own (unshare -n, only lo up) and ocspfwd.py forwards the
    loopback port into it; ocspfwd.py also logs each HTTP request, which
    requests() counts.  ca: "int-ca" (signer ocsp-signer) or "root-ca"
    (root-ocsp-signer); the index is CA.index.txt.  mode: "answer", or
    "silent" (accepts and reads, never answers: no openssl at all), or
    "drip" (answers every request with a 200 header and body one byte
    every 0.5 s, never completing).
    stop_responder() kills openssl but keeps the port: connections are then
    accepted and closed at once, a responder that is down.  Needs
    CAP_SYS_ADMIN for the namespace; without it the test is skipped.
    Answers carry a nextUpdate one day ahead (-ndays 1), so that clients
    may cache them; next_update=False leaves it out (never cached)."""

    def __init__(self, ca="int-ca", mode="answer", port=None,
                 next_update=True):
        self.next_update = next_update
        self.port = port or free_port()
        self.dir = newdir("ocsp")
        self.reqlog = os.path.join(self.dir, "requests.log")
        self.ossl = None
        self.log = os.path.join(self.dir, "openssl-ocsp.log")
        open(self.reqlog, "w").close()
        if mode == "answer":
            self._start_openssl(ca)
            fwd = ["--netns", str(self.ossl.pid), str(self.inner)]
        elif mode in ("silent", "drip"):
            fwd = ["--" + mode]
        else:
            raise TestFailure("OcspResponder: unknown mode %r" % mode)
        self.fwd = _spawn([PYTHON, OCSPFWD_PY, str(self.port), self.reqlog]
                          + fwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
        line = b""
        r, _, _ = select.select([self.fwd.stdout], [], [],
                                START_TIMEOUT)
        if r:
            line = self.fwd.stdout.readline()
        if line.strip() != b"ready":
            self.stop()
            raise TestFailure("ocspfwd.py did not start: %r %s"
                              % (line, _tail(self.log, 5)))

    def _start_openssl(self, ca):
        p = pki()
        signer = "ocsp-signer" if ca == "int-ca" else "root-ocsp-signer"
        if subprocess.run(["unshare", "-n", "true"], capture_output=True,
                          timeout=10).returncode != 0:
            raise TestSkip("no network namespace (unshare -n needs "
                           "CAP_SYS_ADMIN) for the OCSP responder")
        # Inside its own namespace any port is free.
        self.inner = 8888
        script = ('ip link set lo up && exec openssl ocsp -index "$1" '
                  '-CA "$2" -rsigner "$3" -rkey "$4" -port "$5" '
                  '-ignore_err' + (' -ndays 1' if self.next_update
                                   else ''))
        with open(self.log, "wb") as logf:
            self.ossl = _spawn(["unshare", "-n", "sh", "-c", script, "sh",
                                p[ca + ".index.txt"], p[ca], p[signer],
                                p[signer + ".key"], str(self.inner)],
                               stdout=logf, stderr=subprocess.STDOUT)
        # /proc/PID/net/tcp shows the sockets of PID's own namespace.
        def listening():
            if tcp_listening(self.inner, self.ossl.pid):
                return True
            if self.ossl.poll() is not None:
                raise TestFailure("openssl ocsp exited: %s"
                                  % _tail(self.log, 10))
            return False
        wait_for(listening, START_TIMEOUT)

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def requests(self):
        """HTTP requests received so far ("POST /" lines)."""
        with open(self.reqlog, encoding="latin-1") as f:
            return [ln.rstrip("\n") for ln in f if ln.strip()]

    def stop_responder(self):
        if self.ossl is not None:
            _reap(self.ossl, timeout=5)

    def stop(self):
        self.stop_responder()
        if getattr(self, "fwd", None) is not None:
            _reap(self.fwd, timeout=5)


def ocsp_staple(cert):
    """A DER OCSP answer for the PKI leaf cert (ocsp-good, ocsp-revoked),
    signed by the intermediate's OCSP signer as openssl ocsp answers it,
    valid for a day: what a stapling server sends."""
    p = pki()
    out = os.path.join(os.path.dirname(p["int-ca"]), cert + ".staple.der")
    if os.path.exists(out):
        return out
    req = out + ".req"
    for argv in (["openssl", "ocsp", "-issuer", p["int-ca"], "-cert", p[cert],
                  "-no_nonce", "-reqout", req],
                 ["openssl", "ocsp", "-index", p["int-ca.index.txt"],
                  "-CA", p["int-ca"], "-rsigner", p["ocsp-signer"],
                  "-rkey", p["ocsp-signer.key"], "-reqin", req,
                  "-respout", out, "-ndays", "1"]):
        r = subprocess.run(argv, capture_output=True, timeout=30)
        if r.returncode != 0:
            raise TestFailure("openssl ocsp: %s" % r.stderr.decode(
                errors="replace"))
    return out


class StapleUpstream(Upstream):
    """An implicit-TLS SMTP server that staples an OCSP answer
    (stapleup.py over `openssl s_server -status_file`).  staple: a PKI
    leaf name whose OCSP answer is stapled (ocsp-good, ocsp-revoked), or
    None for a server that staples nothing; cert: the server's identity.
    One connection at a time; messages() and events() as Upstream."""

    def __init__(self, cert="ocsp-good", staple="ocsp-good"):
        p = pki()
        self.mode = "implicit"
        self.host = "127.0.0.1"
        self.spool = newdir("upstream-staple")
        self.log = os.path.join(self.spool, "upstream.log")
        status = ocsp_staple(staple) if staple else "-"
        argv = [PYTHON, STAPLEUP_PY, str(free_port()), self.spool, p[cert],
                p[cert + ".key"], p["int-ca"], status]
        with open(self.log, "wb") as logf:
            self.proc = _spawn(argv, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=logf)
        self.port = self._wait_ready()

    def connections(self):
        return len(self.events("connection"))


class GatewayError(TestFailure):
    pass


def ini(sections):
    """INI text from [(header, {key: value})]; None values are left out."""
    out = []
    for header, keys in sections:
        out.append("[%s]" % header)
        for k, v in keys.items():
            if v is not None:
                out.append("%s = %s" % (k, v))
        out.append("")
    return "\n".join(out)


def config_text(listen_port, upstream_port, gateway=None, listener=None,
                upstream=None, listen_host="127.0.0.1"):
    """A gateway configuration: one listener "test" relaying to upstream
    "up" on loopback over STARTTLS, verified against the test PKI.
    The three dicts override or (with None) remove keys."""
    lh = "[%s]" % listen_host if ":" in listen_host else listen_host
    g = {"hostname": "gw.test", "log_level": "debug"}
    lst = {"listen": "%s:%d" % (lh, listen_port),
           "allow": "127.0.0.0/8, ::1/128", "upstream": "up"}
    up = {"host": "127.0.0.1", "port": str(upstream_port),
          "tls": "starttls", "ca_file": pki()["ca-bundle"],
          "verify_hostname": "yes", "tls_name": "localhost",
          "helo_name": "gw.test", "connect_timeout": "5",
          "command_timeout": "20"}
    g.update(gateway or {})
    lst.update(listener or {})
    up.update(upstream or {})
    return ini([("gateway", g), ("listener test", lst), ("upstream up", up)])


def _with_log_format(text, fmt):
    """text with "log_format = fmt" as the last key of [gateway] (a new
    [gateway] section at the end if there is none)."""
    lines = text.split("\n")
    for i, ln in enumerate(lines):
        if ln.strip().lower() == "[gateway]":
            j = i + 1
            while j < len(lines) and not lines[j].lstrip().startswith("["):
                j += 1
            while j > i + 1 and not lines[j - 1].strip():
                j -= 1
            lines.insert(j, "log_format = %s" % fmt)
            return "\n".join(lines)
    return text + "\n[gateway]\nlog_format = %s\n" % fmt


class Gateway:
    """The smtpgate binary, started with -c on a written configuration.

    Gateway(upstream=Upstream(...), listener={...}, upstream_conf={...})
    or Gateway(text=...) for a configuration written by hand (then port
    must be given)."""

    def __init__(self, upstream=None, gateway=None, listener=None,
                 upstream_conf=None, text=None, port=None,
                 listen_host="127.0.0.1", start=True):
        self.dir = newdir("gateway")
        self.path = os.path.join(self.dir, "smtpgate.ini")
        self.logpath = os.path.join(self.dir, "smtpgate.log")
        self.host = listen_host
        self.proc = None
        self._args = (upstream, gateway, listener, upstream_conf, text,
                      port)
        _gateways.append(self)		# the runner stops it after the test
        if start:
            self.start()

    def _write(self, port):
        upstream, gateway, listener, upstream_conf, text, _ = self._args
        if text is None:
            uport = upstream.port if upstream else free_port()
            text = config_text(port, uport, gateway, listener,
                               upstream_conf, self.host)
        self.write_config(text)

    def write_config(self, text):
        """(Re)write the configuration file; SMTPGATE_TEST_LOG_FORMAT
        goes into its [gateway] section (at the section's end, so that
        only the lines of the sections after it move)."""
        if LOG_FORMAT and not _LOG_FORMAT_RE.search(text):
            text = _with_log_format(text, LOG_FORMAT)
        m = _LOG_FORMAT_RE.search(text)
        self.json = bool(m) and m.group(1).lower() == "json"
        self.config = text
        with open(self.path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.rename(self.path + ".tmp", self.path)

    def start(self):
        if not BIN or not os.access(BIN, os.X_OK):
            raise GatewayError("SMTPGATE_BIN is not an executable: %r" % BIN)
        fixed = self._args[5]
        for attempt in range(3):
            self.port = fixed or free_port(self.host)
            self._write(self.port)
            self.logf = open(self.logpath, "ab")
            self.proc = _spawn(self._argv(), stdin=subprocess.DEVNULL,
                               stdout=self.logf, stderr=subprocess.STDOUT)
            if self._wait_listening():
                return
            # Lost a race for the port?  Try another one.
            log = self.log()
            if fixed or not re.search(r"in use|bind", log, re.I):
                break
            _reap(self.proc, timeout=5)
            self.logf.close()
        raise GatewayError("smtpgate did not start listening on %s:%d "
                           "(exit status %s; its log is below)" %
                           (self.host, self.port, self.proc.poll()))

    def _argv(self):
        """The command line; under valgrind, wrapped in memcheck with a
        fresh log file per start (valgrind.log, valgrind.2.log, ...)."""
        argv = [BIN, "-c", self.path]
        if not VALGRIND:
            self.vglog = None
            return argv
        if not os.access(VALGRIND_BIN, os.X_OK):
            raise GatewayError("SMTPGATE_VALGRIND=1 but %s is missing "
                               "(Debian package valgrind)" % VALGRIND_BIN)
        self._starts = getattr(self, "_starts", 0) + 1
        name = ("valgrind.log" if self._starts == 1 else
                "valgrind.%d.log" % self._starts)
        self.vglog = os.path.join(self.dir, name)
        return ([VALGRIND_BIN] + VALGRIND_ARGS +
                ["--log-file=" + self.vglog] + argv)

    def valgrind_problems(self, rc=None):
        """Problems valgrind reported for the last start (a list)."""
        if not getattr(self, "vglog", None):
            return []
        out = []
        try:
            with open(self.vglog, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        if rc == 99:
            out.append("valgrind: exit status 99 (memcheck errors)")
        if VALGRIND_RE.search(text):
            lines = [ln for ln in text.splitlines()
                     if re.search(r"ERROR SUMMARY|definitely lost|"
                                  r"indirectly lost", ln)]
            out.append("valgrind reported errors in %s: %s\n%s" %
                       (self.vglog, "; ".join(lines), _tail(self.vglog, 80)))
        elif rc == 99:
            out.append("valgrind log %s:\n%s" % (self.vglog,
                                                 _tail(self.vglog, 80)))
        return out

    def _wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                s = socket.create_connection((self.host, self.port), 1)
            except OSError:
                time.sleep(0.05)
                continue
            # Be polite: read the greeting and say QUIT, so the probe does
            # not show up as an error in the gateway's log.
            # Wait for the gateway to close, so that the probe's session
            # is gone before the test counts sessions.
            try:
                s.settimeout(3)
                data = s.recv(512)
                if data.startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    for _ in range(10):
                        if not s.recv(512):
                            break
            except OSError:
                pass
            finally:
                s.close()
            return True
        return False

    def client(self, **kw):
        """A Client connected to this gateway's listener."""
        return Client(self.port, host=self.host, **kw)

    def log_raw(self):
        """The log file as it is."""
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log(self):
        """The log as text lines: as written, or rebuilt from JSON lines
        (log_format = json; a line that is not JSON is kept as it is, and
        stop() reports it)."""
        raw = self.log_raw()
        if not getattr(self, "json", False):
            return raw
        out = []
        for ln in raw.splitlines(True):
            obj, _ = json_log_line(ln)
            out.append(json_log_text(obj) + "\n" if obj else ln)
        return "".join(out)

    def json_problems(self):
        """The lines of a JSON log that are not log lines (a list)."""
        if not getattr(self, "json", False):
            return []
        bad, good = [], 0
        for n, ln in enumerate(self.log_raw().splitlines(), 1):
            _, why = json_log_line(ln)
            if why:
                bad.append("%s:%d: %s: %r" % (self.logpath, n, why,
                                               ln[:300]))
            else:
                good += 1
        # a file that does not load is reported before log_format is
        # known, in plain text (docs/operations.md): not a log line
        return bad if good else []

    def wait_log(self, pattern, timeout=5.0, start=0):
        """Wait for a regex in the log (from offset start); return the
        match or None."""
        rx = re.compile(pattern, re.M)
        return wait_for(lambda: rx.search(self.log(), start), timeout)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        """SIGTERM, wait, and report problems: exit status not 0, killed
        after the grace time, or a sanitizer report in the log.
        Returns a list of problem strings (empty if none)."""
        if self.proc is None:
            return []
        problems = []
        was_running = self.proc.poll() is None
        rc, killed = _reap(self.proc, signal.SIGTERM, timeout=STOP_TIMEOUT)
        self.logf.close()
        if killed:
            problems.append("smtpgate did not exit within %d s of SIGTERM"
                            % STOP_TIMEOUT)
        elif VALGRIND and rc == 99:
            pass			# valgrind_problems() says what
        elif was_running and rc != 0:
            problems.append("smtpgate exited with status %s after SIGTERM"
                            % rc)
        elif not was_running and not getattr(self, "exit_expected", False):
            problems.append("smtpgate had exited by itself (status %s)" % rc)
        m = SANITIZER_RE.search(self.log())
        if m:
            problems.append("sanitizer report in smtpgate's log: %s"
                            % self.log()[m.start():m.start() + 2000])
        if not killed:
            problems += self.valgrind_problems(rc)
        bad = self.json_problems()
        if bad:
            problems.append("%d line(s) of a log_format = json log are not "
                            "JSON log lines: %s" % (len(bad),
                                                    "; ".join(bad[:5])))
        self.proc = None
        return problems


# ----------------------------------------------------------------- client

class Reply:
    """A parsed SMTP reply: code (int), enh ("2.1.0" or None), lines (text
    after "NNN-"/"NNN "), raw (bytes, all lines with CRLF)."""

    ENH_RE = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)")

    def __init__(self, code, lines, raw):
        self.code = code
        self.lines = lines
        self.raw = raw
        m = self.ENH_RE.match(lines[0]) if lines else None
        self.enh = ".".join(m.groups()) if m else None

    @property
    def text(self):
        return "\n".join(self.lines)

    def __repr__(self):
        return "<Reply %r>" % self.raw.decode("utf-8", "replace").strip()


class Client:
    """A raw SMTP client.  Every read has a deadline; nothing blocks for
    longer than the timeout."""

    def __init__(self, port, host="127.0.0.1", timeout=REPLY_TIMEOUT,
                 source=None):
        self.timeout = timeout
        src = (source, 0) if source else None
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=src)
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """Send exact bytes."""
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure("timed out waiting for the gateway "
                              "(have %r)" % self.buf[:200])
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TestFailure("timed out waiting for the gateway "
                              "(have %r)" % self.buf[:200])
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk

    def readline(self, deadline):
        """One line ending in CRLF (without it).  A bare LF in a reply is a
        protocol violation by the gateway and fails the test."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                check(line.endswith(b"\r\n"),
                      "reply line not ended by CRLF: %r", line)
                return line[:-2]
            check(len(self.buf) <= MAX_LINE, "reply line too long: %r...",
                  self.buf[:100])
            if self.eof:
                raise TestFailure("connection closed by the gateway "
                                  "(pending %r)" % self.buf)
            self._fill(deadline)

    def reply(self, timeout=None):
        """Read one (possibly multi-line) reply.  An explicit timeout is
        multiplied by TIME_SCALE (the default one already is)."""
        deadline = time.monotonic() + (timeout * TIME_SCALE if timeout
                                       else self.timeout)
        lines, raw, code = [], b"", None
        for _ in range(MAX_REPLY_LINES):
            line = self.readline(deadline)
            raw += line + b"\r\n"
            m = re.fullmatch(rb"([2-5][0-9][0-9])([ -])(.*)", line, re.S)
            if not m and re.fullmatch(rb"[2-5][0-9][0-9]", line):
                m = re.fullmatch(rb"([2-5][0-9][0-9])()()", line)
            check(m is not None, "malformed reply line: %r", line)
            c = int(m.group(1))
            check(code is None or c == code,
                  "reply code changed inside a multi-line reply: %r", raw)
            code = c
            lines.append(m.group(3).decode("utf-8", "replace"))
            if m.group(2) != b"-":
                return Reply(code, lines, raw)
        raise TestFailure("reply longer than %d lines" % MAX_REPLY_LINES)

    def replies(self, n, timeout=None):
        return [self.reply(timeout) for _ in range(n)]

    def cmd(self, line, timeout=None):
        """Send one command line (CRLF added) and read its reply."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.reply(timeout)

    def greeting(self):
        return self.reply()

    def ehlo(self, name="client.test"):
        r = self.cmd("EHLO " + name)
        r.keywords = {}
        for ln in r.lines[1:]:
            parts = ln.split()
            if parts:
                r.keywords[parts[0].upper()] = parts[1:]
        return r

    def start(self, name="client.test"):
        """Greeting and EHLO, both checked for success; returns EHLO."""
        check_reply(self.greeting(), 220, what="greeting")
        r = self.ehlo(name)
        check_reply(r, 250, what="EHLO")
        return r

    def data(self, message, stuff=True, timeout=None):
        """DATA (expects 354), then the message (dot-stuffed unless told
        not to) and the end "CRLF.CRLF"; returns the final reply."""
        r = self.cmd("DATA")
        check_reply(r, 354, what="DATA")
        self.send_message(message, stuff)
        return self.reply(timeout)

    def send_message(self, message, stuff=True):
        body = dot_stuff(message) if stuff else message
        self.send(body + b".\r\n")

    def closed(self, timeout=3.0):
        """True if the gateway closes the connection within timeout (times
        TIME_SCALE; data that arrives first is kept in the buffer)."""
        deadline = time.monotonic() + timeout * TIME_SCALE
        while not self.eof:
            try:
                self._fill(deadline)
            except TestFailure:
                return False
        return True

    def pending(self, wait=0.3):
        """Bytes that arrive within wait seconds without a command."""
        deadline = time.monotonic() + wait
        while not self.eof and time.monotonic() < deadline:
            try:
                self._fill(deadline)
            except TestFailure:
                break
        return self.buf


def transaction(client, sender, rcpts, message, size=None):
    """MAIL, RCPT..., DATA, message, in lockstep; returns the list of
    replies.  Stops at the first MAIL or DATA failure."""
    out = []
    mail = "MAIL FROM:<%s>" % sender
    if size is not None:
        mail += " SIZE=%d" % size
    r = client.cmd(mail)
    out.append(r)
    if r.code != 250:
        return out
    ok = False
    for rc in rcpts:
        r = client.cmd("RCPT TO:<%s>" % rc)
        out.append(r)
        ok = ok or r.code in (250, 251)
    if not ok:
        return out
    r = client.cmd("DATA")
    out.append(r)
    if r.code != 354:
        return out
    client.send_message(message)
    out.append(client.reply(timeout=60))
    return out


def dot_stuff(message):
    """SMTP transparency (RFC 5321 4.5.2): a line starting with "." gets
    one more.  message must end with CRLF."""
    check(message.endswith(b"\r\n"), "test bug: message must end with CRLF")
    if message.startswith(b"."):
        message = b"." + message
    return message.replace(b"\r\n.", b"\r\n..")


def sample_message(subject="smtpgate test", extra=b""):
    """A message with the awkward parts a relay must keep byte for byte:
    lines starting with dots, a lone-dot line, 8-bit UTF-8, tabs and
    trailing blanks, empty lines, a 998-octet line, "From " at the start."""
    long_line = b"L" * 998
    return (b"From: Sender <sender@example.test>\r\n"
            b"To: Rcpt <rcpt@example.test>\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <gwtest.1@example.test>\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"\r\n"
            b"Hello,\r\n"
            b".\r\n"
            b"..two dots\r\n"
            b".leading dot\r\n"
            b"From the start of a line\r\n"
            b"tab\there, trailing blanks   \r\n"
            b"\r\n"
            b"\r\n"
            b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7\r\n"
            + long_line + b"\r\n"
            + extra +
            b"-- \r\n"
            b"end\r\n")


def big_message(size):
    """A deterministic message of about size bytes (76-octet lines, some
    starting with a dot)."""
    head = (b"From: big@example.test\r\nTo: rcpt@example.test\r\n"
            b"Subject: big\r\n\r\n")
    lines = [head]
    total = len(head)
    i = 0
    while total < size:
        if i % 97 == 0:
            line = b"." + (b"%09d" % i) + b"." * 66 + b"\r\n"
        else:
            line = (b"%09d " % i) + bytes((65 + (i + k) % 26)
                                          for k in range(66)) + b"\r\n"
        lines.append(line)
        total += len(line)
        i += 1
    return b"".join(lines)


# ----------------------------------------------------------------- runner

def _on_alarm(signum, frame):
    raise TestTimeout()


def _budget(fn):
    t = getattr(fn, "timeout", None)
    return int(t * TIME_SCALE) if t else TEST_TIMEOUT


def timeout(seconds):
    """Decorator: this test may take longer than TEST_TIMEOUT (the given
    seconds are multiplied by TIME_SCALE)."""
    def deco(fn):
        fn.timeout = seconds
        return fn
    return deco


def main(ns):
    """Run the test_* functions of a test module's namespace."""
    atexit.register(_cleanup)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))
    signal.signal(signal.SIGALRM, _on_alarm)
    only = [s for s in os.environ.get("GWTEST_ONLY", "").split(",") if s]
    tests = [(n, f) for n, f in ns.items()
             if n.startswith("test_") and callable(f)
             and (not only or n in only)]
    file = os.path.basename(ns.get("__file__", "?"))
    start = time.monotonic()
    passed = failed = skipped = 0
    binary_ok = bool(BIN) and os.access(BIN, os.X_OK)
    if not binary_ok:
        print("# SMTPGATE_BIN is not an executable (%r): every test fails"
              % BIN, flush=True)
    for name, fn in tests:
        if not binary_ok:
            print("FAIL %s: no smtpgate binary" % name, flush=True)
            failed += 1
            continue
        if time.monotonic() - start > FILE_BUDGET:
            print("FAIL %s: not run, %s used its %d s budget"
                  % (name, file, FILE_BUDGET), flush=True)
            failed += 1
            continue
        t0 = time.monotonic()
        err = None
        before = list(_children)
        gateways = _gateways
        del gateways[:]
        budget = _budget(fn)
        skip = None
        signal.alarm(budget)
        try:
            fn()
        except TestSkip as e:
            skip = str(e) or "skipped"
        except TestFailure as e:
            err = str(e)
        except TestTimeout:
            err = "timed out after %d s" % budget
        except Exception:
            err = "exception:\n" + traceback.format_exc()
        finally:
            signal.alarm(0)
        # Stop what the test started, and look at how the gateways ended.
        logs = []
        for gw in gateways:
            try:
                problems = gw.stop()
            except Exception as e:	# never let cleanup hide a result
                problems = ["stopping smtpgate: %s" % e]
            if problems and err is None:
                err = "; ".join(problems)
            logs.append(gw.logpath)
        for p in list(_children):
            if p not in before:
                _reap(p, timeout=5)
        if _leftovers and err is None:
            err = ("processes left behind (killed now): %s" %
                   "; ".join("%d %s" % pc for pc in _leftovers))
        del _leftovers[:]
        dt = time.monotonic() - t0
        if err is None and skip is not None:
            skipped += 1
            print("skip %s: %s" % (name, skip), flush=True)
        elif err is None:
            passed += 1
            print("ok   %s (%.2fs)" % (name, dt), flush=True)
        else:
            failed += 1
            print("FAIL %s (%.2fs): %s" % (name, dt, err), flush=True)
            for lp in logs:
                tail = _tail(lp, 30)
                if tail:
                    print("     smtpgate log %s (last lines):" % lp)
                    for ln in tail.splitlines():
                        print("     | " + ln)
            sys.stdout.flush()
    if failed and _tmp:
        os.environ["SMTPGATE_KEEP"] = "1"
        print("# files kept in %s" % _tmp)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped),
          flush=True)
    sys.exit(1 if failed or not tests else 0)


