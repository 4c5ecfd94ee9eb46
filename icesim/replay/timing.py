"""When `createOffer()` and `setLocalDescription()` resolve, per browser family (pure).

Measured (ms since just before `createOffer()`; SLD is called as soon as the offer resolves) in
shared/captures (`tCreateOfferResolved`, `tSetLocalDescriptionResolved`) and in the API
captures summed up in tests/data/API_FACTS.md (C/* chromium156/api, F/* firefox/api):
- Chromium 156: the offer resolves 12.6-27.3 ms after the call (S1-S8), 7-16 ms (C/*); SLD
  3.7-18.4 ms after its call (S1-S8), 2-11 ms (C/*); "gathering" fires 0.2-18.7 ms after SLD
  resolved (S7, S8: 0.2 ms; C/*: 0.3-8.4 ms).
- Firefox 153 ESR: the offer 43-60 ms (F1-F8c), 43-113 ms (F/*); SLD 0-6 ms (F1-F8c), 3-20 ms
  (F/*); "gathering" 1-54 ms after SLD resolved (F/*: 2-44 ms).
Safari: Chrome's values stand in (libwebrtc underneath) [no capture].

The engine draws its own "gathering" time, so the drawn pair is scaled down when it would end
too close to the session's first event: SLD resolves at least the family's smallest captured
gap before it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OfferTimers:
    offer_ms: tuple[float, float]
    sld_ms: tuple[float, float]
    min_gap_ms: float  # SLD resolved -> the first event, at least


TIMERS = {
    "chrome": OfferTimers(offer_ms=(7.0, 27.5), sld_ms=(2.0, 18.5), min_gap_ms=0.2),
    "firefox": OfferTimers(offer_ms=(43.0, 113.0), sld_ms=(0.5, 20.0), min_gap_ms=1.0),
}


def offer_timing(family: str, first_event_ms: float | None, rng: random.Random) -> tuple[float, float]:
    """(offer_ms, sld_ms) for one session: `offer_ms` after the createOffer() call,
    `sld_ms` after the setLocalDescription() call; in 0.1 ms steps like event times."""
    timers = TIMERS.get(family, TIMERS["chrome"])
    offer, sld = rng.uniform(*timers.offer_ms), rng.uniform(*timers.sld_ms)
    if first_event_ms is not None:
        room = max(first_event_ms - timers.min_gap_ms, 0.0)
        if offer + sld > room:
            scale = room / (offer + sld)
            offer, sld = offer * scale, sld * scale
    return _floor_tenth(offer), _floor_tenth(sld)  # never rounded past the room


def _floor_tenth(ms: float) -> float:
    return math.floor(ms * 10.0) / 10.0
