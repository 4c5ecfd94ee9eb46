"""A STUN request/response exchange with a browser's retransmission schedule.

aioice's Transaction retransmits on RFC timers (0.5 s doubling, 7 sends); browsers do not
(Chrome: 250 ms doubling, capped at 8 s, 9 sends), and the 701 time is what detectors see.
Encoding and parsing are aioice.stun's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

from aioice import stun

from .clock import Timeline
from .dialects.base import RetransmitSchedule


# Under --time-scale a retransmission never waits less than this much real time: a scaled
# timer must not fire before a real round trip could have answered (false 701s under load).
MIN_REAL_RTO_S = 0.1


class StunTimeout(Exception):
    """No response before the schedule gave up; `t` is the browser time it gave up."""

    def __init__(self, t: float) -> None:
        super().__init__(f"timed out at t={t:.1f}")
        self.t = t


@dataclass(slots=True)
class StunResult:
    message: stun.Message
    t: float  # browser time the response arrived


class StunTransaction:
    """Sends `request` on the schedule until a response (success or error) arrives."""

    def __init__(
        self,
        request: stun.Message,
        send: Callable[[bytes], None],
        schedule: RetransmitSchedule,
        timeline: Timeline,
        reliable: bool = False,
        server: tuple[str, int] | None = None,
    ) -> None:
        self.request = request
        self.server = server  # over UDP only the server's address may answer
        self._send = send
        self._schedule = schedule
        self._timeline = timeline
        self._reliable = reliable  # over TCP: one send, same give-up time
        self._future: asyncio.Future[stun.Message] = asyncio.get_running_loop().create_future()
        self.sends = 0

    @property
    def transaction_id(self) -> bytes:
        return self.request.transaction_id

    def response_received(self, message: stun.Message, source: tuple[str, int] | None = None) -> None:
        """Accept only what libwebrtc would: a success/error of the request's own method
        (StunRequestManager::CheckResponse), from the server over UDP (UDPPort::OnReadPacket)."""
        if self._future.done() or message.message_class not in (stun.Class.RESPONSE, stun.Class.ERROR):
            return
        if message.message_method != self.request.message_method:
            return
        if self.server is not None and source != self.server:
            return
        self._future.set_result(message)

    async def run(self) -> StunResult:
        data = bytes(self.request)
        tl = self._timeline
        first = tl.now()
        offsets = self._schedule.send_offsets_ms[:1] if self._reliable else self._schedule.send_offsets_ms
        deadlines = list(offsets[1:]) + [self._schedule.timeout_ms]
        for deadline in deadlines:
            self._send(data)
            self.sends += 1
            if await tl.wait_for(self._future, first + deadline - tl.now(), MIN_REAL_RTO_S):
                return StunResult(self._future.result(), tl.now())  # abort() raises here
        tl.advance_to(first + self._schedule.timeout_ms)
        raise StunTimeout(first + self._schedule.timeout_ms)

    def abort(self, exc: Exception) -> None:
        """The transport is gone (TCP closed): end now with `exc` instead of waiting out RTOs."""
        if not self._future.done():
            self._future.set_exception(exc)

    def cancel(self) -> None:
        if not self._future.done():
            self._future.cancel()
