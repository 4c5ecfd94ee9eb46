"""`icesim replay`: run a JavaScript detector once per session in Node.js and print the confusion
matrix of its verdicts against the labels (issue 7). Thin: icesim/replay/ does the work."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from . import logs
from .config import ConfigError

FORMATS = ("table", "jsonl")


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _check(opts: dict[str, Any]) -> None:
    """Bad options fail before any session is read (one line, exit 2)."""
    detector = opts["detector"]
    if detector is None:
        raise ConfigError("--detector", None, "is required: the detector script (FILE.js / FILE.mjs)")
    if not Path(detector).is_file():
        raise ConfigError("--detector", str(detector), "no such file")
    if opts["export"] is not None and not re.fullmatch(r"[A-Za-z_$][\w$]*", opts["export"]):
        raise ConfigError("--export", opts["export"], "is not a JavaScript identifier")
    for name, key, low in (("--jobs", "jobs", 1), ("--limit", "limit", 1), ("--console", "console", 0)):
        if opts[key] is not None and opts[key] < low:
            raise ConfigError(name, opts[key], f"must be >= {low}")
    for name, key in (("--max-ms", "max_ms"), ("--wall-timeout", "wall_timeout")):
        if not opts[key] > 0:
            raise ConfigError(name, opts[key], "must be > 0")
    _check_page_url(opts["page_url"])


def _check_page_url(url: str | None) -> None:
    """--page-url: the page's location; an absolute http(s) URL, as a browser's address bar holds."""
    from urllib.parse import urlsplit

    if url is None:
        return
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)
    except ValueError:  # a bad port or IPv6 literal
        ok = False
    if not ok:
        raise ConfigError("--page-url", url, "must be an absolute http(s) URL, e.g. https://shop.example.com/checkout")


# Options that mean something in one mode only: given in the other, they are an error, not ignored.
_NODE_ONLY = {"fmt": "--format", "jobs": "--jobs", "wall_timeout": "--wall-timeout", "no_progress": "--no-progress",
              "page_url": "--page-url"}
_SERVE_ONLY = {"port": "--port"}


def _check_mode(opts: dict[str, Any], ctx: click.Context) -> None:
    given = {name for name in opts if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    serving = opts["serve_path"] is not None
    for name, option in (_NODE_ONLY if serving else _SERVE_ONLY).items():
        if name in given:
            value = opts[name]
            raise ConfigError(option, value,
                              "only applies without --serve (the Node runner)" if serving else "only applies with --serve DIR")


@click.command("replay")
@click.option("--sessions", "sessions_path", type=click.Path(path_type=Path), default=None, metavar="DIR|FILE",
              help="An `icesim dataset` directory, or a recorded `icesim gather` JSONL stream (one unlabelled session per meta line).")
@click.option("--detector", type=click.Path(path_type=Path), default=None, metavar="FILE.js",
              help="The detector: a classic script (top-level functions), CommonJS or an ES module; called as fn(callback, page).")
@click.option("--export", default=None, metavar="NAME", help="The function to call (default: the default export, or module.exports when a function).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table: the confusion matrix per scenario; jsonl: one line per session, then a summary line.")
@click.option("--real-time", is_flag=True, help="Replay at the recorded browser times on the real clock (default: a virtual clock that fires timers at once, in order).")
@click.option("--jobs", type=int, default=min(os.cpu_count() or 1, 4), show_default="CPU count, at most 4", help="Node runner processes.")
@click.option("--rejected", type=click.Choice(["bot", "human", "error"]), default="bot", show_default=True,
              help="What a rejected promise means (seed-style detectors reject to flag a visitor).")
@click.option("--max-ms", type=float, default=120000.0, show_default=True, metavar="MS", help="A detector that has not settled after MS ms of browser time is unsettled.")
@click.option("--wall-timeout", type=float, default=10.0, show_default=True, metavar="S",
              help="Real seconds a session may take (plus its browser time with --real-time); past it the runner is killed (a busy loop), the session is unsettled and a fresh runner goes on.")
@click.option("--fixed-date", is_flag=True,
              help="Date.now() and the Chrome certificate count from a fixed time origin (2026-11-18T09:46:40Z) instead of the wall clock: the same documents on every run.")
@click.option("--scenario", default=None, metavar="NAMES", help="Only these scenarios (comma-separated names or globs).")
@click.option("--profile", default=None, metavar="NAMES", help="Only these profiles (comma-separated names or globs).")
@click.option("--limit", type=int, default=None, metavar="N", help="At most N sessions (after the filters, in dataset order).")
@click.option("--page-url", default=None, metavar="URL",
              help="The page the detector runs on: location, document.URL and the base of relative request URLs "
                   "(default https://www.icesim.test/; Node runner only, a real page has its own).")
@click.option("--console", type=int, default=20, show_default=True, metavar="N", help="Console lines kept per session (--format jsonl).")
@click.option("--serve", "serve_path", type=click.Path(path_type=Path), default=None, metavar="DIR|FILE",
              help="Serve these sessions (as --sessions), the module and the detector (optional) to a real browser on 127.0.0.1 instead of running Node: open /run/<session_id>?clock=virtual|real (icesim/replay/serve.py).")
@click.option("--port", type=int, default=None, metavar="PORT", help="With --serve: the loopback port (default 8765; 0 = any free port, printed on stderr).")
@click.option("--no-progress", is_flag=True, help="No progress bar (there is one on stderr only when it is a terminal).")
@click.option("--log-level", type=click.Choice(logs.LEVELS), default="warning", show_default=True)
def replay_cmd(log_level: str, **opts: Any) -> None:
    """Run a JavaScript detector once per session and print its confusion matrix per scenario.

    Each session is replayed into a browser-faithful RTCPeerConnection (icesim/js) in a fresh
    Node.js vm context; what the detector resolves, rejects or calls back with is its verdict.
    """
    logs.configure(log_level)
    from .replay.pool import ReplayUnavailable

    _check_mode(opts, click.get_current_context())
    try:
        if opts["serve_path"] is not None:
            _serve(opts)
        else:
            _replay(opts)
    except ReplayUnavailable as exc:
        click.echo(f"icesim: error: {exc}", err=True)
        raise SystemExit(2) from None


def _read(opts: dict[str, Any]) -> list[dict[str, Any]]:
    from .replay.sessions import SessionFilter, read_sessions

    if opts["sessions_path"] is None:
        raise ConfigError("--sessions", None, "is required: an `icesim dataset` directory or an `icesim gather` JSONL file")
    selection = SessionFilter(_csv(opts["scenario"]), _csv(opts["profile"]), opts["limit"])
    return read_sessions(opts["sessions_path"], selection)


def _replay(opts: dict[str, Any]) -> None:
    import structlog

    from .replay.document import check_row, replay_document
    from .replay.matrix import ConfusionMatrix, outcome_of
    from .replay.pool import DEFAULT_PAGE_URL, RunnerJob, node_command, run_documents

    _check(opts)
    rows = _read(opts)
    for row in rows:
        check_row(row)  # every row checked before anything runs; documents are built as they are fed
    documents = (replay_document(row, _called_at(opts)) for row in rows)
    command = node_command()
    real_time = opts["real_time"]
    job = RunnerJob(detector=opts["detector"].resolve(), export=opts["export"], clock="real" if real_time else "virtual",
                    max_ms=opts["max_ms"], console=opts["console"], page_url=opts["page_url"] or DEFAULT_PAGE_URL)
    wall_s = opts["wall_timeout"] + (opts["max_ms"] / 1000.0 if real_time else 0.0)
    matrix = ConfusionMatrix()
    jsonl = opts["fmt"] == "jsonl"
    log = structlog.get_logger("icesim.replay")
    log.info("replay.start", sessions=len(rows), detector=str(job.detector), jobs=opts["jobs"], clock=job.clock)

    def on_result(document: dict[str, Any], result: dict[str, Any]) -> None:
        outcome = outcome_of(document, result, opts["rejected"])
        matrix.add(outcome)
        if jsonl:
            sys.stdout.write(json.dumps(outcome.line(), ensure_ascii=False) + "\n")
            sys.stdout.flush()

    try:
        with _progress(len(rows), opts["no_progress"]) as advance:
            def counted(document: dict[str, Any], result: dict[str, Any]) -> None:
                on_result(document, result)
                advance(1)

            asyncio.run(run_documents(documents, job, command, counted, jobs=opts["jobs"], wall_timeout_s=wall_s))
        if jsonl:
            sys.stdout.write(json.dumps(matrix.summary(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`icesim replay --format jsonl | head`): the runners are stopped
        # (run_documents kills them on the way out); stop quietly, like other Unix filters.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    if not jsonl:
        click.echo(f"icesim replay: {job.detector.name} on {len(rows)} session{'' if len(rows) == 1 else 's'} "
                   f"from {opts['sessions_path']} "
                   f"({job.clock} clock, rejected = {opts['rejected']})\n")
        click.echo(matrix.table())


@contextlib.contextmanager
def _progress(total: int, off: bool) -> Iterator[Callable[[int], None]]:
    """The dataset's progress bar (sessions/s, ETA) on stderr when it is a terminal."""
    if off or not sys.stderr.isatty():
        yield lambda n: None
        return
    from .cli_dataset import _rich_progress

    with _rich_progress(total, 0) as advance:
        yield advance


