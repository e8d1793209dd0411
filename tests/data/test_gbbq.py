"""TDX gbbq: decoding, factors vs Tushare's, the ingest hook, the adjusted-read error, no look-ahead.

The real file (``tdx/T0002/hq_cache/gbbq``, 104,454 records as of 2020-11) is
read in place; ingest tests copy it and a few ``.day`` files into tmp_path.
Hand-computed cases use the exchanges' reference-price rule of
:mod:`tzero.data.gbbq`.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tzero.data import bars, gbbq, tables, tdx
from tzero.data.ingest import ingest_table, ingest_tdx
from tzero.data.store import MarketStore
from tzero.errors import DataFormatError, StoreError
from tzero.market.symbols import is_stock

pytestmark = pytest.mark.data

#: Real daily files of the ingest tests: two stocks, an index and an ETF.
INGEST_FILES = ("sh/lday/sh600519.day", "sz/lday/sz000001.day", "sh/lday/sh600036.day",
                "sh/lday/sh000300.day", "sh/lday/sh510300.day")
#: Last session before the shared gbbq's newest record (2020-11-09).
GBBQ_END = "2020-11-06"


@pytest.fixture(scope="module")
def gbbq_path() -> Path:
    """The shared gbbq file; skips when the shared data is absent."""
    from tzero.settings import get_settings

    d = get_settings().tdx_dir
    p = None if d is None else d / gbbq.GBBQ_RELPATH
    if p is None or not p.is_file():
        pytest.skip("shared data absent: no tdx/T0002/hq_cache/gbbq under the shared data folder")
    return p


@pytest.fixture(scope="module")
def gb(gbbq_path: Path) -> pd.DataFrame:
    """The decoded shared gbbq."""
    return gbbq.read_gbbq(gbbq_path)


# ------------------------------------------------------------------ decoding

def test_decode_matches_pytdx_record_for_record(gbbq_path: Path, tmp_path: Path) -> None:
    from pytdx.reader.gbbq_reader import GbbqReader

    n = 3000  # pytdx decodes byte by byte in Python: a prefix of the file keeps this fast
    raw = gbbq_path.read_bytes()
    head = tmp_path / "gbbq"
    head.write_bytes(struct.pack("<I", n) + raw[4:4 + gbbq.RECORD_SIZE * n])
    ref = GbbqReader().get_df(str(head))
    ours = gbbq.decode(head.read_bytes())
    assert len(ours) == len(ref) == n
    assert (ours["market"] == ref["market"].to_numpy()).all()
    assert (np.char.decode(ours["code"]) == ref["code"].to_numpy()).all()
    assert (ours["date"] == ref["datetime"].to_numpy()).all()
    assert (ours["category"] == ref["category"].to_numpy()).all()
    for ours_col, ref_col in (("v1", "hongli_panqianliutong"), ("v2", "peigujia_qianzongguben"),
                              ("v3", "songgu_qianzongguben"), ("v4", "peigu_houzongguben")):
        assert np.array_equal(ours[ours_col], ref[ref_col].to_numpy(dtype=np.float32))


def test_read_real_gbbq(gb: pd.DataFrame) -> None:
    assert len(gb) == 104_454
    assert set(gb["ts_code"].str[-2:]) == {"SH", "SZ"}
    assert gb["date"].max() == pd.Timestamp("2020-11-09")
    ev = gbbq.ex_rights_events(gb)
    assert set(ev["category"]) == {1, 11}
    moutai = ev.loc[(ev["ts_code"] == "600519.SH") & (ev["ex_date"] == "2020-06-24")].iloc[0]
    assert moutai["cash"] == pytest.approx(170.25) and moutai["bonus"] == 0  # 10派170.25元
    split = ev.loc[(ev["ts_code"] == "510050.SH") & (ev["category"] == 11)].iloc[0]
    assert split["ex_date"] == pd.Timestamp("2005-02-17") and split["split"] == pytest.approx(1.183841)


def test_truncated_gbbq_names_the_file(gbbq_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "gbbq"
    bad.write_bytes(gbbq_path.read_bytes()[:1000])
    with pytest.raises(DataFormatError, match=r"gbbq: 1000 bytes do not hold the 104454 records"):
        gbbq.read_gbbq(bad)


# ------------------------------------------------------------ factor rule (by hand)

def _bars(code: str, dates: list[str], closes: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"ts_code": code, "trade_time": pd.to_datetime(dates), "close": closes})


def _events(rows: list[dict]) -> pd.DataFrame:
    base = {"category": 1, "cash": 0.0, "rights_price": 0.0, "bonus": 0.0, "rights": 0.0, "split": 1.0}
    ev = pd.DataFrame([{**base, **r} for r in rows])
    ev["ex_date"] = pd.to_datetime(ev["ex_date"])
    return ev[gbbq.EVENT_COLUMNS]


def test_factor_steps_worked_by_hand() -> None:
    days = ["2020-06-01", "2020-06-02", "2020-06-03", "2020-06-04", "2020-06-08", "2020-06-09"]
    b = _bars("600000.SH", days, [10.00, 10.00, 20.00, 10.00, 10.00, 10.00])
    ev = _events([
        # 10派1元: ref 10.00 − 0.10 = 9.90
        {"ts_code": "600000.SH", "ex_date": "2020-06-02", "cash": 1.0},
        # 10送10派2元: ref (20.00 − 0.20) / 2 = 9.90
        {"ts_code": "600000.SH", "ex_date": "2020-06-04", "cash": 2.0, "bonus": 10.0},
        # 10配3股 at 8元, ex-date 06-05 with no bar (suspended): step on 06-08,
        # ref (10.00 + 0.3 × 8) / 1.3 = 9.5384… → 9.54 (half-up to the 0.01 tick)
        {"ts_code": "600000.SH", "ex_date": "2020-06-05", "rights": 3.0, "rights_price": 8.0},
        # 10派1元 and a 1→2 split on one session: ref (10.00 − 0.10) / 2 = 4.95
        {"ts_code": "600000.SH", "ex_date": "2020-06-09", "cash": 1.0},
        {"ts_code": "600000.SH", "ex_date": "2020-06-09", "category": 11, "split": 2.0},
        # before the first bar and after the last: no prev close / no bar, skipped
        {"ts_code": "600000.SH", "ex_date": "2020-05-01", "cash": 5.0},
        {"ts_code": "600000.SH", "ex_date": "2020-07-01", "cash": 5.0},
    ])
    f = gbbq.factors_from_events(b, ev)["adj_factor"].to_numpy()
    s1, s2, s3, s4 = 10 / 9.90, 20 / 9.90, 10 / 9.54, 10 / 4.95
    np.testing.assert_allclose(f, [1.0, s1, s1, s1 * s2, s1 * s2 * s3, s1 * s2 * s3 * s4], rtol=1e-12)
    exact = gbbq.factors_from_events(b, ev, round_to_tick=False)["adj_factor"].to_numpy()
    assert exact[4] / exact[3] == pytest.approx(10 / ((10 + 2.4) / 1.3), rel=1e-12)


def test_fund_reference_price_rounds_to_its_0_001_tick() -> None:
    b = _bars("510300.SH", ["2020-01-02", "2020-01-03"], [4.061, 4.061])
    ev = _events([{"ts_code": "510300.SH", "ex_date": "2020-01-03", "cash": 0.75}])  # 0.075/share
    f = gbbq.factors_from_events(b, ev)["adj_factor"].to_numpy()
    assert f[1] == pytest.approx(4.061 / 3.986, rel=1e-12)


def test_no_look_ahead_future_events_leave_past_hfq_factors_unchanged(tdx_dir: Path,
                                                                       gb: pd.DataFrame) -> None:
    daily = tdx.read_vipdoc_day(tdx_dir, ["600519.SH", "000001.SZ"])
    ev = gbbq.ex_rights_events(gb)
    cut = pd.Timestamp("2018-01-01")
    base = gbbq.factors_from_events(daily, ev)
    # change every event after the cut, and add a large one
    future = ev["ex_date"] >= cut
    changed = ev.copy()
    changed.loc[future, "cash"] = changed.loc[future, "cash"] * 3 + 1.0
    changed.loc[future, "bonus"] = 5.0
    extra = _events([{"ts_code": "600519.SH", "ex_date": "2019-03-01", "bonus": 10.0, "cash": 50.0}])
    moved = gbbq.factors_from_events(daily, pd.concat([changed, extra], ignore_index=True))
    past = base["trade_date"] < cut
    pd.testing.assert_frame_equal(base.loc[past], moved.loc[past])
    assert not np.allclose(base.loc[~past, "adj_factor"], moved.loc[~past, "adj_factor"])


# ----------------------------------------------------------- vs Tushare factors

def test_factors_agree_with_tushare_on_common_dates(data_dir: Path, tdx_dir: Path,
                                                    gb: pd.DataFrame, tmp_path: Path) -> None:
    """qfq-normalised gbbq factors vs reference/adj_factor.parquet, dates ≤ the gbbq's end.

    This sample (every 10th full-history stock: 66 symbols, 76,991 pairs) agrees
    within 1e-3 on 98.3% of pairs (96.8% within 1e-4, median 5e-8; 97% of symbols
    on ≥ 95% of their dates). On every symbol both cover
    (``benchmarks/check_gbbq_factors.py``): 97.5% of 780,132 pairs within 1e-3
    (94.8% within 1e-4). The rest are real source differences (treasury-share
    "virtual" dividends, actual rights take-up, a rights ex-date one session off
    in the reference).
    """
    ref_path = data_dir / "reference" / "adj_factor.parquet"
    files = sorted((tdx_dir / "vipdoc").glob("s[hz]/lday/*.day"))
    full = [tdx.ts_code_from_path(p) for p in files if p.stat().st_size > 32 * 1000]  # ≥1000 bars
    codes = [c for c in full if is_stock(c)][::10]      # a sample of the full-history stocks
    daily = tdx.read_vipdoc_day(tdx_dir, codes)
    sliced = tmp_path / "adj.parquet"
    pd.read_parquet(ref_path, filters=[("ts_code", "in", codes)]).to_parquet(sliced)
    ref = tables.read_adj_factor_table(sliced)
    f = gbbq.factors_from_events(daily, gbbq.ex_rights_events(gb))
    err = gbbq.qfq_ratio_errors(f, ref, until=gb["date"].max())
    assert err["ts_code"].nunique() >= 40 and len(err) > 40_000
    assert (err["rel_error"] < 1e-3).mean() >= 0.95
    assert err["rel_error"].median() < 1e-6
    per_symbol = err.groupby("ts_code")["rel_error"].apply(lambda e: (e < 1e-3).mean())
    assert (per_symbol >= 0.95).mean() >= 0.9


# ----------------------------------------------------------- ingest and reads

def _tdx_folder(tdx_dir: Path, root: Path, with_gbbq: bool) -> Path:
    for rel in INGEST_FILES:
        dst = root / "vipdoc" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tdx_dir / "vipdoc" / rel, dst)
    if with_gbbq:
        dst = root / gbbq.GBBQ_RELPATH
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tdx_dir / gbbq.GBBQ_RELPATH, dst)
    return root


@pytest.fixture
def tushare_file(data_dir: Path, tmp_path: Path) -> Path:
    """Tushare factors of the ingest stocks, as a small Parquet file."""
    p = tmp_path / "adj.parquet"
    pd.read_parquet(data_dir / "reference" / "adj_factor.parquet",
                    filters=[("ts_code", "in", ["600519.SH", "000001.SZ", "600036.SH"])]).to_parquet(p)
    return p


def test_tdx_only_ingest_gives_qfq_close_to_tushare(tdx_dir: Path, tmp_path: Path,
                                                   tushare_file: Path) -> None:
    folder = _tdx_folder(tdx_dir, tmp_path / "tdx", with_gbbq=True)
    store = MarketStore(tmp_path / "gbbq_store")
    summary = ingest_tdx(store, folder)
    assert summary.factors_from_gbbq == 4          # 3 stocks + the ETF; never the index
    assert "gbbq for 4 symbols" in summary.notes[0] and "2020-11-09" in summary.notes[0]
    assert summary.as_dict()["datasets"]["adj_factor_gbbq"]["rows_written"] > 0
    assert bars.factor_sources(store, ["600519.SH", "000300.SH"]) == {"600519.SH": "adj_factor_gbbq"}

    tushare = MarketStore(tmp_path / "tushare_store")
    ingest_tdx(tushare, _tdx_folder(tdx_dir, tmp_path / "plain", with_gbbq=False))
    ingest_table(tushare, tushare_file, "adj_factor")
    stocks = ["600519.SH", "000001.SZ", "600036.SH"]
    for adjust in ("qfq", "hfq"):
        ours = bars.read_bars(store, stocks, adjust=adjust, start="2015-09-01", end=GBBQ_END)
        theirs = bars.read_bars(tushare, stocks, adjust=adjust, start="2015-09-01", end=GBBQ_END)
        assert len(ours) == len(theirs) > 3000
        if adjust == "hfq":  # levels differ (gbbq counts from the first bar): compare ratios
            for frame in (ours, theirs):
                frame["close"] /= frame.groupby("ts_code")["close"].transform("last")
        rel = (ours["close"] / theirs["close"] - 1).abs()
        assert (rel < 1e-3).mean() >= 0.95, adjust
    moutai = bars.read_bars(store, ["600519.SH"], adjust="qfq", start="2020-06-23", end="2020-06-24")
    assert moutai["close"].round(2).tolist() == [1457.48, 1460.01]   # Tushare qfq: 1457.48, 1460.01
    raw_index = bars.read_bars(store, ["000300.SH"], adjust="none", end=GBBQ_END)
    pd.testing.assert_frame_equal(bars.read_bars(store, ["000300.SH"], adjust="qfq", end=GBBQ_END),
                                  raw_index)

    again = ingest_tdx(store, folder)                # idempotent
    assert again.as_dict()["datasets"]["adj_factor_gbbq"]["rows_written"] == 0


def test_tushare_factor_wins_over_gbbq(tdx_dir: Path, tmp_path: Path, tushare_file: Path) -> None:
    folder = _tdx_folder(tdx_dir, tmp_path / "tdx", with_gbbq=True)
    store = MarketStore(tmp_path / "store")
    ingest_tdx(store, folder)
    ingest_table(store, tushare_file, "adj_factor")
    src = bars.factor_sources(store, ["600519.SH", "510300.SH"])
    assert src == {"600519.SH": "adj_factor", "510300.SH": "adj_factor_gbbq"}
    adj = bars.read_adj_factor(store, ["600519.SH"])
    assert adj["adj_factor"].iloc[0] == pytest.approx(6.081667)   # Tushare's level, not 1.0
    assert ingest_tdx(store, folder).factors_from_gbbq == 1       # only the ETF lacks a Tushare factor


def test_adjusted_read_without_any_factor_says_how_to_get_one(tdx_dir: Path, tmp_path: Path) -> None:
    store = MarketStore(tmp_path / "store")
    ingest_tdx(store, _tdx_folder(tdx_dir, tmp_path / "tdx", with_gbbq=False))
    for adjust in ("qfq", "hfq"):
        with pytest.raises(StoreError) as exc:
            bars.read_bars(store, ["600519.SH", "000300.SH"], adjust=adjust, end=GBBQ_END)
        msg = str(exc.value)
        assert msg.startswith("no adj_factor for 600519.SH: run `tzero ingest tdx` on a folder "
                              "with T0002/hq_cache/gbbq or `tzero ingest table adj_factor.parquet "
                              "--kind adj_factor`")
        assert "000300.SH" not in msg
    assert len(bars.read_bars(store, ["600519.SH"], adjust="none", end=GBBQ_END)) > 1000
    # indices and funds are exempt: no corporate-action factor, read unadjusted
    for code in ("000300.SH", "510300.SH"):
        pd.testing.assert_frame_equal(bars.read_bars(store, [code], adjust="qfq"),
                                      bars.read_bars(store, [code], adjust="none"))


def test_reverse_split_from_gbbq_is_kept_not_repaired(tmp_path: Path) -> None:
    """A gbbq factor that falls is a reverse split (扩缩股 < 1), not a source defect."""
    days = pd.to_datetime(["2020-06-01", "2020-06-02", "2020-06-03", "2020-06-04"])
    raw = pd.DataFrame({"ts_code": "161725.SZ", "trade_time": days, "open": [1.0, 1.0, 2.0, 2.0],
                        "high": [1.0, 1.0, 2.0, 2.0], "low": [1.0, 1.0, 2.0, 2.0],
                        "close": [1.0, 1.0, 2.0, 2.0], "volume": 100.0, "amount": 100.0})
    ev = _events([{"ts_code": "161725.SZ", "ex_date": "2020-06-03", "category": 11, "split": 0.5}])
    f = gbbq.factors_from_events(raw, ev)
    assert f["adj_factor"].tolist() == [1.0, 1.0, 0.5, 0.5]
    store = MarketStore(tmp_path / "store")
    store.write({"bars_1d": raw, gbbq.GBBQ_DATASET: f})
    assert bars.read_bars(store, ["161725.SZ"], adjust="qfq")["close"].tolist() == [2.0, 2.0, 2.0, 2.0]
