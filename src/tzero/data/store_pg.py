"""The market store on PostgreSQL: the same read/write API as :class:`~tzero.data.store.MarketStore`.

Selected by ``TZERO_MARKET_URL=postgresql+psycopg://user:pass@host:5432/db``
(:func:`tzero.data.market_store.open_market_store`; DESIGN.md "Storage",
issue 14). Layout, in schema ``market``::

    market.bars                 PARTITION BY LIST (freq)
      market.bars_1d            FOR VALUES IN ('1d')  PARTITION BY RANGE (trade_time)
        market.bars_1d_2023_01  FOR VALUES FROM ('2023-01-01') TO ('2023-02-01')
      market.bars_1m, market.bars_5m   (the same, one partition per month)
    market.kline_5m             view over bars_5m (the name spec 000 §6 reads)
    market.trades               PARTITION BY RANGE (trade_time), one partition per month
    market.adj_factor, market.adj_factor_gbbq, market.industry, market.shares   plain tables
    market._datasets            dataset -> its columns and pandas dtypes
    market._version             one row: the store version (bumped by every write that changes rows)

Every table has the dataset key (:data:`~tzero.data.store.DATASETS`) as its
primary key (with ``freq`` in front for bars). Month partitions are created
on demand inside the ingest transaction.

**TimescaleDB**: when ``pg_extension`` lists ``timescaledb`` at the store's
first write, ``bars_1d``/``bars_1m``/``bars_5m`` are created as hypertables
(``create_hypertable(..., 'trade_time', chunk_time_interval => 1 month)``)
instead of LIST/RANGE partitions; reads and writes are the same SQL. (Not
installable on the CI machines: the declarative path is the tested one.)

**Writes** (:meth:`PgMarketStore.write`) run in one transaction: a
non-blocking advisory lock (a second writer gets :class:`StoreError`), then
per dataset ``COPY`` into a temporary table and ``INSERT … ON CONFLICT (key)
DO UPDATE … WHERE (values) IS DISTINCT FROM (new values)``, so a re-written
unchanged row is not touched and is counted as unchanged: the same
:class:`~tzero.data.store.WriteResult` counts as the Parquet store, and
re-ingesting the same input changes nothing (the version stays). Any error
rolls the whole write back (all or nothing).

**Reads** (:meth:`PgMarketStore.query`) take the DuckDB-flavoured fragments
the callers pass (``?`` placeholders, ``x IN (SELECT unnest(?))``,
``regexp_matches(x, ?)``), translate them (:func:`translate`), bind the
parameters client-side and stream the result with ``COPY (…) TO STDOUT`` as
CSV parsed by Arrow (floats round-trip exactly), restoring the stored dtypes.
"""

from __future__ import annotations

import io
import json
import re
import threading
import zlib
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from tzero.data.store import DATASETS, DatasetSpec, WriteResult
from tzero.errors import StoreError

#: Schema the store's tables live in.
SCHEMA = "market"
#: Bar datasets → their LIST partition value of ``market.bars`` (issue 14).
BAR_FREQS = {"bars_1d": "1d", "bars_1m": "1m", "bars_5m": "5m"}
#: Datasets partitioned by month of ``trade_time`` (bars per frequency, and trades).
MONTHLY = (*BAR_FREQS, "trades")
#: Spec 000 §6 reads 5-minute bars as ``market.kline_5m``: a view over ``bars_5m``.
SPEC_VIEWS = {"bars_5m": "kline_5m"}
#: Seconds a connection attempt waits before the store reports the server unreachable.
CONNECT_TIMEOUT_S = 5

_PG_TYPES = {"b": "boolean", "i": "bigint", "u": "bigint", "f": "double precision", "M": "timestamp"}
_TEXT = 'text COLLATE "C"'
_ARROW_TYPES = {"boolean": pa.bool_(), "bigint": pa.int64(), "double precision": pa.float64(),
                "timestamp": pa.timestamp("us"), _TEXT: pa.string()}


