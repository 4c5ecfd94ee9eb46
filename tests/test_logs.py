"""icesim.logs: log lines go to stderr, whatever has happened to the stream seen at configure time."""

from __future__ import annotations

import io
import sys

import structlog

from icesim import logs


def test_a_log_line_after_the_configured_stream_closed_goes_to_the_current_stderr(capsys):
    old = sys.stderr
    sys.stderr = io.StringIO()
    try:
        logs.configure("warning")
        log = structlog.get_logger("t")
        log.warning("first")
        sys.stderr.close()
    finally:
        sys.stderr = old
    log.warning("second", k=1)
    assert "event='second' k=1" in capsys.readouterr().err
