"""The PostgreSQL market store (issue 14): partitions, atomic COPY ingest, locking, equal reads.

Runs on the test PostgreSQL server (conftest's ``SERVER_URLS``): each test gets
a fresh schema (``pg_store``) or database (CLI test), dropped after it; a down
server skips, or fails with ``CI`` set. The backend-neutral store tests run on
both stores in ``test_store_ingest.py``; the PostgreSQL fixtures are in tests/conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from test_store_ingest import bars, snapshot
from typer.testing import CliRunner

from tzero.data.bars import read_bars
from tzero.data.ingest import ingest_tdx
from tzero.data.store import MarketStore
from tzero.data.store_pg import PgMarketStore, pg_conninfo, translate
from tzero.data.universes import STOCK_CODE_RE
from tzero.errors import StoreError


def minutes(code: str, day: str, n: int, start: float = 10.0) -> pd.DataFrame:
    """``n`` 1-minute bars of one morning session (09:31 …), closes rising by 0.01."""
    t = pd.Timestamp(day) + pd.Timedelta("09:31:00") + pd.to_timedelta(np.arange(n), unit="min")
    c = start + 0.01 * np.arange(n)
    return pd.DataFrame({"ts_code": code, "trade_time": t, "open": c, "high": c + 0.02,
                         "low": c - 0.02, "close": c, "volume": 100.0, "amount": c * 100.0})


def _children(st: PgMarketStore, parent: str) -> dict[str, str]:
    """Partitions of ``schema.parent``: table → its bound expression."""
    rows = st._conn().execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = %s AND p.relname = %s",
        [st.schema, parent]).fetchall()
    return dict(rows)


def _strategy(st: PgMarketStore, table: str) -> str | None:
    row = st._conn().execute(
        "SELECT pt.partstrat FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        [st.schema, table]).fetchone()
    return row[0] if row else None


def test_bars_partitioned_by_frequency_then_month(pg_store: PgMarketStore) -> None:
    st = pg_store
    daily = bars("600519.SH", ["2022-12-30", "2023-01-03", "2023-02-01"], [10.0, 11.0, 12.0])
    m1 = pd.concat([minutes("688001.SH", "2023-01-03", 3), minutes("688001.SH", "2023-03-01", 2)])
    trades = pd.DataFrame({"ts_code": "600519.SH", "trade_time": pd.DatetimeIndex(["2023-01-03 09:30:01"] * 2),
                           "seq": np.array([0, 1], dtype=np.int64), "price": [10.0, 10.01],
                           "volume": [100.0, 200.0], "direction": ["B", "S"]})
    res = st.write({"bars_1d": daily, "bars_1m": m1, "bars_5m": minutes("688001.SH", "2023-01-03", 1),
                    "trades": trades})
    assert [(r.rows_written, r.partitions_changed) for r in res] == [(3, 3), (5, 2), (1, 1), (2, 1)]

    assert _strategy(st, "bars") == "l"
    assert _children(st, "bars") == {"bars_1d": "FOR VALUES IN ('1d')", "bars_1m": "FOR VALUES IN ('1m')",
                                     "bars_5m": "FOR VALUES IN ('5m')"}
    assert {_strategy(st, t) for t in ("bars_1d", "bars_1m", "bars_5m", "trades")} == {"r"}
    assert sorted(_children(st, "bars_1d")) == ["bars_1d_2022_12", "bars_1d_2023_01", "bars_1d_2023_02"]
    assert _children(st, "bars_1m")["bars_1m_2023_03"] == (
        "FOR VALUES FROM ('2023-03-01 00:00:00') TO ('2023-04-01 00:00:00')")
    assert sorted(_children(st, "trades")) == ["trades_2023_01"]
    n = st._conn().execute(f"SELECT count(*) FROM {st.schema}.bars_1m_2023_03").fetchone()[0]
    assert n == 2  # rows land in their month
    assert st.manifest()["datasets"]["bars_1d"] == {
        "2022-12": f"{st.schema}.bars_1d_2022_12", "2023-01": f"{st.schema}.bars_1d_2023_01",
        "2023-02": f"{st.schema}.bars_1d_2023_02"}
    # the unique key holds in the database itself, and spec 000 §6's name reads the 5m bars
    with pytest.raises(psycopg.errors.UniqueViolation):
        st._conn().execute(f"INSERT INTO {st.schema}.bars_1d (freq, ts_code, trade_time) "
                           "VALUES ('1d', '600519.SH', '2023-01-03')")
    assert st._conn().execute(f"SELECT count(*) FROM {st.schema}.kline_5m").fetchone()[0] == 1
    assert not st.timescale()  # not installable here: the declarative path is the one tested


def test_failure_mid_ingest_leaves_store_unchanged(pg_store: PgMarketStore) -> None:
    st = pg_store
    st.write({"bars_1d": bars("600519.SH", ["2023-01-03"], [10.0])})
    before, parts = snapshot(st), st.manifest()
    good = bars("600519.SH", ["2023-01-03", "2023-05-04"], [10.5, 11.0])  # an update + a new month
    bad_adj = pd.DataFrame({"ts_code": ["600519.SH", None], "adj_factor": [1.0, 2.0],
                            "trade_date": pd.DatetimeIndex(["2023-01-03", "2023-01-04"])})
    with pytest.raises(StoreError, match="writing adj_factor failed .*nothing was written"):
        st.write({"bars_1d": good, "bars_1m": minutes("688001.SH", "2023-01-03", 2),
                  "adj_factor": bad_adj})  # bars_1d and bars_1m were upserted, then the error
    assert snapshot(st) == before
    assert st.manifest() == parts  # the new month's partition and bars_1m rolled back too
    assert not st.has("bars_1m") and st.version() == 1
    assert st.write({"bars_1d": good})[0].rows_written == 2  # writable afterwards


def test_second_writer_gets_store_error(pg_store: PgMarketStore, market_pg_url: str) -> None:
    st = pg_store
    st.write({"bars_1d": bars("600519.SH", ["2023-01-03"], [10.0])})
    with psycopg.connect(pg_conninfo(market_pg_url)) as other:  # a transaction holding the lock
        other.execute("SELECT pg_advisory_xact_lock(%s)", [st.lock_key])
        with pytest.raises(StoreError, match="another tzero process is writing"):
            st.write({"bars_1d": bars("000001.SZ", ["2023-01-04"], [9.0])})
        assert len(st.query("bars_1d")) == 1  # readers never wait for the lock
    assert st.write({"bars_1d": bars("000001.SZ", ["2023-01-04"], [9.0])})[0].rows_written == 1


def test_translate_duckdb_fragments() -> None:
    assert translate("ts_code IN (SELECT unnest(?)) AND trade_time >= ?") == "ts_code = ANY(%s) AND trade_time >= %s"
    assert translate("regexp_matches(ts_code, ?)") == "ts_code ~ %s"
    assert translate("name LIKE '60%'") == "name LIKE '60%%'"


@pytest.mark.data
def test_reads_equal_parquet_store(make_tdx, tmp_path: Path, pg_store: PgMarketStore) -> None:
    """Adjusted and resampled reads, and the callers' raw fragments, give equal frames."""
    root = make_tdx(gbbq=True)
    pq = MarketStore(tmp_path / "m")
    ingest_tdx(pq, root)
    ingest_tdx(pg_store, root)
    for codes, freq, adjust, start, end in [
            (["600519.SH"], "1d", "qfq", None, None), (["000001.SZ", "600519.SH"], "1d", "hfq", "2015-01-05", "2019-12-31"),
            (["000300.SH"], "1d", "qfq", "2018-01-02", None), (["688001.SH"], "1m", "none", None, None),
            (["688001.SH"], "15m", "none", None, None), (["688001.SH"], "60m", "none", None, "2021-05-20")]:
        want = read_bars(pq, codes, freq, adjust, start, end)
        got = read_bars(pg_store, codes, freq, adjust, start, end)
        assert len(want) > 0
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    t0, t1 = pd.Timestamp("2019-01-02").to_pydatetime(), pd.Timestamp("2020-01-01").to_pydatetime()
    for args, kw in [
            (("bars_1d", "trade_time >= ? AND trade_time < ? AND regexp_matches(ts_code, ?)",
              [t0, t1, STOCK_CODE_RE]), {"columns": "ts_code, trade_time, amount"}),
            (("adj_factor_gbbq", "ts_code IN (SELECT unnest(?))", [["000001.SZ"]]),
             {"columns": "DISTINCT ts_code", "order_by": "ts_code"}),
            (("bars_1d", "ts_code = ?", ["000300.SH"]), {"columns": "count(*) AS n", "order_by": "1"})]:
        pd.testing.assert_frame_equal(pg_store.query(*args, **kw), pq.query(*args, **kw))
    assert pg_store.symbols() == pq.symbols() and pg_store.last_session() == pq.last_session()