def pg_conninfo(url: str) -> str:
    """A libpq URL from a SQLAlchemy-style one: ``postgresql+psycopg://`` → ``postgresql://``.

    Raises:
        StoreError: the scheme is not PostgreSQL.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise StoreError(f"TZERO_MARKET_URL {redact(url)!r}: unsupported scheme {parts.scheme!r}; "
                         "expected postgresql+psycopg://user:pass@host:5432/db (or unset it for "
                         "the Parquet store)")
    return urlunsplit(("postgresql", *parts[1:]))


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, *parts[2:]))


def translate(sql: str) -> str:
    """Rewrite a DuckDB SQL fragment for PostgreSQL with psycopg ``%s`` placeholders.

    ``x IN (SELECT unnest(?))`` → ``x = ANY(%s)``, ``regexp_matches(x, ?)`` →
    ``x ~ %s``, a literal ``%`` → ``%%``, every other ``?`` → ``%s``.
    """
    sql = sql.replace("%", "%%")
    sql = re.sub(r"(\w+)\s+IN\s*\(\s*SELECT\s+unnest\(\s*\?\s*\)\s*\)", r"\1 = ANY(?)", sql,
                 flags=re.IGNORECASE)
    sql = re.sub(r"regexp_matches\(\s*(\w+)\s*,\s*\?\s*\)", r"\1 ~ ?", sql, flags=re.IGNORECASE)
    return sql.replace("?", "%s")


def _pg_type(dtype) -> str:
    """The column type a pandas dtype is stored as (text for strings and anything else).

    Text is ``COLLATE "C"``: byte order, as DuckDB sorts, whatever the database's
    default collation, and keys compare with ``memcmp`` (faster index builds).
    """
    kind = getattr(dtype, "kind", "O")
    if isinstance(dtype, pd.CategoricalDtype) or kind not in _PG_TYPES:
        return _TEXT
    return _PG_TYPES[kind]


def _q(name: str) -> str:
    """A quoted identifier (column names come from frames)."""
    return '"' + name.replace('"', '""') + '"'


class PgMarketStore:
    """Read and write the market store in a PostgreSQL database (module docstring).

    Args:
        url: ``postgresql+psycopg://user:pass@host:port/db`` (``postgresql://`` also accepted).
        schema: the schema holding the tables (default :data:`SCHEMA`).

    Raises:
        StoreError: a URL that is not PostgreSQL, or a server that cannot be reached
            (one line naming the URL, password hidden).
    """

    def __init__(self, url: str, schema: str = SCHEMA) -> None:
        self.url = url
        self.schema = schema
        self._conninfo = pg_conninfo(url)
        self._local = threading.local()
        self._meta: dict[str, list[tuple[str, str, str]]] | None = None
        self._meta_version: int | None = None
        self._conn()  # fail early, with one line

    # ---------------------------------------------------------------- connection
    def _conn(self):
        import psycopg

        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"TZERO_MARKET_URL {redact(self.url)}: cannot connect ({first}); "
                             "check host, port, user and database, or unset it for the "
                             "Parquet store") from None
        conn.execute("SET DateStyle = ISO; SET extra_float_digits = 1")  # exact float text
        self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (a later call reconnects)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def timescale(self) -> bool:
        """True when the TimescaleDB extension is installed in the database."""
        return self._conn().execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is not None

    # ------------------------------------------------------------------ metadata
    def version(self) -> int:
        """The store version: 0 before the first write, +1 per write that changed rows."""
        import psycopg

        try:
            row = self._conn().execute(f"SELECT version FROM {self.schema}._version").fetchone()
        except psycopg.errors.UndefinedTable:  # never written
            return 0
        return int(row[0]) if row else 0

    def _columns(self) -> dict[str, list[tuple[str, str, str]]]:
        """dataset → ``[(column, pg type, pandas dtype)]`` of the datasets written so far."""
        v = self.version()
        if self._meta is None or self._meta_version != v:
            if v == 0:
                self._meta = {}
            else:
                rows = self._conn().execute(f"SELECT name, columns FROM {self.schema}._datasets").fetchall()
                self._meta = {n: [tuple(c) for c in (json.loads(cols) if isinstance(cols, str) else cols)]
                              for n, cols in rows}
            self._meta_version = v
        return self._meta

    def manifest(self) -> dict:
        """``{"version": n, "datasets": {name: {partition label: table}}}``, like the Parquet manifest.

        Labels are ``YYYY-MM`` for month partitions (hypertable chunks are not
        listed: ``"all"``) and ``all`` for unpartitioned datasets.
        """
        out: dict = {"version": self.version(), "datasets": {}}
        for name in self._columns():
            out["datasets"][name] = self.partitions(name)
        return out

    def partitions(self, dataset: str) -> dict[str, str]:
        """Partition label → table of a dataset (``{}`` when never written)."""
        if dataset not in self._columns():
            return {}
        table = dataset
        rows = self._conn().execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE n.nspname = %s AND p.relname = %s ORDER BY 1", [self.schema, table]).fetchall()
        parts = {f"{r[0][-7:-3]}-{r[0][-2:]}": f"{self.schema}.{r[0]}" for r in rows
                 if re.search(r"_\d{4}_\d{2}$", r[0])}
        return parts or {"all": f"{self.schema}.{table}"}

    def has(self, dataset: str) -> bool:
        """True when the dataset holds at least one row."""
        if dataset not in self._columns():
            return False
        return self._conn().execute(
            f"SELECT EXISTS (SELECT 1 FROM {self.schema}.{dataset})").fetchone()[0]

    # --------------------------------------------------------------------- write
    def write(self, frames: dict[str, pd.DataFrame]) -> list[WriteResult]:
        """Upsert several datasets' rows in one transaction (all or nothing).

        Args:
            frames: dataset name → rows (columns per :data:`~tzero.data.store.DATASETS`,
                validated by the caller, see :mod:`tzero.data.quality`).

        Returns:
            One :class:`~tzero.data.store.WriteResult` per dataset: rows in,
            rows new or changed, rows found stored unchanged (repeats of a key
            within the input count as unchanged, as in the Parquet store), and
            the month partitions (``all`` for unpartitioned datasets) touched.

        Raises:
            StoreError: unknown dataset, or another writer holds the lock.
            KeyError: a frame lacks key columns.
        """
        for name in frames:
            if name not in DATASETS:
                raise StoreError(f"unknown dataset {name!r}: expected one of {list(DATASETS)}")
        import psycopg

        conn = self._conn()
        results: list[WriteResult] = []
        try:
            with conn.transaction():
                self._lock(conn)
                self._bootstrap(conn)
                ts = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
                for name, frame in frames.items():
                    results.append(self._write_one(conn, name, frame, timescale=ts is not None))
                if any(r.rows_written for r in results):
                    conn.execute(f"UPDATE {self.schema}._version SET version = version + 1, "
                                 "updated_at = now()")
        except psycopg.Error as exc:  # rolled back: the store is as before
            names = list(frames)
            name = names[len(results)] if len(results) < len(names) else "the store version"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"{redact(self.url)}: writing {name} failed ({first}); nothing was "
                             "written") from exc
        finally:
            self._meta = None
        return results

    @property
    def lock_key(self) -> int:
        """The advisory lock a writer holds for its transaction (one per schema)."""
        return zlib.crc32(f"tzero-market:{self.schema}".encode()) & 0x7FFFFFFF

    def _lock(self, conn) -> None:
        if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [self.lock_key]).fetchone()[0]:
            raise StoreError(f"{redact(self.url)}: another tzero process is writing; try again")

    def _bootstrap(self, conn) -> None:
        s = self.schema
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {s}._datasets (name text PRIMARY KEY, "
                     "columns jsonb NOT NULL)")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {s}._version (id int PRIMARY KEY CHECK (id = 1), "
                     "version bigint NOT NULL, updated_at timestamptz NOT NULL)")
        conn.execute(f"INSERT INTO {s}._version VALUES (1, 0, now()) ON CONFLICT (id) DO NOTHING")

    def _write_one(self, conn, name: str, frame: pd.DataFrame, *, timescale: bool) -> WriteResult:
        spec = DATASETS[name]
        frame = frame.reset_index(drop=True)
        if spec.columns:
            frame = frame[list(spec.columns)]
        frame[list(spec.key)]  # noqa: B018  (KeyError when a key column is missing)
        n_in = len(frame)
        if n_in == 0:
            return WriteResult(name, 0, 0, 0, 0)
        frame = frame.drop_duplicates(list(spec.key), keep="last")
        cols = self._ensure_table(conn, name, spec, frame, timescale=timescale)
        fresh: list[tuple[str, str, str]] = []
        if name in MONTHLY and not timescale:
            fresh = self._stage_months(conn, name, frame[spec.time_col])
        names = [c for c, _, _ in cols if c in frame.columns]
        types = {c: t for c, t, _ in cols}
        conn.execute(f"CREATE TEMP TABLE _tz_in ({', '.join(f'{_q(c)} {types[c]}' for c in names)}) "
                     "ON COMMIT DROP")
        with conn.cursor().copy(f"COPY _tz_in ({', '.join(map(_q, names))}) FROM STDIN (FORMAT csv)") as cp:
            for chunk in _csv_chunks(frame[names]):
                cp.write(chunk)
        conn.execute("ANALYZE _tz_in")  # row count and value ranges for the join plan below
        bounds = None
        if spec.time_col is not None:
            t = pd.DatetimeIndex(frame[spec.time_col])
            bounds = (t.min().to_pydatetime(), t.max().to_pydatetime())
        counts = self._upsert(conn, name, spec, names, bounds, fresh,
                              bars=name in BAR_FREQS and not timescale)
        conn.execute("DROP TABLE _tz_in; DROP TABLE _tz_ch")
        if fresh:
            self._attach_months(conn, name, fresh)
        written = sum(counts.values())
        return WriteResult(name, n_in, written, n_in - written, len(counts))

    def _upsert(self, conn, name: str, spec: DatasetSpec, names: list[str], bounds,
                fresh: list[tuple[str, str, str]], *, bars: bool) -> dict[str, int]:
        """Move the new and changed rows of ``_tz_in`` into the table; rows written per partition.

        One join of the input with the stored rows in its time range (``bounds``:
        partition pruning) finds the rows that are new or differ in a value
        (``IS DISTINCT FROM``: NULL equals NULL); new ones are inserted, changed
        ones updated, unchanged ones left alone. New rows of the months in
        ``fresh`` go to the staging table of :meth:`_stage_months`.
        """
        table = f"{self.schema}.{name}"
        values = [c for c in names if c not in spec.key]
        on = " AND ".join(f"t.{_q(k)} = n.{_q(k)}" for k in spec.key)
        params: list = []
        if bounds is not None:
            on += f" AND t.{_q(spec.time_col or '')} BETWEEN %s AND %s"
            params = list(bounds)
        differs = (f" OR ROW({', '.join(f't.{_q(c)}' for c in values)}) IS DISTINCT FROM "
                   f"ROW({', '.join(f'n.{_q(c)}' for c in values)})" if values else "")
        first = _q(spec.key[0])
        part = f"to_char(n.{_q(spec.time_col)}, 'YYYY_MM')" if name in MONTHLY and spec.time_col else "'all'"
        conn.execute(f"CREATE TEMP TABLE _tz_ch ON COMMIT DROP AS SELECT n.*, t.{first} IS NULL AS _new, "
                     f"{part} AS _part FROM _tz_in n LEFT JOIN {table} t ON {on} "
                     f"WHERE t.{first} IS NULL{differs}", params)
        counts = {p: int(n) for p, n in conn.execute("SELECT _part, count(*) FROM _tz_ch GROUP BY 1").fetchall()}
        if not counts:
            return counts
        target = (["freq"] if bars else []) + names
        select = ([f"'{BAR_FREQS[name]}'"] if bars else []) + [_q(c) for c in names]
        into = f"INSERT INTO {{}} ({', '.join(map(_q, target))}) SELECT {', '.join(select)} FROM _tz_ch "
        if fresh:
            month = "_part = ANY(%s)"
            labels = [label for label, _, _ in fresh]
            conn.execute(into.format(f"{self.schema}._tz_stage_{name}") + f"WHERE _new AND {month}", [labels])
            conn.execute(into.format(table) + f"WHERE _new AND NOT {month}", [labels])
        else:
            conn.execute(into.format(table) + "WHERE _new")
        if values:
            sets = ", ".join(f"{_q(c)} = c.{_q(c)}" for c in values)
            key_eq = " AND ".join(f"t.{_q(k)} = c.{_q(k)}" for k in spec.key)
            conn.execute(f"UPDATE {table} t SET {sets} FROM _tz_ch c WHERE NOT c._new AND {key_eq}")
        return counts

    def _ensure_table(self, conn, name: str, spec: DatasetSpec, frame: pd.DataFrame, *,
                      timescale: bool) -> list[tuple[str, str, str]]:
        """Create the dataset's table on first write (add new columns later); its columns."""
        s = self.schema
        row = conn.execute(f"SELECT columns FROM {s}._datasets WHERE name = %s", [name]).fetchone()
        if row is not None:
            cols = [tuple(c) for c in row[0]]
            known = {c for c, _, _ in cols}
            extra = [(c, _pg_type(frame[c].dtype), str(frame[c].dtype)) for c in frame.columns if c not in known]
            for c, t, _ in extra:
                conn.execute(f"ALTER TABLE {s}.{name} ADD COLUMN {_q(c)} {t}")
            if extra:
                cols += extra
                conn.execute(f"UPDATE {s}._datasets SET columns = %s WHERE name = %s", [json.dumps(cols), name])
            return cols
        cols = [(c, _pg_type(frame[c].dtype), _dtype_name(frame[c].dtype)) for c in frame.columns]
        body = ", ".join(f"{_q(c)} {t}{' NOT NULL' if c in spec.key else ''}" for c, t, _ in cols)
        pk = ", ".join(map(_q, spec.key))
        if name in BAR_FREQS and not timescale:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {s}.bars (freq {_TEXT} NOT NULL, {body}, "
                         f"PRIMARY KEY (freq, {pk})) PARTITION BY LIST (freq)")
            conn.execute(f"CREATE TABLE {s}.{name} PARTITION OF {s}.bars FOR VALUES IN "
                         f"('{BAR_FREQS[name]}') PARTITION BY RANGE ({_q(spec.time_col or '')})")
        elif name in MONTHLY and not timescale:
            conn.execute(f"CREATE TABLE {s}.{name} ({body}, PRIMARY KEY ({pk})) "
                         f"PARTITION BY RANGE ({_q(spec.time_col or '')})")
        else:
            conn.execute(f"CREATE TABLE {s}.{name} ({body}, PRIMARY KEY ({pk}))")
            if name in BAR_FREQS:  # TimescaleDB present: a hypertable chunked by month
                conn.execute("SELECT create_hypertable(%s, %s, chunk_time_interval => INTERVAL '1 month')",
                             [f"{s}.{name}", spec.time_col])
        if name in SPEC_VIEWS:
            conn.execute(f"CREATE OR REPLACE VIEW {s}.{SPEC_VIEWS[name]} AS SELECT "
                         f"{', '.join(_q(c) for c, _, _ in cols)} FROM {s}.{name}")
        conn.execute(f"INSERT INTO {s}._datasets VALUES (%s, %s)", [name, json.dumps(cols)])
        return cols

    def _stage_months(self, conn, name: str, times: pd.Series) -> list[tuple[str, str, str]]:
        """Create the missing month partitions ``<name>_YYYY_MM`` of the rows, unindexed, under a staging table.

        Bulk loading: the new months' rows are inserted into partitions of
        ``_tz_stage_<name>`` (a partitioned table without the key index, dropped
        in the same transaction), then :meth:`_attach_months` moves each
        partition under the dataset's table, which builds its key index in one
        sort instead of row by row (about twice as fast on a first ingest).

        Returns:
            ``(YYYY_MM, lower bound, upper bound)`` of each partition created.
        """
        s = self.schema
        months = pd.DatetimeIndex(times).to_period("M").unique().sort_values()
        have = set(self.partitions_in(conn, name))
        fresh = [(f"{m.year:04d}_{m.month:02d}", f"{m.start_time:%Y-%m-%d}", f"{(m + 1).start_time:%Y-%m-%d}")
                 for m in months if f"{m.year:04d}_{m.month:02d}" not in have]
        if not fresh:
            return fresh
        col = _q(DATASETS[name].time_col or "")
        conn.execute(f"CREATE TABLE {s}._tz_stage_{name} (LIKE {s}.{name} INCLUDING DEFAULTS) "
                     f"PARTITION BY RANGE ({col})")
        for label, lo, hi in fresh:
            conn.execute(f"CREATE TABLE {s}.{name}_{label} PARTITION OF {s}._tz_stage_{name} "
                         f"FOR VALUES FROM ('{lo}') TO ('{hi}')")
        return fresh

    def _attach_months(self, conn, name: str, fresh: list[tuple[str, str, str]]) -> None:
        """Move the staged month partitions under the dataset's table (builds their key index)."""
        s = self.schema
        for label, lo, hi in fresh:
            conn.execute(f"ALTER TABLE {s}._tz_stage_{name} DETACH PARTITION {s}.{name}_{label}")
            conn.execute(f"ALTER TABLE {s}.{name} ATTACH PARTITION {s}.{name}_{label} "
                         f"FOR VALUES FROM ('{lo}') TO ('{hi}')")
        conn.execute(f"DROP TABLE {s}._tz_stage_{name}")

    def partitions_in(self, conn, name: str) -> list[str]:
        """``YYYY_MM`` labels of the month partitions of ``name`` (through ``conn``)."""
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE n.nspname = %s AND p.relname = %s", [self.schema, name]).fetchall()
        return [r[0][-7:] for r in rows]

    # ---------------------------------------------------------------------- read
    def query(self, dataset: str, where: str = "", params: list | None = None,
              columns: str = "*", order_by: str | None = None) -> pd.DataFrame:
        """Run a SELECT over a dataset (DuckDB-flavoured fragments, see :func:`translate`).

        Args:
            dataset: dataset name.
            where: SQL condition using ``?`` placeholders (may be empty).
            params: values for the placeholders (a list value binds as an array).
            columns: select list.
            order_by: ORDER BY clause body; defaults to the dataset key.

        Returns:
            The rows as a DataFrame with the stored dtypes (empty with the
            dataset's columns when it was never written).
        """
        import psycopg

        spec = DATASETS[dataset]
        meta = self._columns().get(dataset)
        if meta is None:
            return pd.DataFrame(columns=list(spec.columns))
        inner = ", ".join(_q(c) for c, _, _ in meta)
        order = order_by or ", ".join(spec.key)
        sql = (f"SELECT {translate(columns)} FROM (SELECT {inner} FROM {self.schema}.{dataset}) AS d"
               f"{' WHERE ' + translate(where) if where else ''} ORDER BY {translate(order)}")
        conn = self._conn()
        bound = psycopg.ClientCursor(conn).mogrify(sql, params or None)
        buf = io.BytesIO()
        with conn.cursor().copy(f"COPY ({bound}) TO STDOUT (FORMAT csv, HEADER)") as cp:
            for block in cp:
                buf.write(block)
        return _read_csv(buf.getvalue(), meta)

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


