"""`icesim dataset`: build a labelled dataset from profiles; `icesim dataset report DIR`."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import click

from . import logs
from .config import ConfigError


@contextlib.contextmanager
def _rich_progress(total: int, already: int):
    """A progress bar on stderr with sessions/s and ETA; yields advance(n)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (
        TextColumn("[bold]sessions"), BarColumn(), MofNCompleteColumn(),
        TextColumn("[cyan]{task.fields[rate]}/s"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False, speed_estimate_period=5.0) as progress:
        task = progress.add_task("sessions", total=total, completed=already, rate="-")

        def advance(n: int) -> None:
            progress.advance(task, n)
            speed = progress.tasks[0].speed
            progress.update(task, rate=f"{speed:,.0f}" if speed else "-")

        yield advance


@click.group("dataset", invoke_without_command=True)
@click.option("--profiles", default="*", show_default=True, help="Names, globs or .toml paths, each optionally =WEIGHT, comma-separated.")
@click.option("--sessions", type=int, default=1000, show_default=True, help="Sessions to generate.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("dataset"), show_default=True, help="Output directory (re-run to resume).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl"]), default="parquet", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed and profiles -> the same sessions (apart from real ports).")
@click.option("--workers", type=int, default=os.cpu_count() or 1, show_default="CPU count", help="Worker processes (local executor).")
@click.option("--concurrency", type=int, default=500, show_default=True, help="Gathers in flight per worker (capped by RLIMIT_NOFILE).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", default=None, metavar="ADDR", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786.")
@click.option("--shard-size", type=int, default=1000, show_default=True, help="Sessions per output part (the unit of resume).")
@click.option("--time-scale", type=float, default=1000.0, show_default=True, help="Browser timers run F times faster; t stays browser time.")
@click.option("--max-lag", "max_lag_ms", type=float, default=0.5, show_default=True, metavar="MS", help="Admit a session only while the worker's event loop lags less than MS (loop lag would count as network time in t); 0 = no pacing.")
@click.option("--skip-unsupported", is_flag=True, help="Leave out (with a warning) profiles this build cannot run, instead of exit 2.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--log-level", type=click.Choice(logs.LEVELS), default="warning", show_default=True)
@click.pass_context
def dataset_cmd(ctx: click.Context, log_level: str, no_progress: bool, **opts) -> None:
    """Generate a labelled dataset: every session a real gather from a profile.

    Writes OUT/sessions.FORMAT/, OUT/features.FORMAT/ (one part per shard) and OUT/manifest.json.
    """
    if ctx.invoked_subcommand is not None:
        return
    logs.configure(log_level)
    from .dataset.build import DatasetOptions, build_dataset

    options = DatasetOptions(**opts)

    @contextlib.contextmanager
    def quiet(total: int, already: int):
        yield lambda n: None

    manifest = build_dataset(options, quiet if no_progress else _rich_progress,
                             warn=lambda m: click.echo(f"icesim: warning: {m}", err=True))
    click.echo(json.dumps({k: manifest[k] for k in ("status", "counts", "sessions_this_run", "wall_time_s", "sessions_per_s")}))


@dataset_cmd.command("report")
@click.argument("directory", type=click.Path(path_type=Path))
def report_cmd(directory: Path) -> None:
    """Write DIRECTORY/report.html with plots and a per-feature AUC table."""
    if not (directory / "manifest.json").exists():
        raise ConfigError("DIR", str(directory), "is not a dataset directory (no manifest.json)")
    from .dataset.report import write_report

    click.echo(str(write_report(directory)))
