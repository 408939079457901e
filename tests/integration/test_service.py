#!/usr/bin/python3
"""Running smtpgate as a service: the sd_notify protocol end to end
(READY=1, RELOADING=1 + READY=1 with a STATUS after a good and a failed
reload, STOPPING=1) against a datagram socket this test binds; "-n" (the
effective configuration: loads again, prints the same, never a secret);
"cmake --install" into a DESTDIR; the systemd unit under
"systemd-analyze verify" and its sysusers.d file under systemd-sysusers;
the man pages under "mandoc -T lint"; and a real start under systemd
when systemd is PID 1 here."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import BIN, SRCDIR, Gateway, TestSkip, check  # noqa: E402

EXAMPLE = os.path.join(SRCDIR, "etc", "smtpgate.ini")
MAN_PAGES = [os.path.join(SRCDIR, "docs", "man", p)
             for p in ("smtpgate.8", "smtpgate.ini.5")]
UNIT = os.path.join(SRCDIR, "deploy", "systemd", "smtpgate.service")
SECRET = "correct-horse-battery-staple-7d1f"


def run(argv, timeout=60, env=None):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout, env=env)
    r.out = r.stdout.decode("utf-8", "replace")
    r.err = r.stderr.decode("utf-8", "replace")
    return r


def smtpgate(*args):
    """The binary with args; under SMTPGATE_VALGRIND=1 inside memcheck,
    whose findings fail the test (exit status 99)."""
    argv = [BIN] + list(args)
    vglog = None
    if gwtest.VALGRIND:
        vglog = os.path.join(gwtest.newdir("vg"), "valgrind.log")
        argv = ([gwtest.VALGRIND_BIN] + gwtest.VALGRIND_ARGS +
                ["--log-file=" + vglog] + argv)
    r = run(argv, timeout=60 * gwtest.TIME_SCALE)
    if vglog:
        check(r.returncode != 99, "valgrind: %s", gwtest._tail(vglog, 60))
    return r


def need(tool, package):
    """A checker the tests depend on: missing is a failure, not a skip
    (scripts/install-deps.sh installs it)."""
    path = shutil.which(tool)
    check(path is not None, "%s not found: install the Debian package %s "
          "(scripts/install-deps.sh)", tool, package)
    return path


# ------------------------------------------------------------- notify

class NotifySocket:
    """The service manager's end: a bound AF_UNIX datagram socket, a path
    in the test's directory or an abstract name."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            self.name = "@smtpgate-test-notify-%d-%d" % (os.getpid(),
                                                         time.time_ns())
            self.sock.bind("\0" + self.name[1:])
        else:
            self.name = os.path.join(gwtest.newdir("notify"), "notify")
            self.sock.bind(self.name)

    def recv(self, timeout=None):
        """The next datagram as a dict of its KEY=VALUE lines."""
        self.sock.settimeout(timeout or gwtest.REPLY_TIMEOUT)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            raise gwtest.TestFailure("no notification within %s s" %
                                     (timeout or gwtest.REPLY_TIMEOUT))
        fields = {}
        for line in data.decode("utf-8", "replace").split("\n"):
            k, _, v = line.partition("=")
            check(k and k not in fields, "bad or repeated field %r in %r",
                  k, data)
            fields[k] = v
        return fields

    def expect(self, key, timeout=None):
        """Datagrams until one carries key; the ones before are returned
        too, in order, for the caller's checks."""
        seen = []
        deadline = time.monotonic() + (timeout or gwtest.REPLY_TIMEOUT)
        for _ in range(20):
            left = deadline - time.monotonic()
            check(left > 0, "no %s= notification; got %r", key, seen)
            f = self.recv(left)
            seen.append(f)
            if key in f:
                return f, seen
        raise gwtest.TestFailure("no %s= in 20 notifications: %r"
                                 % (key, seen))

    def nothing(self, wait=0.3):
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return
        raise gwtest.TestFailure("unexpected notification %r" % data)

    def close(self):
        self.sock.close()


def gateway_notifying(ns):
    """A gateway started with NOTIFY_SOCKET pointing at ns."""
    os.environ["NOTIFY_SOCKET"] = ns.name
    try:
        return Gateway(upstream=None)
    finally:
        del os.environ["NOTIFY_SOCKET"]


