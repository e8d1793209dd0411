"""The market store: a Parquet dataset under ``TZERO_HOME/market`` read with DuckDB.

Layout (DESIGN.md "Storage")::

    market/
      manifest.json          the one source of truth: dataset -> partition -> file
      .lock                  writer lock (fcntl); readers never take it
      bars_1d/2023-<id>.parquet
      bars_1m/2021-04-<id>.parquet
      adj_factor/all-<id>.parquet
      adj_factor_gbbq/all-<id>.parquet   factors derived from TDX's gbbq file
      ...

Atomicity: a write merges new rows into the affected partitions, writes each
merged partition to a *new* file (temp name, fsync, rename), then replaces
``manifest.json`` with ``os.replace`` — the single atomic step. A crash before
that leaves the old manifest, so readers see either all of a write or none of
it. Files no manifest points to are removed later (after a grace period, so a
reader that loaded the previous manifest can finish): a file's modification
time is reset when it is retired, and only files unreferenced for
``GC_GRACE_SECONDS`` are deleted.

Idempotency: rows are keyed (:data:`DATASETS`); a re-written key replaces the
old row, and a partition whose merged content equals the old one keeps its old
file. Ingesting the same input twice changes nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tzero.errors import StoreError

GC_GRACE_SECONDS = 600


@dataclass(frozen=True)
class DatasetSpec:
    """How one dataset is keyed and partitioned.

    Attributes:
        key: columns that identify a row (unique in the store).
        time_col: the column partitions are cut by, or None for one partition.
        period: ``"Y"`` (year) or ``"M"`` (month) partitions of ``time_col``.
        columns: column order in the files.
    """

    key: tuple[str, ...]
    time_col: str | None
    period: str | None
    columns: tuple[str, ...]


_BAR_COLS = ("ts_code", "trade_time", "open", "high", "low", "close", "volume", "amount")

DATASETS: dict[str, DatasetSpec] = {
    "bars_1d": DatasetSpec(("ts_code", "trade_time"), "trade_time", "Y", _BAR_COLS),
    "bars_1m": DatasetSpec(("ts_code", "trade_time"), "trade_time", "M", _BAR_COLS),
    "bars_5m": DatasetSpec(("ts_code", "trade_time"), "trade_time", "M", _BAR_COLS),
    "adj_factor": DatasetSpec(("ts_code", "trade_date"), None, None,
                              ("ts_code", "trade_date", "adj_factor")),
    # the same factors derived from a TDX folder's T0002/hq_cache/gbbq (data/gbbq.py),
    # kept apart so a Tushare adj_factor always wins and the source stays known
    "adj_factor_gbbq": DatasetSpec(("ts_code", "trade_date"), None, None,
                                   ("ts_code", "trade_date", "adj_factor")),
    "trades": DatasetSpec(("ts_code", "trade_time", "seq"), "trade_time", "M",
                          ("ts_code", "trade_time", "seq", "price", "volume", "direction")),
    "industry": DatasetSpec(("ts_code",), None, None, ()),
    "shares": DatasetSpec(("ts_code",), None, None, ()),
}


@dataclass
class WriteResult:
    """Rows a write added or changed, and rows it found already stored unchanged."""

    dataset: str
    rows_in: int
    rows_written: int
    rows_unchanged: int
    partitions_changed: int


class MarketStore:
    """Read and write the Parquet market store rooted at ``root``.

    Args:
        root: the store folder (``Settings.store_dir``); created on first write.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ manifest
    @property
    def manifest_path(self) -> Path:
        """Path of ``manifest.json``."""
        return self.root / "manifest.json"

    def manifest(self) -> dict:
        """The current manifest ``{"datasets": {name: {partition: relpath}}}``."""
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {"version": 0, "datasets": {}}
        except json.JSONDecodeError as exc:
            raise StoreError(f"{self.manifest_path}: corrupt manifest ({exc}); "
                             "re-ingest into a fresh TZERO_HOME") from exc

    def files(self, dataset: str) -> list[Path]:
        """Parquet files currently holding ``dataset`` (empty when never written)."""
        parts = self.manifest()["datasets"].get(dataset, {})
        return [self.root / rel for _, rel in sorted(parts.items())]

    def has(self, dataset: str) -> bool:
        """True when the dataset has at least one partition."""
        return bool(self.files(dataset))

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise StoreError(f"{self.root}: another tzero process is writing; try again") from exc
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # --------------------------------------------------------------------- write
    def write(self, frames: dict[str, pd.DataFrame]) -> list[WriteResult]:
        """Merge several datasets' rows into the store in one atomic step.

        Args:
            frames: dataset name → rows (columns per :data:`DATASETS`; validated
                by the caller, see :mod:`tzero.data.quality`).

        Returns:
            One :class:`WriteResult` per dataset.

        Raises:
            StoreError: unknown dataset, another writer holds the lock.
            KeyError: a frame lacks key columns.
        """
        for name in frames:
            if name not in DATASETS:
                raise StoreError(f"unknown dataset {name!r}: expected one of {list(DATASETS)}")
        with self._writer_lock():
            man = self.manifest()
            old_parts = {k: dict(v) for k, v in man["datasets"].items()}
            results = []
            new_files: list[Path] = []
            try:
                for name, frame in frames.items():
                    res, parts = self._merge_dataset(name, frame, man["datasets"].get(name, {}), new_files)
                    man["datasets"][name] = parts
                    results.append(res)
                if new_files:
                    retired = _retired(old_parts, man["datasets"])
                    man["version"] = int(man.get("version", 0)) + 1
                    man["updated_at"] = pd.Timestamp.now().isoformat()
                    _atomic_write_text(self.manifest_path, json.dumps(man, indent=1, sort_keys=True))
                    for rel in retired:  # the grace period runs from retirement, not from writing
                        p = self.root / rel
                        if p.exists():
                            os.utime(p, None)
            except BaseException:
                for f in new_files:  # nothing points at them: remove, leave the old state
                    f.unlink(missing_ok=True)
                raise
            self._gc(man)
        return results

    def _merge_dataset(self, name: str, frame: pd.DataFrame, parts: dict, new_files: list[Path]):
        spec = DATASETS[name]
        parts = dict(parts)
        frame = frame.reset_index(drop=True)
        if spec.columns:
            frame = frame[list(spec.columns)]
        keys = list(spec.key)
        written = unchanged = changed_parts = 0
        for pkey, chunk in _partitions(frame, spec):
            old = None
            if pkey in parts:
                old = pq.read_table(self.root / parts[pkey]).to_pandas()
            merged, n_new = _merge(old, chunk, keys)
            written += n_new
            unchanged += len(chunk) - n_new
            if n_new == 0:
                continue
            rel = f"{name}/{pkey}-{uuid.uuid4().hex[:12]}.parquet"
            path = self.root / rel
            _atomic_write_parquet(path, merged)
            new_files.append(path)
            parts[pkey] = rel
            changed_parts += 1
        return WriteResult(name, len(frame), written, unchanged, changed_parts), parts

    def _gc(self, man: dict) -> None:
        live = {self.root / rel for parts in man["datasets"].values() for rel in parts.values()}
        now = time.time()
        for name in DATASETS:
            d = self.root / name
            if not d.is_dir():
                continue
            for f in d.iterdir():
                if f not in live and now - f.stat().st_mtime > GC_GRACE_SECONDS:
                    f.unlink(missing_ok=True)

    # ---------------------------------------------------------------------- read
    def query(self, dataset: str, where: str = "", params: list | None = None,
              columns: str = "*", order_by: str | None = None) -> pd.DataFrame:
        """Run a DuckDB SELECT over a dataset's files.

        Args:
            dataset: dataset name.
            where: SQL condition using ``?`` placeholders (may be empty).
            params: values for the placeholders.
            columns: select list.
            order_by: ORDER BY clause body; defaults to the dataset key.

        Returns:
            The rows as a DataFrame (empty with the dataset's columns when none).
        """
        files = self.files(dataset)
        spec = DATASETS[dataset]
        if not files:
            return pd.DataFrame(columns=list(spec.columns))
        order = order_by or ", ".join(spec.key)
        sql = f"SELECT {columns} FROM read_parquet(?) {'WHERE ' + where if where else ''} ORDER BY {order}"
        con = duckdb.connect()
        try:
            return con.execute(sql, [[str(f) for f in files], *(params or [])]).df()
        finally:
            con.close()

    def last_session(self, dataset: str = "bars_1d") -> pd.Timestamp | None:
        """Date (midnight) of the newest bar in ``dataset``; None when it holds none."""
        if not self.has(dataset):
            return None
        df = self.query(dataset, columns="max(trade_time) AS t", order_by="1")
        t = df["t"].iloc[0] if len(df) else None
        return None if t is None or pd.isna(t) else pd.Timestamp(t).normalize()

    def symbols(self, dataset: str = "bars_1d") -> list[str]:
        """Sorted ``ts_code``s present in a dataset."""
        df = self.query(dataset, columns="DISTINCT ts_code", order_by="ts_code")
        return df["ts_code"].tolist()


