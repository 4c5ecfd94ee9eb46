"""Run a real coturn ``turnserver`` on loopback for the tests.

Only the pytest fixtures live in ``conftest.py``; everything else is here so
it can be used directly (for instance from a benchmark or a debugging shell)::

    with start_coturn(tmp_dir) as server:
        print(server.turn_udp_url, server.username, server.password)

Network rule: coturn listens on 127.0.0.1 only and relays from 127.0.0.1
only. Loopback *peers* are allowed (``--allow-loopback-peers``) so that tests
can relay to their own sockets; nothing ever leaves the machine.

The loopback port helpers live in ``loopback_ports.py`` and the STUN probes in
``stun_probe.py``; their public names are importable from here too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Re-exported: conftest.py uses coturn.closed_port, test_coturn_fixture.py the STUN probes.
from loopback_ports import LOOPBACK, closed_port, free_port, relay_port_range  # noqa: F401
from stun_probe import stun_binding_tcp, stun_binding_udp


USERNAME = "test"
PASSWORD = "secret"
REALM = "test"

#: How long coturn gets to answer STUN on UDP and TCP after it is started.
READY_TIMEOUT = 10.0
#: How long coturn gets to exit after SIGTERM before it is SIGKILLed.
STOP_TIMEOUT = 5.0
#: How many times a start is retried when the chosen port was taken meanwhile.
START_ATTEMPTS = 3

INSTALL_HINT = (
    "coturn's `turnserver` binary was not found (looked on PATH and in "
    "/usr/bin). Run `make test` (or `make deps-system`), which installs the "
    "Debian package coturn, instead of calling pytest directly on a new machine."
)

# Lines coturn logs when it cannot bind its listening port: it then retries
# forever instead of exiting, so the start is abandoned and retried elsewhere.
_BIND_FAILURE_MARKERS = ("Cannot bind", "Address already in use")


class CoturnNotInstalled(RuntimeError):
    """The ``turnserver`` binary is missing."""


class CoturnStartError(RuntimeError):
    """coturn did not become ready (the message includes its log)."""


def find_turnserver() -> str:
    """Return the path of ``turnserver`` or raise :class:`CoturnNotInstalled`.

    ``ICESIM_TURNSERVER`` may point at another binary.
    """
    explicit = os.environ.get("ICESIM_TURNSERVER")
    if explicit:
        if os.access(explicit, os.X_OK):
            return explicit
        raise CoturnNotInstalled(
            f"ICESIM_TURNSERVER={explicit!r} is not executable; unset it to "
            "use coturn's turnserver, which `make test` installs"
        )
    found = shutil.which("turnserver")
    if found:
        return found
    # root's PATH sometimes lacks /usr/sbin, non-root's sometimes lacks /usr/bin
    for candidate in ("/usr/bin/turnserver", "/usr/sbin/turnserver"):
        if os.access(candidate, os.X_OK):
            return candidate
    raise CoturnNotInstalled(INSTALL_HINT)


# --------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CoturnServer:
    """A running coturn, as handed to tests by the ``coturn`` fixtures."""

    host: str
    port: int
    username: str
    password: str
    realm: str
    relay_min_port: int
    relay_max_port: int
    pid: int
    workdir: Path
    argv: tuple[str, ...] = field(repr=False)
    startup_seconds: float = 0.0
    tls_port: int | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def stun_url(self) -> str:
        return f"stun:{self.host}:{self.port}"

    @property
    def turn_udp_url(self) -> str:
        return f"turn:{self.host}:{self.port}?transport=udp"

    @property
    def turn_tcp_url(self) -> str:
        return f"turn:{self.host}:{self.port}?transport=tcp"

    def turn_url(self, transport: str = "udp") -> str:
        return f"turn:{self.host}:{self.port}?transport={transport}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "turnserver.log"

    def log(self) -> str:
        """coturn's log so far (handy in assertion messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def build_argv(
    binary: str,
    workdir: Path,
    port: int,
    *,
    username: str = USERNAME,
    password: str = PASSWORD,
    realm: str = REALM,
    relay_range: tuple[int, int] | None = None,
    allow_loopback_peers: bool = True,
    extra_args: tuple[str, ...] = (),
    tls: tuple[Path, Path, int] | None = None,
    ip: str = LOOPBACK,
) -> list[str]:
    """The turnserver command line (also shown in failure messages). ``ip`` is the listening
    and relay address: loopback, or a lab address inside a namespace (tests/conformance)."""
    min_port, max_port = relay_range or relay_port_range()
    argv = [
        binary,
        # Ignore /etc/turnserver.conf: Debian's sends the log to syslog.
        "-n",
        f"--listening-ip={ip}",
        f"--relay-ip={ip}",
        f"--listening-port={port}",
        f"--min-port={min_port}",
        f"--max-port={max_port}",
        "--lt-cred-mech",
        f"--user={username}:{password}",
        f"--realm={realm}",
        *(
            ["--no-tls"] if tls is None
            else [f"--cert={tls[0]}", f"--pkey={tls[1]}", f"--tls-listening-port={tls[2]}"]
        ),
        "--no-dtls",
        "--no-cli",
        "--log-file=stdout",
        "--simple-log",
        f"--pidfile={workdir / 'turnserver.pid'}",
        f"--userdb={workdir / 'turndb'}",
        "--no-multicast-peers",
        # Defence in depth for the loopback-only rule: refuse (403) every
        # IPv4 peer outside 127.0.0.0/8. The relay socket is bound to
        # 127.0.0.1 anyway, so the kernel could not send elsewhere (EINVAL).
        "--denied-peer-ip=0.0.0.0-126.255.255.255",
        "--denied-peer-ip=128.0.0.0-255.255.255.255",
    ]
    if allow_loopback_peers:
        argv.append("--allow-loopback-peers")
    argv.extend(extra_args)
    return argv