def test_notify_ready_reload_stop():
    ns = NotifySocket()
    try:
        gw = gateway_notifying(ns)
        f, _ = ns.expect("READY")
        check(f["READY"] == "1" and
              f.get("STATUS", "").startswith("ready: 1 listener(s)"),
              "first notification %r", f)
        gw.wait_log(r"notifying the service manager", 5)

        # A good reload: RELOADING=1 with its clock, then READY=1.
        gw.signal(signal.SIGHUP)
        f = ns.recv()
        check(f.get("RELOADING") == "1", "at SIGHUP: %r", f)
        check(re.fullmatch(r"[1-9][0-9]*", f.get("MONOTONIC_USEC", "")),
              "RELOADING=1 without MONOTONIC_USEC: %r", f)
        usec = int(f["MONOTONIC_USEC"])
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        check(0 <= now - usec < 60 * 10**6 * gwtest.TIME_SCALE,
              "MONOTONIC_USEC %d is not CLOCK_MONOTONIC (now %d)", usec, now)
        f = ns.recv()
        check(f.get("READY") == "1" and
              f.get("STATUS") == "ready; configuration reloaded",
              "after a good reload: %r", f)

        # A failed reload: the first error in STATUS, the old file serves.
        good = gw.config
        lines = good.split("\n")
        gw.write_config(good.replace("[gateway]\n",
                                     "[gateway]\nmax_sessions = lots\n", 1))
        bad_line = lines.index("[gateway]") + 2
        gw.signal(signal.SIGHUP)
        f = ns.recv()
        check(f.get("RELOADING") == "1", "at the second SIGHUP: %r", f)
        f = ns.recv()
        want = "reload failed: %s:%d: max_sessions: " % (gw.path, bad_line)
        check(f.get("READY") == "1" and
              f.get("STATUS", "").startswith(want) and
              f["STATUS"].endswith("(1 error(s)); running the previous "
                                   "configuration"),
              "after a failed reload: %r (want STATUS=%s...)", f, want)
        check(gw.alive(), "smtpgate died on a failed reload")
        with gw.client() as c:
            check(c.reply().code == 220, "no greeting after a failed reload")
        ns.nothing()

        # SIGTERM: STOPPING=1 as the drain starts.
        problems = gw.stop()
        check(not problems, "%s", "; ".join(problems))
        f, _ = ns.expect("STOPPING")
        check(f["STOPPING"] == "1" and "STATUS" in f, "at SIGTERM: %r", f)
    finally:
        ns.close()


def test_notify_abstract_socket():
    """NOTIFY_SOCKET=@name: the abstract namespace systemd also uses."""
    ns = NotifySocket(abstract=True)
    try:
        gw = gateway_notifying(ns)
        f, _ = ns.expect("READY")
        check(f["READY"] == "1", "READY over an abstract socket: %r", f)
        check(not gw.stop(), "stop failed")
        ns.expect("STOPPING")
    finally:
        ns.close()


def test_notify_unusable_socket_is_a_warning():
    """A NOTIFY_SOCKET that cannot be used must not stop the mail."""
    os.environ["NOTIFY_SOCKET"] = "relative/not-a-socket"
    try:
        gw = Gateway(upstream=None)
    finally:
        del os.environ["NOTIFY_SOCKET"]
    gw.wait_log(r"NOTIFY_SOCKET: neither an absolute path", 5)
    with gw.client() as c:
        check(c.reply().code == 220, "no greeting")


# ------------------------------------------------------------------ -n

