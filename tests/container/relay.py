#!/usr/bin/python3
"""relay.py IMAGE - run the smtpgate image as a sidecar would and relay one
message through it (run by tests/container/run.sh, which builds IMAGE and
provides a container engine; DOCKER_HOST names it).

The container gets exactly the documented mounts: a copy of the built-in
configuration (etc/container/smtpgate.ini) with only the [upstream]
values changed, the upstream's password file (10025:10025, mode 0600)
and its CA.  The upstream is upstream.py (aiosmtpd, STARTTLS, AUTH) on the
host, on the engine's bridge address.  The "application" is this process,
which enters the container's network namespace (setns) to reach
127.0.0.1:2525 there, as a container of the same pod would.

Checks: the message arrives byte for byte with the configured account;
GET /healthz answers 200 in the container's namespace, the image's own
HEALTHCHECK command passes and the engine reports "healthy"; SIGTERM
(docker stop) ends the container with status 0.  A smtpgate without
[gateway] http_listen (refused as an unknown key) has no health endpoint:
then the health checks are reported as "skip container-health" and the
relay runs without that key.

Exit status: 0 passed, 1 failed."""

import atexit
import contextlib
import ctypes
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))
import gwtest  # noqa: E402
from gwtest import (Client, TestFailure, Upstream, check,  # noqa: E402
                    check_reply, check_same_bytes, sample_message,
                    transaction)

ENGINE = os.environ.get("CONTAINER_ENGINE", "docker")
UID = GID = 10025			# the image's smtpgate user
SMTP_PORT = 2525			# the built-in listener
HTTP_PORT = 8025			# the built-in http_listen
ACCOUNT, PASSWORD = "relay@example.com", "container-test-secret"
SENDER, RCPT = "app@example.test", "rcpt@example.test"
CLONE_NEWNET = 0x40000000
NAME = "smtpgate-test-%d" % os.getpid()


def engine(*args, timeout=60, check_rc=True):
    """Run an engine command; its stdout (stripped)."""
    r = subprocess.run([ENGINE] + list(args), capture_output=True,
                       text=True, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise TestFailure("%s %s: exit %d: %s" % (
            ENGINE, " ".join(args[:2]), r.returncode, r.stderr.strip()))
    return r.stdout.strip()


def bridge_address():
    """The host's address on the engine's default bridge network (Docker
    20.10 names no gateway for it: then the bridge interface's own)."""
    gw = engine("network", "inspect", "-f",
                "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "bridge")
    if not gw:
        dev = engine("network", "inspect", "-f", "{{index .Options "
                     "\"com.docker.network.bridge.name\"}}", "bridge")
        r = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", dev],
                           capture_output=True, text=True, timeout=10)
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", r.stdout)
        gw = m.group(1) if m else ""
    check(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", gw),
          "no IPv4 address of the engine's bridge network: %r", gw)
    return gw


def site_config(builtin, upstream_host, upstream_port, health):
    """The built-in configuration with the values a site changes."""
    with open(builtin, encoding="utf-8") as f:
        text = f.read()
    subs = [(r"(?m)^host = .*$", "host = %s\ntls_name = localhost"
             % upstream_host),
            (r"(?m)^port = .*$", "port = %d" % upstream_port),
            (r"(?m)^tls = .*$", "tls = starttls"),
            (r"(?m)^ca_file = system$",
             "ca_file = /etc/smtpgate/upstream-ca.pem"),
            (r"(?m)^username = .*$", "username = %s" % ACCOUNT)]
    if not health:
        subs.append((r"(?m)^http_listen = .*$", ""))
    for pat, rep in subs:
        text, n = re.subn(pat, rep, text, count=1)
        check(n == 1, "etc/container/smtpgate.ini has no line %r", pat)
    return text


def write(path, data, mode):
    with open(path, "w", encoding="utf-8") as f:
        f.write(data)
    os.chmod(path, mode)


def knows_http_listen(image):
    """Does the image's smtpgate take [gateway] http_listen?"""
    r = subprocess.run([ENGINE, "run", "--rm", "--network", "none", image,
                        "smtpgate", "-t", "-c", "/etc/smtpgate/smtpgate.ini"],
                       capture_output=True, text=True, timeout=60)
    return "http_listen: unknown key" not in r.stdout + r.stderr


@contextlib.contextmanager
def netns(pid):
    """Run the body in the network namespace of pid (this thread only);
    sockets made there stay there."""
    libc = ctypes.CDLL(None, use_errno=True)
    mine = os.open("/proc/self/ns/net", os.O_RDONLY)
    theirs = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY)
    try:
        if libc.setns(theirs, CLONE_NEWNET) != 0:
            raise TestFailure("setns: %s" % os.strerror(ctypes.get_errno()))
        try:
            yield
        finally:
            if libc.setns(mine, CLONE_NEWNET) != 0:
                os._exit(3)	# never go on in the wrong namespace
    finally:
        os.close(mine)
        os.close(theirs)