def _dtype_name(dtype) -> str:
    """The pandas dtype a column reads back as (categoricals read back as strings)."""
    return "object" if isinstance(dtype, pd.CategoricalDtype) else str(dtype)


def _csv_chunks(frame: pd.DataFrame, rows: int = 500_000):
    """CSV bytes of the frame (no header) in chunks: nulls and NaN unquoted empty, text quoted."""
    frame = frame.astype({c: object for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})
    unit = {}  # whole seconds print as 2023-01-03 00:00:00 (no 9 zero digits to send and parse)
    for c in frame.columns:
        if frame[c].dtype.kind == "M":
            ns = frame[c].to_numpy("datetime64[ns]").view(np.int64)
            unit[c] = "s" if not (ns % 1_000_000_000).any() else "us"
    opts = pacsv.WriteOptions(include_header=False)
    for i in range(0, len(frame), rows):
        table = pa.Table.from_pandas(frame.iloc[i:i + rows], preserve_index=False)
        for c, u in unit.items():
            k = table.schema.get_field_index(c)
            table = table.set_column(k, c, table.column(c).cast(pa.timestamp(u), safe=False))
        out = io.BytesIO()
        pacsv.write_csv(table, out, write_options=opts)
        yield out.getvalue()


def _read_csv(data: bytes, meta: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Parse ``COPY … TO STDOUT (FORMAT csv, HEADER)`` output; stored columns get their dtypes."""
    types = {c: _ARROW_TYPES[t] for c, t, _ in meta}
    if not data.strip():
        return pd.DataFrame()
    table = pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(
        column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False,
        timestamp_parsers=["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d"]))
    df = table.to_pandas(coerce_temporal_nanoseconds=True)
    dtypes = {c: d for c, _, d in meta if c in df.columns}
    for c, d in dtypes.items():
        if d.startswith("datetime64"):
            df[c] = df[c].astype("datetime64[ns]")
        elif d != "object" and str(df[c].dtype) != d:
            df[c] = df[c].astype(d)
    return df