def test_print_example_loads_again():
    r = smtpgate("-n", "-c", EXAMPLE)
    check(r.returncode == 0, "-n on the example: exit %d: %s",
          r.returncode, r.err)
    path = os.path.join(gwtest.newdir("printed"), "printed.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(r.out)
    t = smtpgate("-t", "-c", path)
    check(t.returncode == 0, "-t on the printed example: exit %d: %s",
          t.returncode, t.err)
    again = smtpgate("-n", "-c", path)
    check(again.returncode == 0 and again.out == r.out,
          "printed again, not the same:\n%s\n----\n%s", r.out, again.out)
    for line in ("[gateway]", "[listener local]", "[upstream provider]",
                 "host = smtp.example.com", "listen = 127.0.0.1:2525, "
                 "[::1]:2525", "max_sessions = 1000  ; default",
                 "tls = starttls  ; default"):
        check(line in r.out.split("\n"), "no line %r in:\n%s", line, r.out)
    keys = [ln for ln in r.out.split("\n") if re.match(r"^[a-z_0-9]+ =",
                                                       ln)]
    check(len(keys) > 100, "only %d keys printed", len(keys))


def test_print_never_shows_a_secret():
    d = gwtest.newdir("secrets")
    files = {}
    for name in ("provider.pass", "listener.key", "dkim.key"):
        files[name] = os.path.join(d, name)
        with open(files[name], "w") as f:
            f.write(SECRET + "\n")
        os.chmod(files[name], 0o600)
    p = gwtest.pki()
    text = gwtest.config_text(
        gwtest.free_port(), gwtest.free_port(),
        listener={"tls": "starttls", "tls_cert": p["good-chain"],
                  "tls_key": files["listener.key"]},
        upstream={"auth": "inject", "username": "relay@example.test",
                  "password_file": files["provider.pass"]})
    text += ("\n[dkim d]\ndomain = example.test\nselector = s\n"
             "key_file = %s\n" % files["dkim.key"])
    path = os.path.join(d, "smtpgate.ini")
    with open(path, "w") as f:
        f.write(text)
    r = smtpgate("-n", "-c", path)
    check(r.returncode == 0, "-n: exit %d: %s", r.returncode, r.err)
    check(SECRET not in r.out + r.err, "a secret's contents were printed")
    for key, name in (("password_file", "provider.pass"),
                      ("tls_key", "listener.key"),
                      ("key_file", "dkim.key")):
        check("%s = %s" % (key, files[name]) in r.out,
              "%s not shown by its path:\n%s", key, r.out)


def test_print_and_check_together_is_a_usage_error():
    r = smtpgate("-n", "-t", "-c", EXAMPLE)
    check(r.returncode == 2 and "usage" in r.err,
          "-n -t: exit %d: %s", r.returncode, r.err)


# ----------------------------------------------------- install, unit, man

def build_dir():
    d = os.path.dirname(os.path.abspath(BIN))
    if not os.path.exists(os.path.join(d, "cmake_install.cmake")):
        raise TestSkip("%s is not in a CMake build directory: cannot run "
                       "cmake --install" % BIN)
    return d


def install_tree():
    """DESTDIR=... cmake --install BUILD; returns (destdir, {name: path})."""
    cmake = need("cmake", "cmake")
    dest = gwtest.newdir("destdir")
    r = run([cmake, "--install", build_dir()],
            env=dict(os.environ, DESTDIR=dest), timeout=120)
    check(r.returncode == 0, "cmake --install: exit %d: %s%s",
          r.returncode, r.out, r.err)
    landed = {}
    for root, _, names in os.walk(dest):
        for n in names:
            landed[os.path.relpath(os.path.join(root, n), dest)] = \
                os.path.join(root, n)
    print("# installed: %s" % ", ".join(sorted(landed)), flush=True)
    return dest, landed


def one(landed, pattern):
    hits = [p for p in landed if re.search(pattern, p)]
    check(len(hits) == 1, "want one file like %s, installed: %s", pattern,
          sorted(landed))
    return hits[0]


def test_cmake_install_layout():
    dest, landed = install_tree()
    sbin = one(landed, r"(^|/)sbin/smtpgate$")
    one(landed, r"(^|/)etc/smtpgate/smtpgate\.ini\.example$")
    one(landed, r"/man/man8/smtpgate\.8$")
    one(landed, r"/man/man5/smtpgate\.ini\.5$")
    one(landed, r"/lib/systemd/system/smtpgate\.service$")
    one(landed, r"/lib/sysusers\.d/smtpgate\.conf$")
    check(len(landed) == 6, "unexpected files installed: %s", sorted(landed))
    check(not any(p.endswith("etc/smtpgate/smtpgate.ini") for p in landed),
          "an operator's smtpgate.ini would be overwritten")
    r = run([landed[sbin], "--version"])
    check(r.returncode == 0, "installed binary: %s", r.err)
    # the unit names this install's own binary and configuration
    unit = open(landed[one(landed, r"smtpgate\.service$")]).read()
    conf = "/" + one(landed, r"smtpgate\.ini\.example$")[:-len(".example")]
    check("ExecStart=/%s -c %s\n" % (sbin, conf) in unit,
          "ExecStart does not name /%s and %s:\n%s", sbin, conf, unit)


def test_unit_verifies():
    need("systemd-analyze", "systemd")
    dest, landed = install_tree()
    sbin = "/" + one(landed, r"(^|/)sbin/smtpgate$")
    text = open(landed[one(landed, r"smtpgate\.service$")]).read()
    for want in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID",
                 "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "PrivateTmp=yes", "StateDirectory=smtpgate",
                 "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"):
        check(want in text.split("\n"), "the unit lacks %r", want)
    # verify checks that ExecStart's program exists: point it into DESTDIR
    d = gwtest.newdir("unit")
    unit = os.path.join(d, "smtpgate.service")
    with open(unit, "w") as f:
        f.write(text.replace("=" + sbin + " ", "=" + dest + sbin + " "))
    man = os.path.dirname(os.path.dirname(
        landed[one(landed, r"/man8/smtpgate\.8$")]))
    env = dict(os.environ, MANPATH=man, SYSTEMD_LOG_LEVEL="info")
    r = run(["systemd-analyze", "verify", unit], env=env)
    # verify exits 0 after warnings it only logs: any output is a failure
    check(r.returncode == 0 and not (r.out + r.err).strip(),
          "systemd-analyze verify: exit %d:\n%s%s", r.returncode, r.out,
          r.err)
    # and a broken copy is caught, so the check above means something
    with open(unit, "w") as f:
        f.write(text.replace("Type=notify", "Type=notifyy").replace(
            "=" + sbin + " ", "=" + dest + sbin + " "))
    r = run(["systemd-analyze", "verify", unit], env=env)
    check("notifyy" in r.out + r.err, "a bad Type= passed verify")


