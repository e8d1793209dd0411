"""Universes as of each date: the seeded configs, CSI 300 from the file, ALL_EQ_CLEAN rules.

ALL_EQ_CLEAN runs on a small store of real ``.day`` files (see :data:`CODES`)
and a few sessions, so it stays fast. The shared ``stock_basic.csv`` holds no
ST names at all (its source dropped them), so the name rule is tested on a copy
in which one real stock is renamed ``*ST``.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tzero.data.appdb import open_app_store
from tzero.data.ingest import ingest_tdx
from tzero.data.store import MarketStore
from tzero.data.universe import members_on as index_members_on
from tzero.data.universe import read_index_membership
from tzero.data.universes import (
    FILTER_DEFAULTS,
    UniverseConfigError,
    UniverseSpec,
    UnknownUniverseError,
    get_universe,
    load_universes,
    members_matrix,
    members_on,
)
from tzero.errors import TzeroError
from tzero.market.symbols import tdx_name

#: Real daily files: two large caps, one renamed *ST in the names copy, one with a tiny
#: amount (000005.SZ: ~12.5 M CNY a day in 2023-01), one listed 2022-12-28 (001301.SZ), one
#: suspended 17 of the 60 sessions to 2023-01-31 (300330.SZ), an index and an ETF.
CODES = ("600519.SH", "000001.SZ", "000002.SZ", "000005.SZ", "001301.SZ", "300330.SZ",
         "000300.SH", "510300.SH")
DAY = pd.Timestamp("2023-01-31")
LATER = pd.Timestamp("2023-02-24")


def _copy_day_files(tdx_dir: Path, root: Path) -> Path:
    for code in CODES:
        rel = Path(code[-2:].lower()) / "lday" / f"{tdx_name(code)}.day"
        dst = root / "vipdoc" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tdx_dir / "vipdoc" / rel, dst)
    return root


@pytest.fixture(scope="module")
def small_store(tdx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> MarketStore:
    """A market store with the daily bars of :data:`CODES` (read-only in tests)."""
    root = tmp_path_factory.mktemp("univ")
    store = MarketStore(root / "market")
    ingest_tdx(store, _copy_day_files(tdx_dir, root / "tdx"))
    return store


@pytest.fixture(scope="module")
def names_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder whose stock_basic.csv is the real one with 000002.SZ named *ST万科."""
    d = tmp_path_factory.mktemp("names")
    basic = pd.read_csv(data_dir / "reference" / "stock_basic.csv", dtype=str, encoding="utf-8-sig")
    assert not basic["name"].str.contains("ST").any()  # why the copy is needed
    basic.loc[basic["ts_code"] == "000002.SZ", "name"] = "*ST万科"
    (d / "reference").mkdir()
    basic.to_csv(d / "reference" / "stock_basic.csv", index=False, encoding="utf-8-sig")
    return d


@pytest.fixture
def session(tmp_path: Path):
    engine, Session = open_app_store(f"sqlite:///{tmp_path / 'tzero.db'}")
    with Session() as s:
        yield s
    engine.dispose()


def _clean(**over) -> UniverseSpec:
    return UniverseSpec("ALL_EQ_CLEAN", "", {"kind": "filter", **over}, True)


def test_seeded_universes_and_unknown_name(session):
    specs = load_universes(session)
    assert [u.name for u in specs] == ["ALL_EQ_CLEAN", "CORE_UNIVERSE", "CSI_300"]
    assert [u.kind for u in specs] == ["filter", "list", "index"]
    with pytest.raises(UnknownUniverseError) as info:
        get_universe(session, "CSI_500")
    assert isinstance(info.value, TzeroError)
    assert "'CSI_500'" in str(info.value) and "ALL_EQ_CLEAN, CORE_UNIVERSE, CSI_300" in str(info.value)


@pytest.mark.data
def test_csi300_members_come_from_the_file(session, data_dir):
    spec = get_universe(session, "CSI_300")
    codes, carried = members_on(spec, "2020-06-30", store=None, data_dir=data_dir)
    want = index_members_on(read_index_membership(data_dir / "reference" / "csi300_membership.txt"),
                            "2020-06-30")
    assert codes == want and 245 <= len(codes) <= 300 and "600519.SH" in codes
    assert carried is None


