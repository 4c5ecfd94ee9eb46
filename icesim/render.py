"""Human-readable rendering of events (`--format pretty`)."""

from __future__ import annotations

from .events import CandidateErrorEvent, CandidateEvent, Event, GatheringStateChange, GatherMeta, LocalDescription


def pretty_line(event: Event) -> str:
    if isinstance(event, GatherMeta):
        return f"# {event.browser}  time-scale {event.time_scale:g}  servers: {', '.join(event.servers) or '-'}"
    head = f"{event.t:10.1f} ms  "
    if isinstance(event, GatheringStateChange):
        return head + f"icegatheringstatechange  {event.state}"
    if isinstance(event, CandidateEvent):
        if event.candidate is None:
            return head + "icecandidate  null (end of gathering)"
        c = event.candidate
        extra = f"  url={c.url}" if c.url else ""
        return head + f"icecandidate  {c.candidate or '(end-of-candidates)'}{extra}"
    if isinstance(event, LocalDescription):
        return head + "localDescription\n" + "\n".join("    " + line for line in event.sdp.splitlines())
    if isinstance(event, CandidateErrorEvent):
        return head + (
            f"icecandidateerror  {event.errorCode} {event.errorText!r}  url={event.url}"
            f"  address={event.address} port={event.port}"
        )
    return head + repr(event)