def test_sysusers_makes_the_user():
    tool = need("systemd-sysusers", "systemd")
    root = gwtest.newdir("sysroot")
    os.makedirs(os.path.join(root, "etc"))
    for f in ("passwd", "group", "shadow", "gshadow"):
        open(os.path.join(root, "etc", f), "w").close()
    conf = os.path.join(SRCDIR, "deploy", "systemd", "smtpgate.sysusers")
    r = run([tool, "--root=" + root, conf])
    check(r.returncode == 0, "systemd-sysusers: %s%s", r.out, r.err)
    passwd = open(os.path.join(root, "etc", "passwd")).read()
    check(re.search(r"^smtpgate:x:\d+:\d+:[^:]*:/var/lib/smtpgate:"
                    r"/usr/sbin/nologin$", passwd, re.M),
          "no smtpgate user made: %r", passwd)


def test_man_pages_lint_clean():
    mandoc = need("mandoc", "mandoc")
    r = run([mandoc, "-T", "lint"] + MAN_PAGES)
    # Whether a referenced page (sd_notify(3), systemd.service(5), the
    # other of ours) is installed on this machine is not the pages' fault.
    rest = [ln for ln in (r.out + r.err).splitlines()
            if "referenced manual not found" not in ln and
            "outdated mandoc.db" not in ln]
    check(not rest, "mandoc -T lint:\n%s", "\n".join(rest))
    for page in MAN_PAGES:
        t = run([mandoc, "-T", "ascii", page])
        text = re.sub(r".\x08", "", t.out)	# no overstrike (bold)
        check(t.returncode == 0 and "DESCRIPTION" in text,
              "%s does not render: %s", page, t.err)


def test_start_under_systemd():
    """A real start under systemd, when this machine runs systemd: a
    transient Type=notify unit; else skip, saying why."""
    if not os.path.isdir("/run/systemd/system"):
        try:
            with open("/proc/1/comm") as f:
                pid1 = f.read().strip()
        except OSError:
            pid1 = "unknown"
        raise TestSkip("systemd is not running here (PID 1 is %s); the "
                       "notify protocol is tested against this test's own "
                       "socket above" % pid1)
    if os.geteuid() != 0 or not shutil.which("systemd-run"):
        raise TestSkip("systemd runs, but not as root or no systemd-run")
    gw = Gateway(upstream=None, start=False)
    gw.port = gwtest.free_port()
    gw._write(gw.port)
    unit = "smtpgate-test-%d" % os.getpid()
    r = run(["systemd-run", "--unit=" + unit, "-p", "Type=notify",
             "-p", "NotifyAccess=main", "-p", "TimeoutStartSec=30",
             BIN, "-c", gw.path])
    try:
        check(r.returncode == 0, "systemd-run: %s%s", r.out, r.err)

        def show():
            s = run(["systemctl", "show", "-p", "ActiveState,StatusText",
                     unit]).out
            return dict(ln.split("=", 1) for ln in s.splitlines()
                        if "=" in ln)
        st = show()
        check(st.get("ActiveState") == "active" and
              st.get("StatusText", "").startswith("ready"),
              "after start: %r", st)
        run(["systemctl", "kill", "-s", "HUP", unit])
        check(gwtest.wait_for(lambda: "reloaded" in show().get(
              "StatusText", ""), 10), "after HUP: %r", show())
    finally:
        run(["systemctl", "stop", unit], timeout=60)
        run(["systemctl", "reset-failed", unit])


gwtest.main(globals())
