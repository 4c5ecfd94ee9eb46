"""Runner results -> verdicts (icesim/replay/verdict.py), and the confusion matrix built from them
(icesim/replay/matrix.py): counts, totals, rates, reasons, the problem list, both formats."""

from __future__ import annotations

import json

import pytest

from icesim.replay.matrix import PROBLEM_LIST_MAX, ConfusionMatrix, outcome_of
from icesim.replay.verdict import verdict_of


def res(status: str, value=None) -> dict:
    return {"session_id": "s", "status": status, "value": value, "settled_ms": 1.0, "errors": [], "console": []}


@pytest.mark.parametrize("value,verdict,reason", [
    (True, "bot", "resolved"), (False, "human", "resolved"),
    ("bot", "bot", "resolved"), ("Human", "human", "resolved"), ("true", "bot", "resolved"),
    ({"isBot": True, "reason": "timeout"}, "bot", "timeout"), ({"isBot": False}, "human", "resolved"),
    ({"bot": True, "type": "ice-error"}, "bot", "ice-error"), ({"bot": False, "reason": "ok"}, "human", "ok"),
    ({"verdict": "bot"}, "bot", "resolved"), ({"label": "human"}, "human", "resolved"),
    # Any other value: the detector let the session through.
    (["203.0.113.5", "10.0.0.2"], "human", "resolved"), ({"ips": []}, "human", "resolved"), (None, "human", "resolved"),
    (42, "human", "resolved"), ("looks fine", "human", "looks fine"),
])
def test_resolved_values(value, verdict, reason) -> None:
    got = verdict_of(res("resolved", value))
    assert (got.verdict, got.reason) == (verdict, reason)


def test_callback_and_returned_values_read_like_resolved_ones() -> None:
    assert verdict_of(res("callback", True)).verdict == "bot"
    assert verdict_of(res("returned", {"isBot": False})).verdict == "human"
    assert verdict_of(res("callback", ["1.2.3.4"])).reason == "callback"


@pytest.mark.parametrize("rejected", ["bot", "human", "error"])
def test_a_rejection_is_what_the_user_says(rejected) -> None:
    got = verdict_of(res("rejected", {"name": "Error", "message": "timeout"}), rejected)
    assert (got.verdict, got.reason) == (rejected, "Error: timeout")
    assert verdict_of(res("rejected")).verdict == "bot"  # the default
    assert verdict_of(res("rejected")).reason == "rejected"


def test_throws_and_unsettled() -> None:
    got = verdict_of(res("threw", {"name": "TypeError", "message": "x is not a function"}))
    assert (got.verdict, got.reason) == ("error", "TypeError: x is not a function")
    got = verdict_of(res("unsettled", {"reason": "no answer within 10 s of real time (busy loop?)"}))
    assert (got.verdict, got.reason) == ("unsettled", "no answer within 10 s of real time (busy loop?)")
    assert verdict_of(res("unsettled")).reason == "never settled"
    assert verdict_of(res("weird")).verdict == "error"


def test_a_long_reason_is_shortened_to_one_line() -> None:
    got = verdict_of(res("resolved", {"isBot": True, "reason": "a\nb " + "x" * 200}))
    assert "\n" not in got.reason and len(got.reason) == 80 and got.reason.startswith("a b x")


# --- the matrix --------------------------------------------------------------------------------

def doc(sid: str, label: str | None, scenario: str | None) -> dict:
    return {"session_id": sid, "label": label, "scenario": scenario, "profile": f"p-{scenario}", "browser": "chrome@156"}


