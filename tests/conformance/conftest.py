"""Fixtures of the conformance suite: every selected (scenario, browser) run starts at once in a
thread pool when the first test asks (long-timer scenarios first), so the 40 s browser timers
run once and in parallel; each test then waits for its own run. The table of matches and
differences is printed in the terminal summary."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import runner
from report import Row, format_table
from scenarios import by_name

ROWS: list[Row] = []
# How many runs at once. Each run is one browser plus one icesim process; the 40 s runs mostly
# wait, so more runs than cores is fine.
JOBS = int(os.environ.get("ICESIM_CONFORMANCE_JOBS", "4"))


def _selected_runs(session: pytest.Session) -> list[tuple[str, str]]:
    runs = []
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "conformance_run" in getattr(item, "fixturenames", ()) and "scenario" in params:
            runs.append((params["scenario"].name, params["browser"]))
    # Long timers first: they set the suite's duration, the short runs fill in around them.
    return sorted(dict.fromkeys(runs), key=lambda r: (not by_name(r[0]).long_timers, r[1] != "chrome"))


@pytest.fixture(scope="session")
def conformance_runs(request: pytest.FixtureRequest) -> Iterator[dict[tuple[str, str], concurrent.futures.Future]]:
    reason = runner.unavailable_reason()
    if reason:
        pytest.skip(f"conformance suite: {reason}")
    runner.sweep_leftovers()
    workdir = Path(tempfile.mkdtemp(prefix=f"{runner.PREFIX}{os.getpid()}-conformance-"))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=JOBS, thread_name_prefix="conformance")
    futures = {}
    for index, (name, browser) in enumerate(_selected_runs(request.session)):
        if runner.browser_missing(browser) is None:
            futures[(name, browser)] = pool.submit(
                runner.run_scenario, index, browser, by_name(name), workdir / f"{browser}-{name}")
    started = time.monotonic()
    request.config.stash[_WORKDIR] = workdir

    def finished(_: concurrent.futures.Future) -> None:  # the suite's time: until its last run ends
        request.config.stash[_SUITE_SECONDS] = time.monotonic() - started

    for future in futures.values():
        future.add_done_callback(finished)
    try:
        yield futures
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_SUITE_SECONDS = pytest.StashKey[float]()
_WORKDIR = pytest.StashKey[Path]()


@pytest.fixture
def conformance_run(conformance_runs, scenario, browser) -> runner.RunResult:
    missing = runner.browser_missing(browser)
    if missing:
        pytest.skip(f"conformance suite: {missing}")
    return conformance_runs[(scenario.name, browser)].result()


@pytest.fixture
def rerun(request: pytest.FixtureRequest):
    """Run one (scenario, browser) again, alone: a timing difference counts only if it shows
    twice (a loaded CI machine delays a single run's packets by hundreds of ms)."""

    def again(scenario, browser: str) -> runner.RunResult:
        workdir = request.config.stash.get(_WORKDIR, None) or Path(tempfile.mkdtemp(prefix=f"{runner.PREFIX}{os.getpid()}-"))
        again.count += 1
        return runner.run_scenario(1000 + len(ROWS) * 10 + again.count, browser, scenario,
                                   workdir / f"{browser}-{scenario.name}-rerun{again.count}")

    again.count = 0
    return again


@pytest.fixture
def record_row():
    return ROWS.append


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not ROWS:
        return
    terminalreporter.section("conformance: icesim vs real browsers")
    terminalreporter.write_line(format_table(ROWS))
    seconds = config.stash.get(_SUITE_SECONDS, None)
    workdir = config.stash.get(_WORKDIR, None)
    if seconds is not None:
        terminalreporter.write_line(f"runs took {seconds:.1f} s in parallel (up to {JOBS} at once)")
    if workdir is None:
        return
    # Streams and browser logs are kept only when there is something to look at.
    if any(r.unexpected for r in ROWS) or os.environ.get("ICESIM_CONFORMANCE_KEEP"):
        terminalreporter.write_line(f"streams (result.json) and logs of every run kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
