#!/usr/bin/python3
"""smtpgate queue: the command line end to end.  Usage errors (exit 2,
the usage line), a command the gateway would refuse checked before any
connection, a configuration without queue_dir or with an error, no
gateway at the socket (exit 2); and, against a peer of the control
protocol listening at queue_dir/control in this test (the queue runner
that serves it in the gateway is tested with the queue), that the
command line is sent as the protocol says, the answer printed, "error:"
on stderr with exit 1, a cut answer exit 2."""

import os
import socket
import subprocess
import sys
import threading

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import BIN, check  # noqa: E402

ID = "3f2a9c0d11e84b27"
USAGE = "usage: smtpgate queue -c FILE"


def smtpgate(*args):
    """The binary with args (under SMTPGATE_VALGRIND=1 inside memcheck,
    whose findings fail the test); returns (exit code, stdout, stderr)."""
    argv = [BIN] + list(args)
    vglog = None
    if gwtest.VALGRIND:
        vglog = os.path.join(gwtest.newdir("vg"), "valgrind.log")
        argv = ([gwtest.VALGRIND_BIN] + gwtest.VALGRIND_ARGS +
                ["--log-file=" + vglog] + argv)
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60 * gwtest.TIME_SCALE)
    if vglog:
        check(r.returncode != 99, "valgrind: %s", gwtest._tail(vglog, 60))
    return (r.returncode, r.stdout.decode("utf-8", "replace"),
            r.stderr.decode("utf-8", "replace"))


def config(queue_dir=None, extra=""):
    """A valid configuration file (with queue_dir if given); its path."""
    d = gwtest.newdir("conf")
    g = {"queue_dir": queue_dir} if queue_dir else {}
    text = gwtest.config_text(gwtest.free_port(), gwtest.free_port(), g)
    path = os.path.join(d, "smtpgate.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + extra)
    return path


def queue_dir():
    d = gwtest.newdir("queue")
    os.chmod(d, 0o700)
    return d


class ControlPeer:
    """A listener at DIR/control answering each connection with the next
    of answers (bytes), recording the line each one sent."""

    def __init__(self, d, answers):
        self.path = os.path.join(d, "control")
        self.answers = list(answers)
        self.lines = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self.sock.listen(4)
        self.sock.settimeout(10 * gwtest.TIME_SCALE)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        for answer in self.answers:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(10 * gwtest.TIME_SCALE)
                data = b""
                while b"\n" not in data and len(data) < 256:
                    got = c.recv(256)
                    if not got:
                        break
                    data += got
                self.lines.append(data)
                c.sendall(answer)

    def close(self):
        self.thread.join(15 * gwtest.TIME_SCALE)
        self.sock.close()


def test_usage_errors():
    conf = config()
    for args in ([], ["list"], ["-c"], ["-c", conf], ["-x", "-c", conf,
                                                       "list"]):
        rc, out, err = smtpgate("queue", *args)
        check(rc == 2 and USAGE in err, "queue %r: rc %d, %r", args, rc, err)
    rc, out, err = smtpgate("queue", "--help")
    check(rc == 0 and USAGE in out, "--help: rc %d, %r", rc, out)
    # the main usage names the subcommand
    rc, out, err = smtpgate("--help")
    check("smtpgate queue -c FILE" in out, "smtpgate --help: %r", out)


def test_bad_commands_refused_before_connecting():
    d = queue_dir()
    conf = config(d)
    cases = [(["show"], "show needs a message id"),
             (["show", "12"], "16 hex digits"),
             (["list", ID], "list takes no argument"),
             (["delete", ID, ID], "too many arguments"),
             (["flush", "0000000000000000"], "not a message id"),
             (["purge"], "unknown command")]
    for words, want in cases:
        rc, out, err = smtpgate("queue", "-c", conf, *words)
        check(rc == 2 and want in err and USAGE in err,
              "%r: rc %d, %r", words, rc, err)


def test_configuration_problems():
    rc, out, err = smtpgate("queue", "-c", config(), "list")
    check(rc == 2 and "queue_dir is not set" in err, "no queue_dir: %d %r",
          rc, err)
    bad = config(queue_dir(), "\n[gateway]\nno_such_key = 1\n")
    rc, out, err = smtpgate("queue", "-c", bad, "list")
    check(rc == 2 and bad + ":" in err and "error(s)" in err,
          "bad file: %d %r", rc, err)
    rc, out, err = smtpgate("queue", "-c", "/nonexistent/smtpgate.ini",
                            "list")
    check(rc == 2 and "cannot open" in err, "no file: %d %r", rc, err)


def test_no_gateway():
    d = queue_dir()
    rc, out, err = smtpgate("queue", "-c", config(d), "list")
    check(rc == 2 and os.path.join(d, "control") in err and
          "is the gateway running" in err, "no socket: %d %r", rc, err)


def test_answers_and_exit_codes():
    d = queue_dir()
    conf = config(d)
    listing = (ID + " queued a@example.org\n").encode()
    peer = ControlPeer(d, [listing + b"ok\n",
                           b"error: no message " + ID.encode() + b"\n",
                           b"ok\n",
                           b"partial line",
                           b"error: busy\n"])
    try:
        rc, out, err = smtpgate("queue", "-c", conf, "list")
        check(rc == 0 and out == listing.decode() and err == "",
              "list: %d %r %r", rc, out, err)
        rc, out, err = smtpgate("queue", "-c", conf, "show", ID.upper())
        check(rc == 1 and out == "" and
              err == "error: no message %s\n" % ID, "show: %d %r %r", rc,
              out, err)
        rc, out, err = smtpgate("queue", "-c", conf, "flush")
        check(rc == 0 and out == "" and err == "", "flush: %d %r %r", rc,
              out, err)
        rc, out, err = smtpgate("queue", "-c", conf, "hold", ID)
        check(rc == 2 and "cut short" in err, "cut: %d %r", rc, err)
        rc, out, err = smtpgate("queue", "-c", conf, "release", ID)
        check(rc == 1 and err == "error: busy\n", "busy: %d %r", rc, err)
    finally:
        peer.close()
    # one line each, as typed (the id's case is the gateway's business)
    check(peer.lines == [b"list\n", b"show " + ID.upper().encode() + b"\n",
                         b"flush\n", b"hold " + ID.encode() + b"\n",
                         b"release " + ID.encode() + b"\n"],
          "lines sent: %r", peer.lines)


gwtest.main(globals())