def start_container(image, d, health):
    argv = ["run", "-d", "--name", NAME,
            "-v", "%s/smtpgate.ini:/etc/smtpgate/smtpgate.ini:ro" % d,
            "-v", "%s/upstream.pass:/run/secrets/smtpgate/upstream.pass:ro"
            % d,
            "-v", "%s/ca.pem:/etc/smtpgate/upstream-ca.pem:ro" % d]
    if health:
        # The image's check every 30 s is too slow for a test: same
        # command, shorter interval.
        argv += ["--health-interval", "2s", "--health-start-period", "1s"]
    engine(*(argv + [image]))
    pid = int(engine("inspect", "-f", "{{.State.Pid}}", NAME))
    ok = gwtest.wait_for(lambda: gwtest.tcp_listening(SMTP_PORT, pid), 20)
    if not ok:
        raise TestFailure("smtpgate in the container does not listen on "
                          "127.0.0.1:%d; its log:\n%s" % (
                              SMTP_PORT, container_log()))
    return pid


def container_log():
    r = subprocess.run([ENGINE, "logs", NAME], capture_output=True,
                       text=True, timeout=30)
    return (r.stdout + r.stderr)[-3000:]


def relay_one(pid, up):
    msg = sample_message("through the container")
    with netns(pid):
        c = Client(SMTP_PORT)
    with c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg)
        check(len(replies) == 4, "transaction stopped early: %r", replies)
        check_reply(replies[-1], 250, what="end of DATA")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    msgs = up.wait_messages(1)
    check(len(msgs) == 1, "want 1 message upstream, got %r", msgs)
    m = msgs[0]
    check_same_bytes(m.data, msg)
    check(m.mail_from == SENDER and m.rcpt_tos == [RCPT],
          "envelope changed: %r", m)
    check(m.auth_user == ACCOUNT, "upstream session authenticated as %r, "
          "want %s (the mounted password file)", m.auth_user, ACCOUNT)
    check(m.meta["tls_version"] in ("TLSv1.2", "TLSv1.3"),
          "upstream saw no TLS: %r", m.meta)
    print("ok relay: one message through the container, %s, as %s"
          % (m.meta["tls_version"], ACCOUNT), flush=True)


def http_get(pid, path):
    """Status code of GET path on the container's http_listen."""
    import http.client
    with netns(pid):
        conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT,
                                          timeout=10)
        conn.connect()
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def check_health(pid):
    status = http_get(pid, "/healthz")
    check(status == 200, "GET /healthz: %d, want 200", status)
    r = subprocess.run([ENGINE, "exec", NAME, "smtpgate-healthcheck"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "the image's smtpgate-healthcheck failed "
          "(%d): %s", r.returncode, r.stderr.strip())
    fmt = "{{if .State.Health}}{{.State.Health.Status}}{{end}}"
    state = gwtest.wait_for(
        lambda: engine("inspect", "-f", fmt, NAME) == "healthy", 20)
    check(state, "the engine does not report the container healthy: %r",
          engine("inspect", "-f", fmt, NAME))
    print("ok health: GET /healthz 200, HEALTHCHECK passes, engine says "
          "healthy", flush=True)


def stop_container():
    engine("stop", "-t", "20", NAME, timeout=60)
    rc = engine("inspect", "-f", "{{.State.ExitCode}}", NAME)
    check(rc == "0", "smtpgate exited with %s after SIGTERM; its log:\n%s",
          rc, container_log())
    print("ok stop: SIGTERM, exit status 0", flush=True)


def run(image):
    health = knows_http_listen(image)
    if not health:
        print("skip container-health: this smtpgate has no [gateway] "
              "http_listen (unknown key); relaying without it", flush=True)
    host = bridge_address()
    up = Upstream("starttls", host=host,
                  auth={"users": {ACCOUNT: PASSWORD}})
    d = gwtest.newdir("container")
    os.chmod(d, 0o755)
    write(os.path.join(d, "smtpgate.ini"), site_config(
        os.path.join(SRCDIR, "etc", "container", "smtpgate.ini"), host,
        up.port, health), 0o644)
    secret = os.path.join(d, "upstream.pass")
    write(secret, PASSWORD + "\n", 0o600)
    os.chown(secret, UID, GID)
    with open(gwtest.pki()["ca-bundle"], encoding="utf-8") as f:
        write(os.path.join(d, "ca.pem"), f.read(), 0o644)
    pid = start_container(image, d, health)
    relay_one(pid, up)
    if health:
        check_health(pid)
    stop_container()


def main():
    if len(sys.argv) != 2:
        print("usage: relay.py IMAGE", file=sys.stderr)
        return 2
    # gwtest's own runner is for tests of a host binary; its cleanup
    # (children, temporary directory) is what is wanted here too.
    atexit.register(gwtest._cleanup)
    try:
        run(sys.argv[1])
    except (TestFailure, subprocess.TimeoutExpired, OSError) as e:
        print("FAIL container: %s" % e, flush=True)
        return 1
    finally:
        subprocess.run([ENGINE, "rm", "-f", NAME], capture_output=True,
                       timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