def _retired(old: dict, new: dict) -> list[str]:
    """Files the old manifest referenced and the new one no longer does."""
    live = {rel for parts in new.values() for rel in parts.values()}
    return [rel for parts in old.values() for rel in parts.values() if rel not in live]


def _partitions(frame: pd.DataFrame, spec: DatasetSpec):
    """Yield ``(label, rows)`` per partition: ``2023`` (year) or ``2023-02`` (month)."""
    if spec.time_col is None or frame.empty:
        yield "all", frame
        return
    t = pd.DatetimeIndex(frame[spec.time_col])
    key = t.year.to_numpy() if spec.period == "Y" else t.year.to_numpy() * 100 + t.month.to_numpy()
    for k in np.unique(key):
        label = str(k) if spec.period == "Y" else f"{k // 100}-{k % 100:02d}"
        yield label, frame.loc[key == k]


def _merge(old: pd.DataFrame | None, new: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, int]:
    """Upsert ``new`` into ``old`` by key; return merged frame and rows new or changed."""
    new = new.drop_duplicates(keys, keep="last")
    if old is None or old.empty:
        return new.sort_values(keys).reset_index(drop=True), len(new)
    new = new.astype({c: old[c].dtype for c in new.columns if c in old.columns}, errors="ignore")
    joined = new.merge(old, on=keys, how="left", suffixes=("", "__old"), indicator=True)
    value_cols = [c for c in new.columns if c not in keys]
    same = joined["_merge"].eq("both")
    for c in value_cols:
        a, b = joined[c], joined[c + "__old"]
        same &= (a == b) | (a.isna() & b.isna())
    n_new = int((~same).sum())
    if n_new == 0:
        return old, 0
    merged = pd.concat([old, new], ignore_index=True).drop_duplicates(keys, keep="last")
    return merged.sort_values(keys).reset_index(drop=True), n_new


def _atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp,
                   row_group_size=256_000, compression="zstd")
    _fsync(tmp)
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    tmp.write_text(text)
    _fsync(tmp)
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
