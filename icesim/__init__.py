"""icesim: a browser-faithful WebRTC ICE gathering simulator.

    async for event in icesim.gather(icesim.GatherConfig(...)):
        print(icesim.to_json_line(event))
"""

import structlog as _structlog

from . import logs as _logs

if not _structlog.is_configured():
    # structlog's default prints to stdout, where the data goes: logs belong on stderr.
    _logs.configure("warning")

from .config import ConfigError, Faults, GatherConfig, IceServerUrl, Interface, parse_ice_url
from .events import (
    CandidateErrorEvent, CandidateEvent, GatheringStateChange, GatherMeta, IceCandidate, LocalDescription, to_json_line,
)
from .gathering import gather

__version__ = "0.1.0"

__all__ = [
    "CandidateErrorEvent", "CandidateEvent", "ConfigError", "Faults", "GatherConfig", "GatherMeta", "LocalDescription",
    "GatheringStateChange", "IceCandidate", "IceServerUrl", "Interface", "gather", "parse_ice_url",
    "to_json_line",
]
