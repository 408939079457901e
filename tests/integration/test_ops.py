#!/usr/bin/python3
"""Operating the gateway: command line (-t, --version, --help), and
signals (HUP reloads, a broken file keeps the old configuration)."""

import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (BIN, Gateway, Upstream, check, check_reply,  # noqa: E402
                    sample_message, transaction)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"


def run(*args, timeout=15):
    r = subprocess.run([BIN] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    r.out = (r.stdout + r.stderr).decode("utf-8", "replace")
    return r


def write(text, name="smtpgate.ini"):
    path = os.path.join(gwtest.newdir("conf"), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def good_config():
    return gwtest.config_text(gwtest.free_port(), gwtest.free_port())


def test_version():
    r = run("--version")
    check(r.returncode == 0, "--version exit %d: %s", r.returncode, r.out)
    check("smtpgate" in r.out and any(ch.isdigit() for ch in r.out),
          "--version says %r", r.out)


def test_help():
    r = run("--help")
    check(r.returncode == 0, "--help exit %d: %s", r.returncode, r.out)
    check("-c" in r.out and "-t" in r.out, "--help does not mention -c "
          "and -t: %r", r.out)


def test_unknown_option():
    r = run("--no-such-option")
    check(r.returncode != 0, "unknown option accepted: %s", r.out)


def test_check_good_config():
    path = write(good_config())
    r = run("-t", "-c", path)
    check(r.returncode == 0, "-t on a good file: exit %d: %s",
          r.returncode, r.out)


def test_check_bad_config_reports_every_error():
    text = "\n".join([
        "[gateway]",				# 1
        "hostname = gw.test",			# 2
        "log_level = loud",			# 3  bad level
        "",					# 4
        "[listener test]",			# 5
        "listen = 127.0.0.1:2525",		# 6
        "upstream = up",			# 7
        "max_message_size = lots",		# 8  not a size
        "bare_newline = sometimes",		# 9  not a choice
        "",					# 10
        "[upstream up]",			# 11
        "host = 127.0.0.1",			# 12
        "port = 99999",				# 13 out of range
        "tls = sometimes",			# 14 not a level
        "no_such_key = 1",			# 15 unknown key
        "",
    ])
    path = write(text)
    r = run("-t", "-c", path)
    check(r.returncode == 1, "-t on a bad file: want exit 1, got %d: %s",
          r.returncode, r.out)
    for line, key in ((3, "log_level"), (8, "max_message_size"),
                      (9, "bare_newline"), (13, "port"), (14, "tls"),
                      (15, "no_such_key")):
        want = "%s:%d: %s:" % (path, line, key)
        check(want in r.out, "want %r in the output, got %r", want, r.out)


def test_check_syntax_error_line():
    text = good_config() + "\nthis line is not INI\n"
    n = text.count("\n")		# the bad line is the last one
    path = write(text)
    r = run("-t", "-c", path)
    check(r.returncode == 1, "want exit 1, got %d: %s", r.returncode, r.out)
    check("%s:%d:" % (path, n) in r.out, "want %s:%d: in %r", path, n,
          r.out)


def test_check_unknown_upstream_name():
    text = good_config().replace("upstream = up", "upstream = nowhere")
    path = write(text)
    r = run("-t", "-c", path)
    check(r.returncode == 1, "want exit 1, got %d: %s", r.returncode, r.out)
    check("nowhere" in r.out and path in r.out,
          "the error does not name the file and the upstream: %r", r.out)


def test_check_queue_and_routes():
    """-t reads the issue-15 keys: a good file with a list, a route and a
    queue listener passes; each broken rule is named by file, line, key."""
    good = good_config().replace("upstream = up", "upstream = up, up2")
    good += ("\n[upstream up2]\nhost = 127.0.0.1\nport = %d\ntls = none\n"
             "[route bills]\nsender = @bills.example\nupstream = up2\n"
             "[listener q]\nlisten = 127.0.0.1:%d\nupstream = up\n"
             "delivery = queue\n" % (gwtest.free_port(), gwtest.free_port()))
    r = run("-t", "-c", write(good.replace("[gateway]\n", "[gateway]\n"
                                           "queue_dir = /tmp/q-made-later\n")))
    check(r.returncode == 0, "-t on a good file: exit %d: %s",
          r.returncode, r.out)
    bad = good + ("[route dup]\nsender = @BILLS.example\nupstream = up\n")
    lines = bad.split("\n")
    path = write(bad)
    r = run("-t", "-c", path)
    check(r.returncode == 1, "want exit 1, got %d: %s", r.returncode, r.out)
    for section, key in (("[listener q]", "delivery: queue needs [gateway] "
                          "queue_dir"), ("[route dup]", "sender: "
                                         "\"@BILLS.example\" is also in "
                                         "[route bills]")):
        want = "%s:%d: %s: %s" % (path, lines.index(section) + 1, section,
                                  key)
        check(want in r.out, "want %r in the output, got %r", want, r.out)


def test_check_missing_file():
    path = os.path.join(gwtest.tmpdir(), "does-not-exist.ini")
    r = run("-t", "-c", path)
    check(r.returncode != 0, "a missing file passed -t: %s", r.out)
    check(path in r.out, "the error does not name the file: %r", r.out)


def test_start_with_bad_config_fails():
    path = write(good_config() + "\nmax_recipients = many\n")
    try:
        r = run("-c", path, timeout=10)
    except subprocess.TimeoutExpired:
        raise gwtest.TestFailure("started with a bad configuration")
    check(r.returncode != 0, "exit 0 with a bad configuration: %s", r.out)


def relay(gw, up, n, subject):
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message(subject))
        check_reply(replies[-1], 250, what="end of DATA (%s)" % subject)
        check_reply(c.cmd("QUIT"), 221)
    check(len(up.wait_messages(n)) == n, "want %d messages", n)


def test_sighup_broken_config_keeps_serving():
    up = Upstream("starttls")
    gw = Gateway(up)
    relay(gw, up, 1, "before HUP")
    good = gw.config
    gw.write_config(good + "\n[listener test]\nmax_message_size = huge\n"
                    "this is not a key value line\n")
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    # The log should say the reload failed; wait for some sign of it.
    gw.wait_log(r"(?i)reload|config|error", 5, start=mark)
    time.sleep(0.2)
    check(gw.alive(), "smtpgate died on HUP with a broken file")
    relay(gw, up, 2, "after broken HUP")
    # And a repaired file is taken on the next HUP.
    gw.write_config(good)
    gw.signal(signal.SIGHUP)
    time.sleep(0.5)
    check(gw.alive(), "smtpgate died on HUP with a good file")
    relay(gw, up, 3, "after good HUP")


def test_sighup_applies_new_banner():
    up = Upstream("starttls")
    gw = Gateway(up)
    with gw.client() as c:
        check(c.greeting().lines[0] == "gw.test ESMTP smtpgate",
              "default banner")
    gw.write_config(gw.config.replace(
        "[listener test]", "[listener test]\nbanner = reloaded.test ESMTP"))
    gw.signal(signal.SIGHUP)

    def banner():
        with gw.client() as c:
            return c.greeting().lines[0] == "reloaded.test ESMTP"
    check(gwtest.wait_for(banner, 5, 0.2),
          "the new banner was not used after HUP")
    relay(gw, up, 1, "after banner HUP")


def test_sighup_new_upstream_port():
    # The reloaded configuration points at another upstream: new
    # transactions go there.
    up1 = Upstream("starttls")
    up2 = Upstream("starttls")
    gw = Gateway(up1)
    relay(gw, up1, 1, "to the first")
    gw.write_config(gw.config.replace("port = %d" % up1.port,
                                      "port = %d" % up2.port))
    gw.signal(signal.SIGHUP)
    time.sleep(0.5)
    relay(gw, up2, 1, "to the second")
    check(len(up1.messages()) == 1, "the first upstream got more mail")


def test_sigterm_drains_transaction_in_flight():
    # SIGTERM in the middle of a message: that transaction still completes
    # (the client gets the upstream's 250), an idle session is told 421,
    # no new session is accepted, and the gateway exits 0 by itself.
    up = Upstream("starttls")
    gw = Gateway(up)
    busy = gw.client()
    busy.start()
    check_reply(busy.cmd("MAIL FROM:<%s>" % SENDER), 250)
    check_reply(busy.cmd("RCPT TO:<%s>" % RCPT), 250)
    check_reply(busy.cmd("DATA"), 354)
    msg = sample_message("drained")
    wire = gwtest.dot_stuff(msg)
    half = len(wire) // 2
    busy.send(wire[:half])
    idle = gw.client()
    idle.start()
    time.sleep(0.2)
    gw.signal(signal.SIGTERM)
    check_reply(idle.reply(timeout=5), 421, "4.3.2", "idle session on TERM")
    check(idle.closed(), "idle session not closed after 421")
    check(gw.wait_log(r"draining", 5) is not None, "no drain in the log")
    try:
        late = gw.client()
        r = late.reply(timeout=2)
        raise gwtest.TestFailure("a new session was served while "
                                 "draining: %r" % (r,))
    except OSError:
        pass
    busy.send(wire[half:] + b".\r\n")
    gw.exit_expected = True		# the harness still checks for sanitizer reports
    check_reply(busy.reply(timeout=10), 250, what="message in flight")
    check(busy.closed(5), "busy session not closed after its transaction")
    check(wait_for_exit(gw, 10), "smtpgate did not exit after draining")
    check(gw.proc.returncode == 0, "exit status %s", gw.proc.returncode)
    got = up.wait_messages(1)
    check(len(got) == 1, "want the drained message upstream, got %d",
          len(got))
    gwtest.check_same_bytes(got[0].data, msg, "drained message")


def wait_for_exit(gw, timeout):
    return gwtest.wait_for(lambda: gw.proc.poll() is not None, timeout)


def open_for_nobody():
    """The run's directory may be crossed (not listed) by others, so that
    files a test makes readable by nobody are; the start-up check opens
    every named file as [gateway] user (issue 10, section 2)."""
    if os.geteuid() != 0:
        raise gwtest.TestSkip("needs root to test the privilege drop")
    import pwd
    os.chmod(gwtest.tmpdir(), 0o711)
    return pwd.getpwnam("nobody")


def test_drops_privileges_after_binding():
    # Started as root with user = nobody: the sockets are bound first, then
    # every uid and gid of the process is nobody's, and mail still flows
    # (TLS contexts and CA files were loaded before the drop, and nobody
    # can read the CA file again on SIGHUP).
    nobody = open_for_nobody()
    up = Upstream("starttls")
    gw = Gateway(up, gateway={"user": "nobody"})
    with open("/proc/%d/status" % gw.proc.pid) as f:
        status = f.read()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
    groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()
    check(uids == [str(nobody.pw_uid)] * 4, "uids after the drop: %s", uids)
    check(gids == [str(nobody.pw_gid)] * 4, "gids after the drop: %s", gids)
    check(groups in ([], [str(nobody.pw_gid)]),
          "supplementary groups kept: %s", groups)
    check(gw.wait_log(r"running as user=nobody", 5) is not None,
          "the drop is not logged")
    relay(gw, up, 1, "as nobody")



# Issue 10, section 2: what start refuses, -t refuses, and the reverse.

def line_of(text, key):
    """The 1-based line of the first "key = " line in text."""
    for n, ln in enumerate(text.split("\n"), 1):
        if ln.startswith(key + " = "):
            return n
    raise gwtest.TestFailure("no %s line in %r" % (key, text))


def check_refused(path, want, what):
    """-t and a start both refuse path, with want in their output; the
    start never says ready."""
    try:
        t = run("-t", "-c", path, timeout=10)
        r = run("-c", path, timeout=10)
    except subprocess.TimeoutExpired:
        raise gwtest.TestFailure("%s: -t or start did not end" % what)
    check(t.returncode == 1, "%s: -t exit %d: %s", what, t.returncode, t.out)
    check(want in t.out, "%s: want %r from -t, got %r", what, want, t.out)
    check(r.returncode != 0, "%s: started: %s", what, r.out)
    check(want in r.out, "%s: want %r at start, got %r", what, want, r.out)
    check(not re.search(r": ready$", r.out, re.M), "%s: said ready: %s",
          what, r.out)


def test_secret_unreadable_by_user_refused():
    # A password_file only root can read, with user = nobody: it used to
    # pass -t and start, and every message got 451.  Now -t (as root,
    # checking as nobody) and the start (after its drop) refuse it.
    nobody = open_for_nobody()
    d = gwtest.newdir("secret")
    os.chmod(d, 0o755)
    pw = os.path.join(d, "password")
    with open(pw, "w", encoding="utf-8") as f:
        f.write("s3cret\n")
    os.chmod(pw, 0o600)
    text = gwtest.config_text(
        gwtest.free_port(), gwtest.free_port(), gateway={"user": "nobody"},
        upstream={"auth": "inject", "username": "me@example.test",
                  "password_file": pw})
    path = write(text)
    want = ("%s:%d: password_file: %s: not readable by user nobody "
            "(Permission denied)" % (path, line_of(text, "password_file"),
                                     pw))
    check_refused(path, want, "root-only password_file")
    # readable by nobody: both accept (the start is
    # test_drops_privileges_after_binding's)
    os.chown(pw, nobody.pw_uid, -1)
    t = run("-t", "-c", path)
    check(t.returncode == 0, "-t with a password_file nobody can read: "
          "exit %d: %s", t.returncode, t.out)


def test_sighup_secret_unreadable_by_user_refused():
    # After the drop, a reload that names a file the user cannot read is
    # refused with the reason, and the running configuration stays.
    nobody = open_for_nobody()
    up = Upstream("starttls")
    gw = Gateway(up, gateway={"user": "nobody"}, start=False)
    os.chmod(gw.dir, 0o755)		# nobody must be able to reload the file
    gw.start()
    relay(gw, up, 1, "before HUP")
    d = gwtest.newdir("secret")
    os.chmod(d, 0o755)
    pw = os.path.join(d, "password")
    with open(pw, "w", encoding="utf-8") as f:
        f.write("s3cret\n")
    os.chmod(pw, 0o600)
    good = gw.config
    bad = good.replace("[upstream up]", "[upstream up]\nauth = inject\n"
                       "username = me@example.test\npassword_file = " + pw)
    gw.write_config(bad)
    os.chmod(gw.path, 0o644)
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    # (the value is quoted when the load itself finds it, as it does here)
    want = (r"reload: %s:%d: password_file: \"?%s\"?: not readable by user "
            r"nobody \(Permission denied\)" % (re.escape(gw.path),
                                        line_of(bad, "password_file"),
                                        re.escape(pw)))
    check(gw.wait_log(want, 5, start=mark) is not None,
          "no refused reload: %s", gw.log()[mark:])
    check(gw.wait_log(r"keeping the running configuration", 5,
                      start=mark) is not None, "old configuration not kept")
    relay(gw, up, 2, "after a refused reload")
    check(nobody.pw_uid != 0, "nobody is root")


def test_token_command_missing_refused():
    text = gwtest.config_text(
        gwtest.free_port(), gwtest.free_port(),
        upstream={"auth": "inject", "username": "me@example.test",
                  "auth_mechanisms": "XOAUTH2",
                  "token_command": "/nonexistent/get-token --user me"})
    path = write(text)
    check_refused(path, "%s:%d: token_command: /nonexistent/get-token: No "
                  "such file or directory" % (path,
                                              line_of(text, "token_command")),
                  "missing token_command")
    script = os.path.join(os.path.dirname(path), "get-token")
    with open(script, "w", encoding="utf-8") as f:
        f.write("#!/bin/sh\necho token\n")
    os.chmod(script, 0o644)
    text = text.replace("/nonexistent/get-token", script)
    path = write(text)
    check_refused(path, "%s:%d: token_command: %s: not executable by user "
                  % (path, line_of(text, "token_command"), script),
                  "token_command without x bits")
    os.chmod(script, 0o755)
    t = run("-t", "-c", path)
    check(t.returncode == 0, "-t with an executable token_command: exit "
          "%d: %s", t.returncode, t.out)


# Issue 10, section 9: the file is opened safely, at start, -t and HUP.

def test_check_fifo_does_not_hang():
    fifo = os.path.join(gwtest.newdir("fifo"), "smtpgate.ini")
    os.mkfifo(fifo, 0o600)
    try:
        r = run("-t", "-c", fifo, timeout=10)
    except subprocess.TimeoutExpired:
        raise gwtest.TestFailure("-t hung on a FIFO")
    check(r.returncode == 1, "-t on a FIFO: exit %d: %s", r.returncode,
          r.out)
    check("%s:0: not a regular file (a FIFO)" % fifo in r.out,
          "-t on a FIFO says %r", r.out)


def test_sighup_fifo_keeps_serving():
    # A FIFO put in place of the file hung the event loop at SIGHUP.  Now
    # the reload is refused at once, the old configuration keeps serving,
    # and a good file is taken on the next HUP.
    up = Upstream("starttls")
    gw = Gateway(up)
    relay(gw, up, 1, "before the FIFO")
    good = gw.config
    os.unlink(gw.path)
    os.mkfifo(gw.path, 0o600)
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"reload: %s:0: not a regular file \(a FIFO\)"
                      % re.escape(gw.path), 5, start=mark) is not None,
          "no reason for the refused reload: %s", gw.log()[mark:])
    check(gw.wait_log(r"keeping the running configuration", 5,
                      start=mark) is not None, "old configuration not kept")
    relay(gw, up, 2, "with a FIFO in place")
    os.unlink(gw.path)
    gw.write_config(good.replace("[listener test]",
                                 "[listener test]\nbanner = after.fifo"))
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"new configuration in use", 5, start=mark)
          is not None, "the repaired file was not taken")
    with gw.client() as c:
        check(c.greeting().lines[0] == "after.fifo", "new banner not used")
    relay(gw, up, 3, "after the FIFO")