@pytest.mark.data
def test_csi300_after_the_file_carries_forward_and_says_so(session, data_dir):
    spec = get_universe(session, "CSI_300")
    days = pd.DatetimeIndex(["2023-02-24", "2023-03-01", "2023-06-30"])
    res = members_matrix(spec, days, store=None, data_dir=data_dir)
    assert res.carried_from == date(2023, 2, 24)
    assert "membership file ends 2023-02-24; carried forward" in res.notes
    assert res.members("2023-06-30") == res.members("2023-03-01") == res.members("2023-02-24")
    _, carried = members_on(spec, "2023-02-24", store=None, data_dir=data_dir)
    assert carried is None  # the file's own last date is not carried
    off = UniverseSpec("X", "", {**spec.config, "carry_forward": False}, True)
    assert members_on(off, "2023-03-01", store=None, data_dir=data_dir)[0] == []


def test_csi300_without_the_data_folder_says_how_to_fix(session):
    with pytest.raises(UniverseConfigError, match="TZERO_DATA_DIR"):
        members_on(get_universe(session, "CSI_300"), "2020-06-30", store=None, data_dir=None)


def test_core_universe_is_its_list_on_every_date(session):
    spec = get_universe(session, "CORE_UNIVERSE")
    res = members_matrix(spec, pd.DatetimeIndex(["2016-01-04", "2023-02-24"]), store=None,
                         data_dir=None)
    assert res.matrix.all().all() and len(res.matrix.columns) == 10
    assert res.carried_from is None


@pytest.mark.data
def test_all_eq_clean_rules_on_real_bars(small_store, names_dir, session):
    seeded = get_universe(session, "ALL_EQ_CLEAN")
    assert {k: v for k, v in seeded.config.items() if k != "kind"} == FILTER_DEFAULTS
    res = members_matrix(seeded, pd.DatetimeIndex([DAY]), store=small_store, data_dir=names_dir)
    assert set(res.matrix.columns) == set(CODES) - {"000300.SH", "510300.SH"}  # stocks only
    assert res.members(DAY) == ["000001.SZ", "600519.SH"]
    assert any("2025-09" in n for n in res.notes)
    # each exclusion comes back when its own rule is switched off
    for code, rule in (("000002.SZ", {"exclude_name_regex": None}),
                       ("000005.SZ", {"min_avg_amount_cny": None}),
                       ("001301.SZ", {"min_listed_sessions": None}),
                       ("300330.SZ", {"max_suspended_sessions": None, "min_avg_amount_cny": None})):
        got, _ = members_on(_clean(**rule), DAY, store=small_store, data_dir=names_dir)
        assert code in got, rule
    # 001301.SZ (listed 2022-12-28) is 20 sessions old on DAY: a 10-session minimum admits it
    got, _ = members_on(_clean(min_listed_sessions=10), DAY, store=small_store, data_dir=names_dir)
    assert "001301.SZ" in got


@pytest.mark.data
def test_all_eq_clean_on_a_date_ignores_later_bars(small_store, names_dir, tmp_path):
    days = pd.DatetimeIndex(["2023-01-16", DAY])
    before = members_matrix(_clean(), days, store=small_store, data_dir=names_dir).matrix
    # same rows for DAY when later dates are resolved in the same call
    wide = members_matrix(_clean(), pd.DatetimeIndex([DAY, LATER]), store=small_store,
                          data_dir=names_dir).matrix
    pd.testing.assert_series_equal(wide.loc[DAY], before.loc[DAY])
    # a copy of the store whose bars after DAY are rewritten: the tiny one becomes huge,
    # the large caps trade nothing
    store = MarketStore(tmp_path / "market")
    shutil.copytree(small_store.root, store.root)
    bars = store.query("bars_1d", "trade_time > ?", [DAY.to_pydatetime()])
    big = bars["ts_code"].isin(["600519.SH", "000001.SZ"])
    bars.loc[big, "amount"] = 1.0
    bars.loc[~big, "amount"] = 1e12
    store.write({"bars_1d": bars})
    after = members_matrix(_clean(), days, store=store, data_dir=names_dir).matrix
    pd.testing.assert_frame_equal(after, before)
    assert "000005.SZ" in members_on(_clean(), LATER, store=store, data_dir=names_dir)[0]


def test_bad_config_json_names_the_universe(session):
    from tzero.data.appdb import UniverseConfig

    session.get(UniverseConfig, "CORE_UNIVERSE").config_json = '{"kind": "basket"}'
    session.flush()
    with pytest.raises(UniverseConfigError, match="CORE_UNIVERSE"):
        get_universe(session, "CORE_UNIVERSE")