def _preexec_die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Kill coturn if the test process dies without tearing down (SIGKILL,
    # crash), so no turnserver outlives the test run.
    PR_SET_PDEATHSIG = 1
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _stop(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; always reaps the process."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    else:
        proc.wait()


def _wait_ready(
    proc: subprocess.Popen[bytes], addr: tuple[str, int], log_path: Path, deadline: float
) -> str | None:
    """Poll until coturn answers STUN on UDP and on TCP.

    Returns None when ready, otherwise the reason it is not ("exited",
    "bind", "timeout").
    """
    udp_ok = tcp_ok = False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((addr[0], 0))
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return "exited"
            try:
                log = log_path.read_text(errors="replace")
            except OSError:
                log = ""
            if any(marker in log for marker in _BIND_FAILURE_MARKERS):
                return "bind"
            if not udp_ok:
                with contextlib.suppress(TimeoutError, OSError):
                    stun_binding_udp(addr, timeout=0.2, sock=sock)
                    udp_ok = True
            if udp_ok and not tcp_ok:
                try:
                    stun_binding_tcp(addr, timeout=0.5)
                    tcp_ok = True
                except OSError:
                    time.sleep(0.05)
            if udp_ok and tcp_ok:
                return None
    return "timeout"


@contextlib.contextmanager
def start_coturn(
    workdir: str | os.PathLike[str] | None = None,
    *,
    username: str = USERNAME,
    password: str = PASSWORD,
    realm: str = REALM,
    allow_loopback_peers: bool = True,
    extra_args: tuple[str, ...] | list[str] = (),
    ready_timeout: float = READY_TIMEOUT,
    relay_range: tuple[int, int] | None = None,
    tls_cert: tuple[Path, Path] | None = None,
    ip: str = LOOPBACK,
    port: int | None = None,
    exec_prefix: tuple[str, ...] = (),
    probe_in: Callable[[Callable[[], str | None]], str | None] | None = None,
) -> Iterator[CoturnServer]:
    """Start coturn on a free 127.0.0.1 port, yield it ready, stop it after.

    ``workdir`` holds the pid file, the SQLite user db and the log; a
    temporary directory is made (and removed) when it is None. Inside a network namespace
    (tests/conformance): ``ip`` and ``port`` are the lab's, ``exec_prefix`` is
    ``ip netns exec NS`` and ``probe_in`` runs the readiness probe in that namespace.
    """
    binary = find_turnserver()
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="coturn-"))
        base = Path(workdir)
        base.mkdir(parents=True, exist_ok=True)

        failures: list[str] = []
        for attempt in range(1, START_ATTEMPTS + 1):
            run_dir = base / f"run{attempt}" if attempt > 1 else base
            run_dir.mkdir(parents=True, exist_ok=True)
            listen_port = free_port() if port is None else port
            argv = build_argv(
                binary,
                run_dir,
                listen_port,
                username=username,
                password=password,
                realm=realm,
                relay_range=relay_range,
                allow_loopback_peers=allow_loopback_peers,
                extra_args=tuple(extra_args),
                tls=None if tls_cert is None else (*tls_cert, free_port()),
                ip=ip,
            )
            log_path = run_dir / "turnserver.log"
            started = time.monotonic()
            with open(log_path, "wb") as log_file:
                proc = subprocess.Popen(
                    [*exec_prefix, *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=run_dir,
                    start_new_session=True,  # a terminal's Ctrl-C is pytest's
                    preexec_fn=(
                        _preexec_die_with_parent
                        if threading.current_thread() is threading.main_thread()
                        else None
                    ),
                )
            try:
                def probe() -> str | None:
                    return _wait_ready(proc, (ip, listen_port), log_path, started + ready_timeout)

                reason = probe() if probe_in is None else probe_in(probe)
            except BaseException:
                _stop(proc)
                raise
            if reason is None:
                server = CoturnServer(
                    host=ip,
                    port=listen_port,
                    username=username,
                    password=password,
                    realm=realm,
                    relay_min_port=int(argv_value(argv, "--min-port")),
                    relay_max_port=int(argv_value(argv, "--max-port")),
                    pid=proc.pid,
                    workdir=run_dir,
                    argv=tuple(argv),
                    startup_seconds=time.monotonic() - started,
                    tls_port=int(argv_value(argv, "--tls-listening-port")) if tls_cert else None,
                )
                try:
                    yield server
                finally:
                    _stop(proc)
                return
            _stop(proc)
            log = log_path.read_text(errors="replace")
            failures.append(
                f"attempt {attempt}: {reason} (rc={proc.returncode})\n"
                f"  command: {' '.join(argv)}\n"
                f"  log tail:\n    " + "\n    ".join(log.splitlines()[-25:])
            )
            if reason != "bind":
                break  # only a lost port race is worth another try
        raise CoturnStartError(
            "coturn did not become ready on 127.0.0.1\n" + "\n".join(failures)
        )


def argv_value(argv: list[str] | tuple[str, ...], option: str) -> str:
    """Value of ``--option=value`` in ``argv``."""
    prefix = option + "="
    for arg in argv:
        if arg.startswith(prefix):
            return arg[len(prefix) :]
    raise KeyError(option)