def test_writable_config_refused():
    # The file can name a command the gateway runs (token_command):
    # writable by others or by the group is refused at -t, start and HUP.
    text = good_config()
    for mode, who in ((0o666, "others"), (0o664, "group")):
        path = write(text)
        os.chmod(path, mode)
        check_refused(path, "%s:0: writable by %s: it can name a command "
                      "to run (token_command); chmod go-w %s"
                      % (path, who, path), "mode %o" % mode)
    up = Upstream("starttls")
    gw = Gateway(up)
    os.chmod(gw.path, 0o646)
    mark = len(gw.log())
    gw.signal(signal.SIGHUP)
    check(gw.wait_log(r"reload: .*writable by others", 5, start=mark)
          is not None, "no refused reload: %s", gw.log()[mark:])
    check(gw.wait_log(r"keeping the running configuration", 5,
                      start=mark) is not None, "old configuration not kept")
    relay(gw, up, 1, "after a refused reload")


# Issue 10, section 8: an allow list open to everyone is an open relay.

def test_open_relay_warning():
    text = gwtest.config_text(gwtest.free_port(), gwtest.free_port(),
                              listener={"allow": "0.0.0.0/0, ::1/128"})
    path = write(text)
    t = run("-t", "-c", path)
    header = text.split("\n").index("[listener test]") + 1
    want = ("warning: %s:%d: [listener test]: allow: 0.0.0.0/0 admits "
            "every IPv4 address" % (path, header))
    check(t.returncode == 0, "-t: exit %d: %s", t.returncode, t.out)
    check("open relay" in t.out and want in t.out, "-t: want %r, got %r",
          want, t.out)
    up = Upstream("starttls")
    gw = Gateway(up, listener={"allow": "0.0.0.0/0"})
    check(gw.wait_log(r"warning: .*allow: 0\.0\.0\.0/0 admits every IPv4 "
                      r"address.*open relay", 5) is not None,
          "no open relay warning at start: %s", gw.log())


if __name__ == "__main__":
    gwtest.main(globals())
