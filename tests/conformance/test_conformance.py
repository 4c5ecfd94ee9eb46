"""icesim against real headless browsers, scenario by scenario (scenarios.py), each in a lab of
network namespaces of its own (runner.py): the browser's stream and icesim's, recorded at the same
time in the same namespace, must be the same after masking what is random in the browser too
(compare.py). Differences listed in known.py (README "Known differences") are reported, not
failed; any other difference fails the test. The table is printed at the end of the run."""

from __future__ import annotations

import pytest

from report import make_row, run_differences
from scenarios import BROWSERS, SCENARIOS

pytestmark = pytest.mark.conformance


@pytest.mark.parametrize("browser", BROWSERS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_icesim_matches_the_browser(scenario, browser, conformance_run, record_row, rerun):
    run = conformance_run
    row = _row(scenario, browser, run)
    if row.unexpected and all(d.kind == "timing" for d in row.unexpected):
        first = "; ".join(str(d) for d in row.unexpected)
        run = rerun(scenario, browser)
        row = _row(scenario, browser, run)
        row.note = f"run again alone after timing differences in the parallel run: {first}"
    record_row(row)
    assert not row.unexpected, f"{browser}/{scenario.name}: {scenario.summary}\n" + "\n".join(
        str(d) for d in row.unexpected)


def _row(scenario, browser, run):
    b, i = run.browser_side, run.icesim_side
    diffs = run_differences(scenario, browser, b.lines, b.error, i.lines, i.error)
    return make_row(scenario, browser, b.lines, i.lines, diffs, run.seconds)
