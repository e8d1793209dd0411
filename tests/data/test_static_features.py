"""Static features by month-end from real bars and TDX reference files; no look-ahead; upsert."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tzero.data.ingest import ingest_table, ingest_tdx
from tzero.data.static_features import (
    STATIC_COLUMNS,
    buckets,
    build_static_features,
    month_ends,
    read_static_features,
    write_static_features,
)
from tzero.data.store import MarketStore
from tzero.market.symbols import tdx_name

#: Ten real stocks (with 2022-02 .. 2023-02 bars at least) and one index, left out as no stock.
CODES = ("600519.SH", "000001.SZ", "000002.SZ", "000005.SZ", "300330.SZ", "600000.SH",
         "601318.SH", "000858.SZ", "300750.SZ", "688981.SH", "000300.SH")
DAYS = pd.DatetimeIndex(["2022-11-30", "2022-12-30"])
#: base.dbf float A shares (LTAG 125,619.78 万股) of 600519.SH.
MOUTAI_FLOAT_SHARES = 1_256_197_800.0


@pytest.fixture(scope="module")
def store(tdx_dir: Path, adj_slice_file_module: Path, tmp_path_factory) -> MarketStore:
    root = tmp_path_factory.mktemp("sf")
    for code in CODES:
        rel = Path(code[-2:].lower()) / "lday" / f"{tdx_name(code)}.day"
        dst = root / "tdx" / "vipdoc" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tdx_dir / "vipdoc" / rel, dst)
    st = MarketStore(root / "market")
    ingest_tdx(st, root / "tdx")
    ingest_table(st, adj_slice_file_module, "adj_factor")
    return st


@pytest.fixture(scope="module")
def adj_slice_file_module(data_dir: Path, tmp_path_factory) -> Path:
    """Real adj_factor rows of :data:`CODES` in a small Parquet file."""
    adj = pd.read_parquet(data_dir / "reference" / "adj_factor.parquet",
                          filters=[("ts_code", "in", list(CODES))])
    p = tmp_path_factory.mktemp("adj") / "adj.parquet"
    adj.to_parquet(p, index=False)
    return p


@pytest.fixture(scope="module")
def frame(store: MarketStore, tdx_dir: Path) -> pd.DataFrame:
    return build_static_features(store, tdx_dir, DAYS)


def test_month_ends_leave_out_a_cut_month():
    got = month_ends("2022-11-15", "2023-02-24")
    assert list(got) == [pd.Timestamp(d) for d in ("2022-11-30", "2022-12-30", "2023-01-31")]


def test_buckets_are_rank_quintiles():
    v = pd.Series([5.0, 1.0, np.nan, 3.0, 2.0, 4.0, 9.0, 8.0, 7.0, 6.0, 10.0],
                  index=list("abcdefghijk"))
    b = buckets(v, "S")
    assert b["c"] is None
    assert b[["b", "e"]].tolist() == ["S1", "S1"] and b[["g", "k"]].tolist() == ["S5", "S5"]
    assert b.dropna().value_counts().tolist() == [2] * 5


@pytest.mark.data
def test_static_features_of_real_stocks(frame: pd.DataFrame):
    assert list(frame.columns) == STATIC_COLUMNS
    assert sorted(frame["as_of_date"].unique()) == [date(2022, 11, 30), date(2022, 12, 30)]
    assert "000300.SH" not in set(frame["ts_code"])
    assert frame.groupby("as_of_date").size().tolist() == [10, 10]
    m = frame[(frame["ts_code"] == "600519.SH") & (frame["as_of_date"] == date(2022, 12, 30))].iloc[0]
    assert (m["industry"], m["sub_industry"]) == ("酿酒", "白酒")
    extra = json.loads(m["extra_json"])
    assert extra["close_cny"] == pytest.approx(1727.0)      # the 2022-12-30 close in sh600519.day
    assert extra["float_shares"] == MOUTAI_FLOAT_SHARES
    assert extra["float_mcap_cny"] == pytest.approx(1727.0 * MOUTAI_FLOAT_SHARES)
    assert 0.005 < extra["vol_60"] < 0.06 and extra["amount_20_cny"] > 1e9
    assert extra["returns_adjusted"] is True
    assert m["size_bucket"] == "S5" and m["liquidity_bucket"] == "L5"
    for col, p in (("size_bucket", "S"), ("volatility_bucket", "V"), ("liquidity_bucket", "L")):
        labels = frame[col].dropna()
        assert labels.str.fullmatch(p + "[1-5]").all()
        assert sorted(labels.unique()) == [f"{p}{i}" for i in range(1, 6)]


@pytest.mark.data
def test_static_features_ignore_later_bars(store: MarketStore, tdx_dir: Path, frame, tmp_path):
    changed = MarketStore(tmp_path / "market")
    shutil.copytree(store.root, changed.root)
    later = changed.query("bars_1d", "trade_time > ?", [DAYS[-1].to_pydatetime()])
    later["close"] = later["close"] * 3.0
    later["amount"] = later["amount"][::-1].to_numpy()
    changed.write({"bars_1d": later})
    again = build_static_features(changed, tdx_dir, DAYS)
    pd.testing.assert_frame_equal(again, frame)
    # one date alone gives the same rows as in a batch
    alone = build_static_features(changed, tdx_dir, DAYS[-1:])
    pd.testing.assert_frame_equal(alone, frame[frame["as_of_date"] == date(2022, 12, 30)]
                                  .reset_index(drop=True))


@pytest.mark.data
def test_write_is_an_upsert_and_read_takes_the_latest_on_or_before(app_db, frame):
    with app_db.Session() as s, s.begin():
        assert write_static_features(s, frame) == 20
    changed = frame.copy()
    changed.loc[changed["ts_code"] == "600519.SH", "industry"] = "白酒"
    with app_db.Session() as s, s.begin():
        assert write_static_features(s, changed) == 20     # replaces, no duplicate keys
    with app_db.Session() as s:
        nov = read_static_features(s, ["600519.SH", "000001.SZ"], "2022-12-29")
        dec = read_static_features(s, None, "2023-02-24")
        none = read_static_features(s, ["600519.SH"], "2022-11-29")
    assert nov["as_of_date"].tolist() == [date(2022, 11, 30)] * 2
    assert nov["ts_code"].tolist() == ["000001.SZ", "600519.SH"]
    assert nov.iloc[1]["industry"] == "白酒"
    assert len(dec) == 10 and set(dec["as_of_date"]) == {date(2022, 12, 30)}
    assert none.empty and list(none.columns) == STATIC_COLUMNS
    got = dec.set_index("ts_code").sort_index()
    want = changed[changed["as_of_date"] == date(2022, 12, 30)].set_index("ts_code").sort_index()
    assert got["extra_json"].map(json.loads).tolist() == want["extra_json"].map(json.loads).tolist()
    assert got["size_bucket"].tolist() == want["size_bucket"].tolist()


def test_write_refuses_a_frame_without_the_columns():
    with pytest.raises(ValueError, match="lacks"):
        write_static_features(None, pd.DataFrame({"ts_code": ["600519.SH"]}))
