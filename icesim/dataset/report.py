"""`icesim dataset report DIR`: report.html with PNG plots and a per-feature AUC table.

AUC here is the Mann-Whitney probability that a random bot scores above a random human on a
feature (ties count half), over the sessions where the feature is defined. 0.5 = useless;
separation = max(AUC, 1 - AUC) ranks features whichever direction they point.
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from .features import FEATURE_NUMERIC
from .output import DatasetDir, read_table


def auc(bot: list[float], human: list[float]) -> float | None:
    """P(bot > human) + P(tie)/2 by ranks (O(n log n))."""
    if not bot or not human:
        return None
    values = sorted([(v, 1) for v in bot] + [(v, 0) for v in human])
    rank_sum, i = 0.0, 0
    while i < len(values):
        j = i
        while j < len(values) and values[j][0] == values[i][0]:
            j += 1
        avg_rank = (i + 1 + j) / 2  # ranks i+1 .. j
        rank_sum += avg_rank * sum(1 for k in range(i, j) if values[k][1] == 1)
        i = j
    n_b, n_h = len(bot), len(human)
    return (rank_sum - n_b * (n_b + 1) / 2) / (n_b * n_h)


def feature_aucs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name in FEATURE_NUMERIC:
        bot = [float(r[name]) for r in rows if r["label"] == "bot" and r.get(name) is not None]
        human = [float(r[name]) for r in rows if r["label"] == "human" and r.get(name) is not None]
        a = auc(bot, human)
        out.append({
            "feature": name, "auc": a, "separation": None if a is None else max(a, 1 - a),
            "direction": None if a is None else ("higher for bots" if a > 0.5 else "higher for humans" if a < 0.5 else "-"),
            "defined": len(bot) + len(human),
        })
    out.sort(key=lambda d: -(d["separation"] or 0))
    return out


def write_report(directory: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    out = DatasetDir(directory, manifest.get("format", "parquet"))
    rows = read_table(out.features_dir, out.fmt).to_pylist()
    labels = sorted({r["label"] for r in rows})
    plots: list[tuple[str, str]] = []

    def save(fig, name: str, title: str) -> None:
        fig.tight_layout()
        fig.savefig(directory / name, dpi=90)
        plt.close(fig)
        plots.append((name, title))

    counts = Counter(r["label"] for r in rows)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(labels, [counts[lb] for lb in labels], color=["#c0392b" if lb == "bot" else "#2e86c1" for lb in labels])
    ax.set_ylabel("sessions")
    save(fig, "class_balance.png", "Class balance")

    types = ("n_host", "n_srflx", "n_relay", "n_tcp")
    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.8 / max(len(labels), 1)
    for k, lb in enumerate(labels):
        sel = [r for r in rows if r["label"] == lb]
        means = [sum(r[t] for r in sel) / len(sel) for t in types]
        ax.bar([i + k * width for i in range(len(types))], means, width, label=lb)
    ax.set_xticks([i + width * (len(labels) - 1) / 2 for i in range(len(types))], [t[2:] for t in types])
    ax.set_ylabel("candidates per session (mean)")
    ax.legend()
    save(fig, "candidate_types.png", "Candidate types by label")

    by_scenario: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in rows:
        by_scenario[(r["scenario"], r["label"])].append(r["n_701"])
    scen = sorted({s for s, _ in by_scenario})
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(scen) + 1.2))
    height = 0.8 / max(len(labels), 1)
    for k, lb in enumerate(labels):
        shares = [sum(1 for v in by_scenario[(s, lb)] if v) / len(by_scenario[(s, lb)]) if by_scenario.get((s, lb)) else 0
                  for s in scen]
        ax.barh([i + k * height for i in range(len(scen))], shares, height, label=lb)
    ax.set_yticks([i + height * (len(labels) - 1) / 2 for i in range(len(scen))], scen)
    ax.set_xlabel("share of sessions with a 701")
    ax.legend()
    save(fig, "errors_701_by_scenario.png", "701 errors by scenario and label")

    for key, title in (("t_first_candidate_ms", "Time to first candidate"), ("t_complete_ms", "Time to complete")):
        fig, ax = plt.subplots(figsize=(6, 3))
        for lb in labels:
            vals = [r[key] for r in rows if r["label"] == lb and r[key] is not None and r[key] > 0]
            if vals:
                ax.hist(vals, bins=50, alpha=0.6, label=lb, log=False)
        ax.set_xscale("symlog")
        ax.set_xlabel("browser ms")
        ax.legend()
        save(fig, f"{key}.png", f"{title} by label (browser time)")

    aucs = feature_aucs(rows)
    (directory / "feature_auc.json").write_text(json.dumps(aucs, indent=2) + "\n")
    table = "\n".join(
        f"<tr><td>{html.escape(a['feature'])}</td><td>{_fmt(a['auc'])}</td><td>{_fmt(a['separation'])}</td>"
        f"<td>{a['direction'] or '-'}</td><td>{a['defined']}</td></tr>" for a in aucs
    )
    figs = "\n".join(f'<figure><img src="{n}" alt="{html.escape(t)}"><figcaption>{html.escape(t)}</figcaption></figure>'
                     for n, t in plots)
    profiles = ", ".join(html.escape(p["name"]) for p in manifest.get("profiles", []))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>icesim dataset report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}figure{{display:inline-block;margin:1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}</style>
</head><body><h1>icesim dataset report</h1>
<p>{len(rows)} sessions; counts {html.escape(json.dumps(dict(counts)))}; seed {manifest.get('seed')};
icesim {html.escape(str(manifest.get('icesim_version')))}; time scale {manifest.get('time_scale')}.</p>
<p>Profiles: {profiles}</p>
{figs}
<h2>Features that best separate the labels</h2>
<p>AUC = P(a bot scores higher than a human), over sessions where the feature is defined.</p>
<table><tr><th>feature</th><th>AUC</th><th>separation</th><th>direction</th><th>sessions</th></tr>
{table}</table></body></html>
"""
    path = directory / "report.html"
    tmp = directory / ".report.html.tmp"
    tmp.write_text(page)
    tmp.replace(path)
    return path


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
