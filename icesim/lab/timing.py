"""Setup cost of labs, for `icesim bench` (keys lab_up_s, lab_down_s; goals < 0.3 s / < 0.1 s).

lab_up_s: from starting the sandbox to coturn answering STUN in `public` (namespaces, veths,
addresses, routes, sysctls, nftables, coturn). lab_down_s: from closing the runner's stdin to
the sandbox's `unshare` having exited (PID 1 gone; the kernel frees the namespaces after).
"""

from __future__ import annotations

import asyncio
import statistics

from .lab import Lab
from .sandbox import LabError

GOALS = {"lab_up_s": "< 0.3", "lab_down_s": "< 0.1"}


async def measure_labs(n: int = 5, parallel: int = 10, topology: str = "home-nat") -> dict:
    """Medians of n labs built and torn down one after another, then `parallel` labs at once.
    Raises LabError (LabUnavailable) when this machine cannot build labs."""
    ups, downs = [], []
    for _ in range(n):
        lab = await Lab(topology).start()
        await lab.stop()
        ups.append(lab.up_s)
        downs.append(lab.down_s)
    labs = [Lab(topology) for _ in range(parallel)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    results = await asyncio.gather(*(lab.start() for lab in labs), return_exceptions=True)
    parallel_up = loop.time() - start
    start = loop.time()
    await asyncio.gather(*(lab.stop() for lab in labs))
    parallel_down = loop.time() - start
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise LabError(f"{len(failed)} of {parallel} parallel labs failed: {failed[0]}")
    up, down = statistics.median(ups), statistics.median(downs)
    return {
        "lab_up_s": round(up, 4), "lab_down_s": round(down, 4),
        "lab_runs": {"up_s": [round(u, 4) for u in ups], "down_s": [round(d, 4) for d in downs],
                     "topology": topology, f"parallel_{parallel}_up_s": round(parallel_up, 3),
                     f"parallel_{parallel}_down_s": round(parallel_down, 3)},
        "lab_goals": dict(GOALS),
        "lab_goals_met": {"lab_up_s": up < 0.3, "lab_down_s": down < 0.1},
    }
