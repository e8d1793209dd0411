"""The service's read caches: computed once under concurrency, invalidated by a store write."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from tzero.service.cache import Memo, ServiceCache


def test_memo_computes_each_key_once_under_concurrency() -> None:
    memo = Memo(maxsize=2)
    calls: list[str] = []

    def slow(key: str):
        def compute():
            calls.append(key)
            time.sleep(0.05)
            return key.upper()
        return compute

    out: list[str] = []
    threads = [threading.Thread(target=lambda: out.append(memo.get("a", slow("a")))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == ["A"] * 20 and calls == ["a"]
    memo.get("b", slow("b"))
    memo.get("c", slow("c"))          # evicts "a" (least recently used)
    memo.get("a", slow("a"))
    assert calls == ["a", "b", "c", "a"]


def test_memo_does_not_store_failures() -> None:
    memo = Memo()
    with pytest.raises(ZeroDivisionError):
        memo.get("k", lambda: 1 / 0)
    assert memo.get("k", lambda: 7) == 7


@pytest.mark.data
def test_panel_cache_is_invalidated_by_a_store_write(tdx_dir: Path, tmp_path: Path) -> None:
    from tzero.data.ingest import ingest_tdx
    from tzero.data.store import MarketStore

    src = tmp_path / "tdx" / "vipdoc" / "sh" / "lday"
    src.mkdir(parents=True)
    shutil.copyfile(tdx_dir / "vipdoc" / "sh" / "lday" / "sh600519.day", src / "sh600519.day")
    hq = tmp_path / "tdx" / "T0002" / "hq_cache"                  # qfq panels need a factor
    hq.mkdir(parents=True)
    shutil.copyfile(tdx_dir / "T0002" / "hq_cache" / "gbbq", hq / "gbbq")
    store = MarketStore(tmp_path / "market")
    ingest_tdx(store, tmp_path / "tdx")
    cache = ServiceCache(store, tmp_path / "models")
    a = cache.panel(["600519.SH"], end=pd.Timestamp("2023-02-24"))
    assert cache.panel(["600519.SH"], end=pd.Timestamp("2023-02-24")) is a      # hit
    assert cache.panels.hits == 1 and cache.panels.misses == 1

    time.sleep(0.01)
    shutil.copyfile(tdx_dir / "vipdoc" / "sz" / "lday" / "sz000001.day",
                    tmp_path / "tdx" / "vipdoc" / "sh" / "lday" / "sh600000.day")
    ingest_tdx(store, tmp_path / "tdx")                                            # manifest replaced
    b = cache.panel(["600519.SH"], end=pd.Timestamp("2023-02-24"))
    assert b is not a and cache.panels.misses == 2
    pd.testing.assert_frame_equal(a, b)


def test_blocked_models_cache_follows_new_research_runs(tmp_path: Path) -> None:
    from tzero.backtest.gates import Verdict, save_verdicts
    from tzero.data.appdb import open_app_store

    engine, Session = open_app_store(f"sqlite:///{tmp_path / 'app.db'}")
    cache = ServiceCache(None, tmp_path / "models")   # the verdicts need no market store
    assert cache.blocked(Session) == {}
    row = {"strategy": "t0", "variant": "lstm-a", "model": "lstm", "params": {},
           "oos_metrics": {"sharpe": -1.0}, "n_trials": 1}
    save_verdicts(Session, "r1", [{**row, "verdict": Verdict("blocked", ["OOS return <= 0"])}])
    assert set(cache.blocked(Session)) == {"lstm"}
    assert cache.blocked(Session) is cache.blocked(Session)                    # cached
    save_verdicts(Session, "r2", [{**row, "verdict": Verdict("kept", ["passes"])}])
    assert cache.blocked(Session) == {}                                          # new run, new key
    engine.dispose()
