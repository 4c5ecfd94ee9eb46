"""Gathering, split by candidate type: ports (host sockets), srflx, relay; engine drives them."""

from .engine import gather

__all__ = ["gather"]
