"""Real kernel network labs: Linux network namespaces, nftables NAT/filtering, coturn.

Python API (used by `icesim lab`, `icesim repro ... --lab` and `icesim dataset --lab`):

    from icesim.lab import run_lab_gather, lab_gather, Lab, TOPOLOGIES

    events = run_lab_gather("home-nat", ["--time-scale", "50", "--no-mdns"])   # blocking
    events = await lab_gather("cgnat", ["--seed", "7"])                        # in a loop

    async with Lab("symmetric-nat") as lab:      # one lab, several gathers
        a = await lab.gather(["--seed", "1"])
        async for event in lab.gather_stream(["--permission"]): ...
        rc, out, err = await lab.run("router", ["nft", "list", "ruleset"])

* Gather arguments are `icesim gather` options, checked by its own parser before any lab is
  built (ConfigError / click.UsageError on bad input). Without --stun/--turn the gather uses
  the lab's coturn (`Topology.servers`: STUN, TURN/UDP, and TURN/TCP 443 where relevant; user
  `test`, credential `secret`). Events are the gather's JSON lines as dicts, `meta` first.
* Every Lab is its own sandbox: run as many in parallel as you like (each ~0.1-0.3 s to build,
  a few MiB). `Lab.up_s` / `Lab.down_s` are its build and teardown times.
* LabUnavailable (a LabError) when the machine cannot build labs: a missing tool, or neither
  root nor unprivileged user namespaces; its message is one line saying what is missing.
* Crash safety: see sandbox.py. A lab never touches the machine's own network namespace.
"""

from . import registry
from .lab import Lab, lab_gather, run_lab_gather
from .sandbox import LabError, LabUnavailable, find_tools
from .topologies import TOPOLOGIES, Topology, get_topology

__all__ = ["Lab", "LabError", "LabUnavailable", "TOPOLOGIES", "Topology", "find_tools", "get_topology", "lab_gather",
           "registry", "run_lab_gather"]
