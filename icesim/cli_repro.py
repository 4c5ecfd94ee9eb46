"""`icesim repro 701`: reproduce, by name, the ICE error cases anti-bot teams see in their logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any

import click

from . import logs
from .config import ConfigError
from .lab import LabError
from .events import Event, to_json_line
from .render import pretty_line
from .repro import ALL_CASES, get_case
from .repro.coturn import CoturnMissing, running_coturn
from .repro.matching import match_stream
from .repro.model import CAPTURED_VERSIONS, Case, expectation_origin
from .repro.report import event_of, exception_line, explanation_json, explanation_lines, summary_row, summary_table
from .repro.runner import DEFAULT_TIME_SCALE, run_case, run_cases


@click.group("repro")
def repro() -> None:
    """Reproduce ICE error cases for real, by name (real sockets and servers on loopback)."""


@repro.command("701")
@click.argument("case_name", metavar="CASE", required=False)
@click.option("--list", "list_cases", is_flag=True, help="List the cases with a one-line description.")
@click.option("--all", "run_all", is_flag=True, help="Run every case concurrently and print a summary table.")
@click.option("--browser", default="chrome", show_default=True,
              help="chrome, or firefox for the cases with a captured Firefox stream (safari: no captures yet).")
@click.option("--real-time", is_flag=True, help="Wait the browser's real timers (~40 s for Chrome's 701 timeout).")
@click.option("--lab", is_flag=True, help="Run in a kernel network lab (namespaces, nftables drops, coturn) instead of in-process faults.")
@click.option("--seed", type=int, default=None, help="Reproducible ufrag, mDNS names and timer jitter.")
@click.option("--format", "fmt", type=click.Choice(["pretty", "jsonl"]), default="pretty", show_default=True)
@click.option("--log-level", type=click.Choice(logs.LEVELS), default="warning", show_default=True)
def repro_701(case_name: str | None, list_cases: bool, run_all: bool, browser: str, real_time: bool,
              lab: bool, seed: int | None, fmt: str, log_level: str) -> None:
    """Run error case CASE (see --list) and explain it; exit 1 when the stream differs from the
    browser's (captured) stream. By default timers run 200x faster (every case ends within
    ~2 s) while the printed t stay browser time."""
    logs.configure(log_level)
    if sum((list_cases, run_all, case_name is not None)) != 1:
        raise click.UsageError("give exactly one of CASE, --list or --all (icesim repro 701 --list shows the cases)")
    if list_cases:
        _list(fmt)
        return
    cases = list(ALL_CASES) if run_all else [get_case(case_name or "")]
    _check_browser(browser, [] if run_all else cases)  # with --all, cases without one are skipped
    scale = 1.0 if real_time else DEFAULT_TIME_SCALE
    if lab:
        _check_lab(None if run_all else cases[0])
    try:
        if run_all:
            ok = asyncio.run(_run_all(cases, browser, scale, seed, fmt, lab))
        else:
            ok = asyncio.run(_run_one(cases[0], browser, scale, seed, fmt, lab))
    except LabError as exc:  # no namespaces here, a missing tool...: one line, exit 2
        raise click.UsageError(f"--lab: {exc}") from None
    sys.exit(0 if ok else 1)


def _check_lab(case: Case | None) -> None:
    """The lab exists in this icesim and, for one case, can run it (one line, exit 2 if not)."""
    try:
        from .repro.lab_runner import lab_refusal
    except ImportError:  # pragma: no cover - an icesim without the lab
        raise click.UsageError("--lab: the network lab is not available in this icesim") from None
    reason = None if case is None else lab_refusal(case)
    if reason:
        raise click.UsageError(f"--lab: case {case.name} cannot run in a lab: {reason}")


async def _nothing() -> list:
    return []


def _constructor_only(case: Case, browser: str = "chrome") -> bool:
    """A case that ends in the RTCPeerConnection constructor in this browser (its expected
    stream is the exception alone): no network, nothing for a lab."""
    expected = case.expected.get(browser.partition("@")[0].strip().lower(), ())
    return len(expected) == 1 and expected[0].kind == "exception"


def _list(fmt: str) -> None:
    width = max(len(c.name) for c in ALL_CASES)
    for case in ALL_CASES:
        if fmt == "jsonl":
            click.echo(json.dumps({"case": case.name, "summary": case.summary, "needsCoturn": case.needs_coturn,
                                   "browsers": sorted(case.expected),
                                   "expectedFrom": {b: expectation_origin(case, b) for b in sorted(case.expected)}}))
        else:
            click.echo(f"{case.name:<{width}}  {case.summary}" + ("  [coturn]" if case.needs_coturn else ""))


def _check_browser(browser: str, cases: list[Case]) -> None:
    from .dialects import get_dialect

    dialect = get_dialect(browser)  # an unknown dialect or version: one line, exit 2
    name = dialect.name
    captured = CAPTURED_VERSIONS.get(name)
    if captured is not None and dialect.version != captured:
        raise ConfigError("--browser", browser, f"the expected streams are {name}@{captured} ones; "
                          f"use --browser {name}")
    missing = [c.name for c in cases if name not in c.expected]
    if missing:
        raise ConfigError("--browser", browser, f"no expected {name} stream for {', '.join(missing)} yet "
                          f"(cases with one: icesim repro 701 --list --format jsonl)")


@contextlib.asynccontextmanager
async def _coturn_if_needed(cases: list[Case], required: bool):
    """coturn for the cases that need it; None when none does or (with --all) it is missing."""
    if not any(c.needs_coturn for c in cases):
        yield None
        return
    try:
        async with running_coturn() as server:
            yield server
    except CoturnMissing as exc:
        if required:
            raise click.UsageError(str(exc)) from None
        yield None


async def _run_one(case: Case, browser: str, scale: float, seed: int | None, fmt: str, lab: bool) -> bool:
    def sink(event: Event | None, line: dict[str, Any]) -> None:
        if fmt == "jsonl":
            text = to_json_line(event) if event is not None else json.dumps(line, ensure_ascii=False)
        elif line["type"] == "exception":
            text = exception_line(line)
        else:
            text = pretty_line(event if event is not None else event_of(line))
            if line["type"] == "meta":
                text += f"\n# case {case.name}: {case.summary}" + ("  (in a network lab)" if lab else "")
        click.echo(text)

    if lab and case.servers and not _constructor_only(case, browser):
        from .repro.lab_runner import run_case_in_lab

        run = await run_case_in_lab(case, browser, time_scale=scale, seed=seed, sink=sink)
    else:
        async with _coturn_if_needed([case], required=True) as coturn:
            run = await run_case(case, browser, time_scale=scale, seed=seed, coturn=coturn, sink=sink)
    problems = match_stream(case.expected[run.browser_name], run.lines, run.servers)
    if fmt == "jsonl":
        click.echo(explanation_json(run, problems))
    else:
        for line in explanation_lines(run, problems):
            click.echo(line)
    return not problems


async def _run_all(cases: list[Case], browser: str, scale: float, seed: int | None, fmt: str, lab: bool) -> bool:
    from .dialects import get_dialect

    dialect_name = get_dialect(browser).name
    refusals = {}
    if lab:
        from .repro.lab_runner import lab_refusal, run_case_in_lab

        refusals = {c.name: r for c in cases if (r := lab_refusal(c))}
    wanted = [c for c in cases if dialect_name in c.expected and c.name not in refusals]
    in_lab = [c for c in wanted if lab and not _constructor_only(c, browser)]
    local = [c for c in wanted if c not in in_lab]
    async with _coturn_if_needed(local, required=False) as coturn:
        runnable = [c for c in local if coturn is not None or not c.needs_coturn]
        runs = await asyncio.gather(
            run_cases(runnable, browser, time_scale=scale, seed=seed, coturn=coturn),
            asyncio.gather(*(run_case_in_lab(c, browser, time_scale=scale, seed=seed) for c in in_lab),
                           return_exceptions=True) if in_lab else _nothing(),
        )
        results = dict(zip((c.name for c in [*runnable, *in_lab]), [*runs[0], *runs[1]]))
    rows = []
    for case in cases:
        result = results.get(case.name)
        if case.name in refusals:
            rows.append(summary_row(case, browser, None, None, "no lab run: " + refusals[case.name].split(";")[0]))
        elif dialect_name not in case.expected:
            rows.append(summary_row(case, browser, None, None, f"no expected {dialect_name} stream yet"))
        elif result is None:
            rows.append(summary_row(case, browser, None, None, "needs coturn (apt-get install coturn)"))
        elif isinstance(result, BaseException):
            rows.append(summary_row(case, browser, None, None, f"failed: {result}"))
        else:
            rows.append(summary_row(case, browser, result,
                                    match_stream(case.expected[result.browser_name], result.lines, result.servers)))
    if fmt == "jsonl":
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
    else:
        for line in summary_table(rows):
            click.echo(line)
    return all(r["matchesExpected"] is not False and not r.get("note", "").startswith("failed") for r in rows)