@pytest.fixture
def fresh_db_url(market_pg_url: str) -> Iterator[str]:
    """A database of its own (the factory's default schema ``market``), dropped after the test."""
    name = f"tzero_k_{uuid.uuid4().hex[:12]}"
    admin = pg_conninfo(market_pg_url).rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    try:
        yield market_pg_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _tzero(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("TZERO_DB_URL", "TZERO_MARKET_URL")}
    full.update(env, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "tzero.cli", *args], env=full, capture_output=True,
                          text=True, timeout=300)


def _kline(env: dict[str, str | None], *args: str) -> str:
    from tzero.cli import app

    r = CliRunner().invoke(app, ["kline", *args, "--format", "csv"], env={**env, "TZERO_DB_URL": None})
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.mark.data
def test_cli_ingest_then_kline_matches_parquet_byte_for_byte(make_tdx, tmp_path: Path,
                                                             fresh_db_url: str) -> None:
    """The done condition of issue 14: ``TZERO_MARKET_URL=postgresql… tzero ingest tdx`` then
    ``tzero kline 600519.SH --format csv`` equals the Parquet store's output byte for byte."""
    root = make_tdx(gbbq=True)
    parquet = {"TZERO_HOME": str(tmp_path / "home_pq")}
    pg = {"TZERO_HOME": str(tmp_path / "home_pg"), "TZERO_MARKET_URL": fresh_db_url}
    for env in (parquet, pg):
        r = _tzero(env, "ingest", "tdx", str(root))
        assert r.returncode == 0, r.stderr
    assert not (tmp_path / "home_pg" / "market").exists()  # the bars went to PostgreSQL
    a, b = (_tzero(env, "kline", "600519.SH", "--format", "csv") for env in (parquet, pg))
    assert a.returncode == b.returncode == 0 and len(a.stdout.splitlines()) == 1818
    assert b.stdout == a.stdout
    for args in [("600519.SH", "--adjust", "qfq"), ("000001.SZ", "--adjust", "hfq"),
                 ("000300.SH", "--start", "2016-01-04", "--end", "2016-12-30", "--adjust", "qfq"),
                 ("688001.SH", "--freq", "1m"), ("688001.SH", "--freq", "5m"), ("688001.SH", "--freq", "30m")]:
        want = _kline({**parquet, "TZERO_MARKET_URL": None}, *args)
        assert len(want.splitlines()) > 1
        assert _kline(pg, *args) == want, args
    again = _tzero(pg, "ingest", "tdx", str(root), "--json")
    assert again.returncode == 0, again.stderr
    assert '"rows_written": 0' in again.stdout and '"rows_written": 5451' not in again.stdout


@pytest.mark.parametrize("url, match", [
    ("postgresql+psycopg://postgres:secret@127.0.0.1:1/nodb", "cannot connect"),
    ("mysql+pymysql://root@127.0.0.1/x", "unsupported scheme"),
])
def test_bad_market_url_is_one_line_exit_2(tmp_path: Path, url: str, match: str) -> None:
    r = _tzero({"TZERO_HOME": str(tmp_path), "TZERO_MARKET_URL": url}, "kline", "600519.SH")
    assert r.returncode == 2, r.stderr
    err = r.stderr.strip()
    assert match in err and len(err.splitlines()) == 1 and "secret" not in err, err
