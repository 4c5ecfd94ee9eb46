"""Pacing helpers of the hostile-input floods (test_hostile_server.py, test_hostile_gatherer.py).

Floods are paced (send a batch, let the receiver drain it) so that the kernel's socket buffer
never drops datagrams: every datagram sent is then one the code under test handled, which is
what makes exact counts assertable.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

# The kernel charges a queued datagram its size plus bookkeeping: on Linux 256
# empty datagrams fill the default 208 KiB receive buffer, about 830 bytes each.
DATAGRAM_OVERHEAD = 1024


class FloodClient:
    """A non-blocking client socket whose replies are drained by a loop reader."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()
        self.replies: list[bytes] = []
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._drain)

    def _drain(self) -> None:
        while True:
            try:
                self.replies.append(self.sock.recv(65536))
            except BlockingIOError:
                return

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


async def wait_until(
    condition: Callable[[], bool], what: str | Callable[[], str], timeout: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0)