def _called_at(opts: dict[str, Any]) -> float | None:
    """When the page calls the detector: now (its Date.now() is today's), or the fixed origin."""
    return None if opts["fixed_date"] else time.time() * 1000.0


def _serve(opts: dict[str, Any]) -> None:
    """--serve: icesim/replay/serve.py serves the documents, the module and the detector to a real browser."""
    from .replay.document import replay_document
    from .replay.matrix import outcome_of
    from .replay.serve import serve

    if opts["sessions_path"] not in (None, opts["serve_path"]):
        raise ConfigError("--sessions", str(opts["sessions_path"]), "give the sessions once: --serve DIR")
    try:
        rows = _read({**opts, "sessions_path": opts["serve_path"]})
    except ConfigError as exc:  # the sessions came as --serve DIR: name that option
        raise ConfigError("--serve" if exc.field_name == "--sessions" else exc.field_name, exc.value, exc.reason) from None
    serve(rows=rows, build_document=lambda row: replay_document(row, _called_at(opts)),
          describe=lambda result, document: outcome_of(document, result, opts["rejected"]).line(),
          detector=opts["detector"], export=opts["export"], port=opts["port"],
          clock="real" if opts["real_time"] else "virtual", max_ms=opts["max_ms"], console_lines=opts["console"])
