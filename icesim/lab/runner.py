"""The lab's PID 1: runs inside the sandbox, builds the lab, keeps coturn, dies with its owner.

Started as `python -I -S runner.py` (standard library only, nothing of icesim is imported, so
it starts in a few milliseconds). Protocol, JSON lines:

* stdin line 1: the plan (`LabPlan.to_json()`): steps, the coturn argv, the STUN probe address.
* stdout: `{"ready": true, "setup_s": ...}` once coturn answers STUN, or `{"error": "..."}`.
* stdin afterwards: `detach` (answered `{"detached": true}`) keeps the lab after stdin closes
  (`icesim lab up`); otherwise end of stdin -- the owner closed it or died -- ends the lab.
* SIGTERM ends the lab (`icesim lab down`).

Ending is just exiting: this is PID 1 of the sandbox's PID namespace, so the kernel kills
every process in it (coturn, gathers), and the private mount namespace holding the named
network namespaces goes with the last of them: nothing to clean up, nothing left behind.
"""

import collections
import ctypes
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

CLONE_NEWNET = 0x40000000
READY_TIMEOUT_S = 10.0


def emit(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def fail(msg):
    emit({"error": msg})
    os._exit(1)


def run_step(step):
    argv, stdin = step["argv"], step.get("stdin")
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(argv)}: {exc}"
    if done.returncode != 0:
        detail = " ".join((done.stderr or done.stdout).split())[:400]
        return f"{' '.join(argv)} failed ({done.returncode}): {detail}"
    return None


def run_steps(steps):
    for step in steps:
        error = run_step(step)
        if error and step["argv"][:2] == ["mkdir", "-p"]:
            # Rootless without /run/netns on the machine: a private tmpfs on /run holds it.
            if run_step({"argv": ["mount", "-t", "tmpfs", "-o", "mode=0755", "icesim-run", "/run"]}) is None:
                error = run_step(step)
        if error:
            fail(error)


def enter_netns(name):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            fail(f"setns {name}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


def stun_answers(host, port, wait_s=0.02):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    txid = os.urandom(12)
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + txid
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(wait_s)
        try:
            s.sendto(request, (host, port))
            data = s.recv(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[:2] == b"\x01\x01" and data[8:20] == txid


def tcp_listens(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def start_coturn(argv):
    log = collections.deque(maxlen=200)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        fail(f"{' '.join(argv[:5])}: {exc}")

    def drain():  # coturn blocks on a full pipe: keep reading, keep the tail for errors
        for line in proc.stdout:
            log.append(line.decode(errors="replace").rstrip())

    threading.Thread(target=drain, daemon=True).start()
    return proc, log


def wait_ready(proc, log, host, port):
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(f"coturn exited ({proc.returncode}): " + " | ".join(list(log)[-5:]))
        if stun_answers(host, port) and tcp_listens(host, port):
            return
    fail(f"coturn did not answer STUN on {host}:{port} within {READY_TIMEOUT_S:g} s: " + " | ".join(list(log)[-5:]))


def reap(*_):
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    start = time.monotonic()
    line = sys.stdin.readline()
    if not line:
        os._exit(0)
    plan = json.loads(line)
    run_steps(plan["steps"])
    coturn, log = start_coturn(plan["coturn"])
    enter_netns("public")  # this thread probes from `public`; children were started before
    host, port = plan["probe"]
    wait_ready(coturn, log, host, port)
    signal.signal(signal.SIGCHLD, reap)  # as PID 1, reap orphans of gathers run in the lab
    emit({"ready": True, "setup_s": round(time.monotonic() - start, 4)})
    for command in sys.stdin:
        if command.strip() == "detach":
            emit({"detached": True})
            devnull = os.open(os.devnull, os.O_RDWR)  # the owner is about to go: no writes to its pipes
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            while True:
                signal.pause()
    os._exit(0)  # the owner closed stdin, or died


if __name__ == "__main__":
    main()
