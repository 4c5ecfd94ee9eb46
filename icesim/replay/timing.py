"""When `createOffer()` and `setLocalDescription()` resolve, per browser family (pure).

Measured in shared/captures (`tCreateOfferResolved`, `tSetLocalDescriptionResolved`, ms since
just before `createOffer()`; SLD is called as soon as the offer resolves):
- Chromium 156, S1-S8: the offer resolves 12.6-27.3 ms after the call, SLD 3.7-18.4 ms after
  its call, and "gathering" fires 0.2-18.7 ms after SLD resolved (S7, S8: 0.2 ms).
- Firefox 153 ESR, F1-F8c: the offer 43-60 ms (the first offer of a page loads the codecs),
  SLD 0-6 ms, "gathering" 1-54 ms after SLD.
Safari: Chrome's values stand in (libwebrtc underneath) [no capture].

The engine draws its own "gathering" time, so the drawn pair is scaled down when it would end
after the session's first event: SLD resolves at least 0.2 ms before it, as in S7/S8.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OfferTimers:
    offer_ms: tuple[float, float]
    sld_ms: tuple[float, float]


TIMERS = {
    "chrome": OfferTimers(offer_ms=(12.5, 27.5), sld_ms=(3.5, 18.5)),
    "firefox": OfferTimers(offer_ms=(43.0, 60.0), sld_ms=(0.5, 6.0)),
}
MIN_SLD_TO_FIRST_EVENT_MS = 0.2


def offer_timing(family: str, first_event_ms: float | None, rng: random.Random) -> tuple[float, float]:
    """(offer_ms, sld_ms) for one session: `offer_ms` after the createOffer() call,
    `sld_ms` after the setLocalDescription() call; in 0.1 ms steps like event times."""
    timers = TIMERS.get(family, TIMERS["chrome"])
    offer, sld = rng.uniform(*timers.offer_ms), rng.uniform(*timers.sld_ms)
    if first_event_ms is not None:
        room = max(first_event_ms - MIN_SLD_TO_FIRST_EVENT_MS, 0.0)
        if offer + sld > room:
            scale = room / (offer + sld)
            offer, sld = offer * scale, sld * scale
    return _floor_tenth(offer), _floor_tenth(sld)  # never rounded past the room


def _floor_tenth(ms: float) -> float:
    return math.floor(ms * 10.0) / 10.0
