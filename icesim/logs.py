"""structlog to stderr, as key=value lines (data goes to stdout, never mixed)."""

from __future__ import annotations

import logging
import sys

import structlog

LEVELS = ("debug", "info", "warning", "error")


class StderrLogger:
    """Writes each line to the `sys.stderr` of the moment. PrintLoggerFactory(file=sys.stderr)
    keeps the stream it was configured with: once a CLI run inside a test (or any caller that
    swaps sys.stderr) has closed that stream, every later log line raised ValueError."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = msg


def configure(level: str = "warning") -> None:
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"]),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=lambda *args: StderrLogger(),
        cache_logger_on_first_use=True,
    )