def _matrix() -> ConfusionMatrix:
    m = ConfusionMatrix()
    rows = (
        [(doc(f"u{k}", "bot", "udp-blocked"), res("resolved", {"isBot": True, "reason": "timeout"})) for k in range(5)]
        + [(doc("u5", "bot", "udp-blocked"), res("resolved", False))]
        + [(doc(f"h{k}", "human", "home-nat"), res("callback", ["203.0.113.9"])) for k in range(3)]
        + [(doc("c0", "human", "corporate"), res("rejected", {"name": "Error", "message": "no candidates"}))]
        + [(doc("c1", "human", "corporate"), res("threw", {"name": "TypeError", "message": "boom"}))]
        + [(doc("c2", "human", "corporate"), res("unsettled"))]
    )
    for d, r in rows:
        m.add(outcome_of(d, {**r, "session_id": d["session_id"]}))
    return m


def test_counts_totals_and_rates() -> None:
    summary = _matrix().summary()["summary"]
    assert summary["sessions"] == 12
    cells = {(c["scenario"], c["label"]): c for c in summary["matrix"]}
    assert {k: cells[("udp-blocked", "bot")][k] for k in ("bot", "human", "error", "unsettled", "sessions")} == \
        {"bot": 5, "human": 1, "error": 0, "unsettled": 0, "sessions": 6}
    assert {k: cells[("corporate", "human")][k] for k in ("bot", "human", "error", "unsettled")} == \
        {"bot": 1, "human": 0, "error": 1, "unsettled": 1}
    assert summary["totals"]["human"]["sessions"] == 6 and summary["totals"]["bot"]["bot"] == 5
    metrics = summary["metrics"]
    assert metrics["tpr"] == {"value": round(5 / 6, 4), "num": 5, "den": 6}
    assert metrics["fpr"] == {"value": round(1 / 6, 4), "num": 1, "den": 6}
    assert metrics["precision"] == {"value": round(5 / 6, 4), "num": 5, "den": 6}
    assert cells[("udp-blocked", "bot")]["reasons"]["bot"] == {"timeout": 5}
    assert [p["session_id"] for p in summary["problems"]] == ["c1", "c2"]
    json.dumps(summary)  # JSON-safe as it is


def test_the_table_shows_the_matrix_rates_reasons_and_problems() -> None:
    text = _matrix().table()
    lines = text.splitlines()
    assert lines[0].split() == ["scenario", "label", "sessions", "bot", "human", "error", "unsettled"]
    assert "udp-blocked  bot" in text and any(ln.split() == ["udp-blocked", "bot", "6", "5", "1", "0", "0"] for ln in lines)
    assert any(ln.split() == ["total", "human", "6", "1", "3", "1", "1"] for ln in lines)
    assert "bot = positive: TPR 0.833 (5/6)  FPR 0.167 (1/6)  precision 0.833 (5/6)" in text
    assert "  udp-blocked / bot -> bot: timeout x5" in text
    assert "  corporate / human -> bot: Error: no candidates x1" in text
    assert "  c1  p-corporate  error: TypeError: boom" in text


def test_the_problem_list_is_capped() -> None:
    m = ConfusionMatrix()
    for k in range(PROBLEM_LIST_MAX + 4):
        m.add(outcome_of(doc(f"s{k}", "bot", "x"), res("threw", {"name": "Error", "message": "e"})))
    text = m.table()
    assert f"sessions that errored or never settled ({PROBLEM_LIST_MAX + 4}):" in text
    assert text.rstrip().endswith("4 more: --format jsonl")


def test_unlabelled_sessions_and_undefined_rates() -> None:
    m = ConfusionMatrix()
    m.add(outcome_of(doc("g", None, None), res("resolved", True)))
    assert m.metrics()["tpr"]["value"] is None
    assert "TPR n/a (0/0)" in m.table()
    assert m.summary()["summary"]["matrix"][0]["label"] == "-"


def test_the_session_line_has_the_documented_keys() -> None:
    line = outcome_of(doc("x", "bot", "s"), {**res("resolved", [1]), "console": ["hi"], "errors": ["E"]}).line()
    assert list(line) == ["session_id", "label", "scenario", "profile", "browser", "verdict", "reason", "status",
                          "value", "settled_ms", "errors", "console"]
    assert (line["verdict"], line["value"], line["console"], line["errors"]) == ("human", [1], ["hi"], ["E"])
