"""A one-shot flag tasks can wait on: asyncio.Event's set()/wait() without its per-object deque
and loop lock (a gather holds two per network; at thousands of gathers in flight they were the
largest allocation site per live gather and a measurable share of a dataset worker's CPU)."""

from __future__ import annotations

import asyncio


class Flag:
    """set() wakes every waiter in the order they began waiting, as asyncio.Event does; a wait
    after set() returns at once. Never cleared (the gathering steps only ever set them)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[bool]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(True)

    async def wait(self) -> bool:
        if self._set:
            return True
        fut = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(fut)
        try:
            return await fut
        finally:
            if self._waiters is not None and fut in self._waiters:
                self._waiters.remove(fut)
