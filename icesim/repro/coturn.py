"""coturn for the repro cases that need a real TURN server (a relay, a real 401).

Started once per `icesim repro` run on 127.0.0.1 (a free port, relays on 127.0.0.1 only,
user test / secret, realm test) and stopped after it. icesim never ships a TURN server of its
own: the cases that need one say so in one line when `turnserver` is not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aioice import stun

USERNAME, PASSWORD, REALM = "test", "secret", "test"
READY_TIMEOUT_S = 10.0


class CoturnMissing(RuntimeError):
    """`turnserver` is not installed."""


@dataclass(frozen=True, slots=True)
class Coturn:
    host: str
    port: int


def find_turnserver() -> str:
    explicit = os.environ.get("ICESIM_TURNSERVER")  # as tests/coturn.py: no fallback when set
    candidates = (explicit,) if explicit else (shutil.which("turnserver"), "/usr/bin/turnserver", "/usr/sbin/turnserver")
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    raise CoturnMissing("coturn's turnserver is needed for this case and is not installed (apt-get install coturn)")


def _free_loopback_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise OSError("no free loopback port for coturn")


def _argv(binary: str, workdir: Path, port: int) -> list[str]:
    return [
        binary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
        "--lt-cred-mech", f"--user={USERNAME}:{PASSWORD}", f"--realm={REALM}",
        "--no-tls", "--no-dtls", "--no-cli", "--log-file=stdout", "--simple-log",
        f"--pidfile={workdir / 'turnserver.pid'}", f"--userdb={workdir / 'turndb'}",
        # Relay to nothing but loopback (the repro never leaves the machine).
        "--denied-peer-ip=0.0.0.0-126.255.255.255", "--denied-peer-ip=128.0.0.0-255.255.255.255",
    ]


async def _answers_stun(port: int) -> bool:
    """One STUN binding over UDP, then a TCP connect: coturn listens on both."""
    loop = asyncio.get_running_loop()
    got: asyncio.Future[bytes] = loop.create_future()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple) -> None:
            if not got.done():
                got.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Probe, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(bytes(stun.Message(stun.Method.BINDING, stun.Class.REQUEST)))
        await asyncio.wait_for(got, 0.2)
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 0.5)
        writer.close()
        return True
    except (OSError, asyncio.TimeoutError):
        return False
    finally:
        transport.close()


@contextlib.asynccontextmanager
async def running_coturn() -> AsyncIterator[Coturn]:
    """coturn ready on 127.0.0.1; raises CoturnMissing, or OSError when it does not start."""
    binary = find_turnserver()
    with tempfile.TemporaryDirectory(prefix="icesim-repro-coturn-") as tmp:
        port = _free_loopback_port()
        log = open(Path(tmp) / "turnserver.log", "wb")
        proc = subprocess.Popen(_argv(binary, Path(tmp), port), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=tmp, start_new_session=True)
        try:
            deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
            while not await _answers_stun(port):
                if proc.poll() is not None or asyncio.get_running_loop().time() > deadline:
                    raise OSError(f"coturn did not start on 127.0.0.1:{port} (log: {log.name})")
                await asyncio.sleep(0.05)
            yield Coturn("127.0.0.1", port)
        finally:
            log.close()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # coturn ignores SIGINT
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), 5.0)
            except asyncio.TimeoutError:
                proc.kill()
                proc.wait()
