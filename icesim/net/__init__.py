"""Network seam: RealNet (the machine), FaultyNet (in-process faults), GatherResolver (DNS cache)."""

from .base import Net, ResolveError, TcpStream, UdpSocket
from .faults import FaultyNet
from .real import RealNet
from .resolver import GatherResolver

__all__ = ["FaultyNet", "GatherResolver", "Net", "RealNet", "ResolveError", "TcpStream", "UdpSocket"]
