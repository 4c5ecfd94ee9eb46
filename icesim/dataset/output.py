"""Dataset files: sharded, atomic, resumable.

    OUT/manifest.json
    OUT/sessions.parquet/part-00000.parquet    (a Parquet dataset directory: pyarrow/pandas
    OUT/features.parquet/part-00000.parquet     read the directory as one table)

JSONL uses sessions.jsonl/ and features.jsonl/ the same way. A part is written to a dot-file in
the same directory and renamed into place (readers skip dot-files), sessions before features, so
a shard is finished exactly when its features part exists. kill -9 at any point leaves at most a
dot-file (removed on the next run) or a sessions part without features (rewritten).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from ..profiles import ProfileError

SESSIONS_SCHEMA = pa.schema([
    ("session_id", pa.string()), ("index", pa.int64()), ("seed", pa.int64()), ("label", pa.string()),
    ("scenario", pa.string()), ("profile", pa.string()), ("browser", pa.string()),
    ("claimed_browser", pa.string()), ("user_agent", pa.string()), ("os", pa.string()), ("device", pa.string()),
    ("webrtc", pa.string()), ("permission", pa.string()), ("policy", pa.string()), ("nat", pa.string()),
    ("udp_blocked", pa.bool_()), ("web_address", pa.string()), ("public_v4", pa.string()),
    ("public_v6", pa.string()), ("interfaces", pa.string()), ("rtt_ms", pa.float64()), ("time_scale", pa.float64()),
    ("page_timeout_ms", pa.float64()), ("page_error", pa.string()), ("events", pa.string()),
    ("browser_ms", pa.float64()), ("wall_ms", pa.float64()), ("loop_lag_ms", pa.float64()), ("sdp", pa.string()),
    ("lab_topology", pa.string()),  # `icesim dataset --lab`: the lab the session ran in (null in-process)
    ("media", pa.string()), ("bundle_policy", pa.string()),  # page.media (comma-separated), page.bundle_policy
    ("stubbed_events", pa.string()),  # stubbed_callback: every event, the swallowed candidates included
])

_B, _I, _F, _S = pa.bool_(), pa.int64(), pa.float64(), pa.string()
FEATURES_SCHEMA = pa.schema([
    ("session_id", _S), ("label", _S), ("scenario", _S), ("profile", _S), ("webrtc_present", _B),
    ("n_events", _I), ("n_candidates", _I), ("n_host", _I), ("n_srflx", _I), ("n_relay", _I), ("n_prflx", _I),
    ("n_udp", _I), ("n_tcp", _I), ("n_ipv6_candidates", _I), ("has_mdns_host", _B), ("has_private_host", _B),
    ("has_public_host", _B), ("has_cgnat_host", _B), ("host_address_classes", _S), ("n_srflx_addresses", _I),
    ("srflx_web_mismatch", _B), ("srflx_class", _S), ("web_class", _S), ("n_errors", _I), ("n_701", _I),
    ("error_texts", _S), ("t_first_candidate_ms", _F), ("t_complete_ms", _F), ("t_last_event_ms", _F),
    ("completed", _B), ("dialect_consistent", _B), ("network_costs", _S), ("max_network_cost", _I),
    ("srflx_port_preserved", _B), ("n_transports", _I), ("n_empty_end_candidates", _I),
])

FORMATS = ("parquet", "jsonl")
WRITE_SLICE = 128  # rows converted per GIL hold
# The manifest fields a resumed run must agree with.
IDENTITY_KEYS = ("seed", "sessions", "shard_size", "format", "profiles", "time_scale", "network")


def part_name(shard: int, fmt: str) -> str:
    return f"part-{shard:05d}.{fmt}"


class DatasetDir:
    def __init__(self, root: Path, fmt: str) -> None:
        self.root, self.fmt = Path(root), fmt
        self.sessions_dir = self.root / f"sessions.{fmt}"
        self.features_dir = self.root / f"features.{fmt}"

    def prepare(self) -> None:
        for d in (self.sessions_dir, self.features_dir):
            d.mkdir(parents=True, exist_ok=True)
            for stale in d.glob(".part-*"):  # a killed run's half-written part
                stale.unlink()

    def finished_shards(self) -> set[int]:
        done = set()
        for f in self.features_dir.glob(f"part-*.{self.fmt}"):
            shard = int(f.name.split("-", 1)[1].split(".", 1)[0])
            if (self.sessions_dir / f.name).exists():
                done.add(shard)
        return done

    def write_shard(self, shard: int, sessions: list[dict[str, Any]], features: list[dict[str, Any]]) -> None:
        _write_atomic(self.sessions_dir / part_name(shard, self.fmt), sessions, SESSIONS_SCHEMA, self.fmt)
        _write_atomic(self.features_dir / part_name(shard, self.fmt), features, FEATURES_SCHEMA, self.fmt)

    # -- manifest ---------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def read_manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ProfileError(str(self.manifest_path), "manifest", "manifest.json", f"unreadable: {exc}") from None

    def check_resumable(self, identity: dict[str, Any]) -> None:
        """A re-run into the same --out must describe the same dataset; else exit 2, touch nothing."""
        old = self.read_manifest()
        if old is None:
            if any(self.root.glob("*.parquet")) or any(self.root.glob("*.jsonl")):
                raise ProfileError(str(self.root), "--out", str(self.root), "holds dataset files but no manifest.json")
            return
        for key in IDENTITY_KEYS:
            if old.get(key) != identity.get(key):
                raise ProfileError(str(self.root), "--out", str(self.root),
                                   f"holds another dataset ({key} differs: {_short(old.get(key))} vs "
                                   f"{_short(identity.get(key))}); use a new --out directory")

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        tmp = self.root / f".manifest.json.tmp.{os.getpid()}"
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.manifest_path)

    def label_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for label in read_column(self.sessions_dir, self.fmt, "label"):
            counts[label] = counts.get(label, 0) + 1
        return counts


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) < 60 else text[:57] + "..."


def _write_atomic(path: Path, rows: list[dict[str, Any]], schema: pa.Schema, fmt: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    try:
        if fmt == "parquet":
            # Converted in slices: converting Python rows holds the GIL, and the writer runs in a
            # thread next to a worker's event loop; small slices let the loop in between. Written
            # as one table (one row group): a row group per slice cost 2-3x the CPU to encode.
            batches = [pa.RecordBatch.from_pylist(rows[i:i + WRITE_SLICE], schema=schema)
                       for i in range(0, max(len(rows), 1), WRITE_SLICE)]
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                writer.write_table(pa.Table.from_batches(batches, schema=schema))
        else:
            with open(tmp, "w", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(row, separators=(",", ":")) + "\n")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_table(directory: Path, fmt: str) -> pa.Table:
    """Every finished part of a sessions/features directory as one table."""
    files = sorted(Path(directory).glob(f"part-*.{fmt}"))
    if fmt == "parquet":
        return pa.concat_tables([pq.read_table(f) for f in files]) if files else pa.table({})
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines() if line]
    return pa.Table.from_pylist(rows)


def iter_rows(directory: Path, fmt: str) -> Iterator[dict[str, Any]]:
    """Every finished part's rows as dicts, in part order, one part in memory at a time."""
    for f in sorted(Path(directory).glob(f"part-*.{fmt}")):
        if fmt == "parquet":
            yield from pq.read_table(f).to_pylist()
        else:
            with open(f, encoding="utf-8") as lines:
                yield from (json.loads(line) for line in lines if line.strip())


def read_column(directory: Path, fmt: str, column: str) -> list[Any]:
    files = sorted(Path(directory).glob(f"part-*.{fmt}"))
    if fmt == "parquet":
        return [v for f in files for v in pq.read_table(f, columns=[column]).column(column).to_pylist()]
    return [json.loads(line)[column] for f in files for line in f.read_text().splitlines() if line]
