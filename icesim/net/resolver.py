"""Per-gather DNS cache: one lookup per (name, family), shared by every socket that asks."""

from __future__ import annotations

import asyncio

from .base import Net, ResolveError


class GatherResolver:
    """Concurrent askers share one in-flight lookup; failures are cached too (one gather)."""

    def __init__(self, net: Net) -> None:
        self._net = net
        self._cache: dict[tuple[str, int], asyncio.Future[list[str]]] = {}

    async def resolve(self, host: str, family: int) -> list[str]:
        key = (host.lower().rstrip("."), family)
        fut = self._cache.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._net.resolve(host, family))
            self._cache[key] = fut
        try:
            return await asyncio.shield(fut)
        except ResolveError:
            raise
        except OSError as exc:
            raise ResolveError(str(exc)) from None

    def close(self) -> None:
        for fut in self._cache.values():
            if not fut.done():
                fut.cancel()
            elif not fut.cancelled():
                fut.exception()  # mark retrieved
