"""The one executor (issue 14 "Executor"): local pool and Ray give the same numbers.

A local Ray cluster (``ray.init(num_cpus=2)``, no dashboard) is started once for the
module and stopped after it; no test needs another machine. Real daily bars of
600519.SH, 000858.SZ and 600036.SH from the shared TDX folder (skipped when absent).
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pandas as pd
import pytest

from tzero.errors import ModelError, TzeroError
from tzero.models.arima import ArimaForecaster
from tzero.models.base import fit_series
from tzero.models.hmm import HmmForecaster
from tzero.training.cv import grid_search
from tzero.training.executor import (
    LocalExecutor,
    Outcome,
    RayExecutor,
    executor_from,
    make_executor,
)

FLEET = ("600519.SH", "000858.SZ", "600036.SH")
CUT = pd.Timestamp("2021-06-30")


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray with 2 CPUs for the module; this module's functions travel by value."""
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'tzero[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])   # test helpers below
    yield ray
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


@pytest.fixture(scope="module")
def fleet(tdx_dir: Path) -> pd.DataFrame:
    """Unadjusted daily bars of :data:`FLEET` up to :data:`CUT`, sorted (the Bars frame)."""
    from tzero.data.tdx import read_day

    frames = []
    for code in FLEET:
        num, mk = code.split(".")
        path = tdx_dir / "vipdoc" / mk.lower() / "lday" / f"{mk.lower()}{num}.day"
        if not path.is_file():
            pytest.skip(f"shared data absent: {path}")
        frames.append(read_day(path))
    df = pd.concat(frames, ignore_index=True)
    df = df.loc[df["trade_time"] <= CUT]
    return df.sort_values(["ts_code", "trade_time"], ignore_index=True)


def _blob(model) -> dict[str, bytes]:
    """Each series' fitted state as bytes (per series: objects that came back from a worker
    share no identity with the dict's keys, so the whole dict's pickle memo differs)."""
    state = model.state_dict()
    return {"config": pickle.dumps(state["config"]),
            **{k: pickle.dumps(v) for k, v in state["models"].items()}}


# ------------------------------------------------------------------- same numbers
@pytest.mark.data
@pytest.mark.parametrize("cls", [ArimaForecaster, HmmForecaster], ids=["arima", "hmm"])
def test_local_pool_and_ray_fits_are_bit_identical(cls, fleet, ray_cluster) -> None:
    """Serial, a 2-process pool and Ray tasks: the same state bytes and forecasts."""
    serial = cls().fit(fleet, executor=LocalExecutor(1))
    pool = cls().fit(fleet, executor=LocalExecutor(2))
    seen: list[tuple[str, int, int]] = []
    with RayExecutor() as ex:
        on_ray = cls().fit(fleet, executor=ex, progress=lambda *a: seen.append(a))
    assert serial.fitted_keys() == on_ray.fitted_keys() == sorted(FLEET)
    assert _blob(serial) == _blob(pool) == _blob(on_ray)
    pd.testing.assert_frame_equal(serial.predict(fleet, CUT), on_ray.predict(fleet, CUT),
                                  check_exact=True)
    assert [(d, t) for _, d, t in seen] == [(1, 3), (2, 3), (3, 3)]   # one per finished series
    assert sorted(c for c, _, _ in seen) == sorted(FLEET)


@pytest.mark.data
def test_walk_forward_windows_are_the_same_on_ray(fleet, ray_cluster) -> None:
    """The daily family's (symbol, window) fits: the same frame and failures on Ray."""
    from tzero.research import daily as rd

    bars = fleet.loc[fleet["trade_time"] >= "2017-01-01"].reset_index(drop=True)
    sessions = pd.DatetimeIndex(bars["trade_time"].unique())
    windows = rd.daily_windows(sessions, "2020-06-01")[:2]
    assert len(windows) == 2
    models = (rd.HMM,)                      # ARIMA's fits: the test above
    local = rd.walk_forward_forecasts(bars, windows, models=models, n_jobs=1)
    with RayExecutor() as ex:
        on_ray = rd.walk_forward_forecasts(bars, windows, models=models, executor=ex)
    assert len(local) and set(local["ts_code"]) == set(FLEET)
    pd.testing.assert_frame_equal(local, on_ray, check_exact=True)
    assert local.attrs == on_ray.attrs


def _fold(params: dict, tr, te) -> dict:
    return {"f1": params["a"] / (1 + len(tr)), "mse": float(len(te)) * params["b"]}


def test_grid_points_run_on_ray_in_grid_order(ray_cluster) -> None:
    grid = {"a": [1.0, 2.0, 3.0], "b": [0.1, 0.2]}
    here = grid_search(200, grid, 3, 5, _fold)
    with RayExecutor() as ex:
        there = grid_search(200, grid, 3, 5, _fold, executor=ex)
    assert here == there and len(here.table) == 6


# ------------------------------------------------------------- failures and retries
def _attempt(path: str) -> int:
    """Append one line to ``path`` and return the lines now there (the attempt number)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("x\n")
    with open(path, encoding="utf-8") as fh:
        return len(fh.readlines())


def _flaky(item: tuple[str, int, str]) -> str:
    """Fail (``RuntimeError``, or a ``ModelError`` for kind ``model``) on the first
    ``fails`` attempts, then return the path's name."""
    path, fails, kind = item
    n = _attempt(path)
    if kind == "model":
        raise ModelError(f"{Path(path).name}: too short (a deterministic refusal)")
    if n <= fails:
        raise RuntimeError(f"{Path(path).name}: flaky attempt {n}")
    return Path(path).name


def _die(path: str) -> None:
    """Kill the worker process on every attempt (a segfault, an OOM kill)."""
    _attempt(path)
    os._exit(1)


def test_a_failing_task_is_retried_a_bounded_number_of_times(tmp_path, ray_cluster) -> None:
    items = [(str(tmp_path / "ok"), 0, ""), (str(tmp_path / "once"), 1, ""),
             (str(tmp_path / "always"), 99, ""), (str(tmp_path / "refused"), 0, "model")]
    calls: list[tuple[int, int]] = []
    with RayExecutor(retry_exceptions=2) as ex:
        out = {r.index: r for r in ex.map(_flaky, items, progress=lambda d, t: calls.append((d, t)))}
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]          # progress per task, retries not
    assert (out[0].value, out[0].attempts) == ("ok", 1)
    assert (out[1].value, out[1].attempts) == ("once", 2)
    assert isinstance(out[2].error, RuntimeError) and out[2].attempts == 3      # 1 + 2 retries
    assert "flaky attempt 3" in str(out[2].error)
    assert isinstance(out[3].error, ModelError) and out[3].attempts == 1        # not retried
    lines = {p: len((tmp_path / p).read_text().splitlines()) for p in ("ok", "once", "always", "refused")}
    assert lines == {"ok": 1, "once": 2, "always": 3, "refused": 1}
    with pytest.raises(RuntimeError, match="flaky attempt 3"):
        out[2].get()


def test_a_task_whose_worker_dies_is_retried_then_recorded(tmp_path, ray_cluster) -> None:
    with RayExecutor(max_retries=1) as ex:
        (res,) = list(ex.map(_die, [str(tmp_path / "dead")]))
    assert not res.ok and isinstance(res.error, ray_cluster.exceptions.RayError)
    assert len((tmp_path / "dead").read_text().splitlines()) == 2      # Ray's one retry


def test_local_retries_are_off_by_default_and_bounded_when_asked(tmp_path) -> None:
    (first,) = list(LocalExecutor(1).map(_flaky, [(str(tmp_path / "a"), 1, "")]))
    assert isinstance(first.error, RuntimeError) and first.attempts == 1
    (again,) = list(LocalExecutor(1, retry_exceptions=1).map(_flaky, [(str(tmp_path / "b"), 1, "")]))
    assert again.ok and again.attempts == 2


class FlakyArima(ArimaForecaster):
    """ARIMA whose fit of :attr:`bad` always raises (a test-only model; counts attempts)."""

    name = "arima_flaky"
    bad = "000858.SZ"
    counter = ""

    def _fit_series(self, code, bars, progress=None):
        if code == self.bad:
            _attempt(self.counter)
            raise RuntimeError(f"{code}: the worker lost its input")
        return super()._fit_series(code, bars, progress)


@pytest.fixture
def flaky_row():
    """:class:`FlakyArima` as a row of the model table while the test runs."""
    from tzero.models import table

    spec = table.register(table.ModelSpec(FlakyArima, "ARIMA that fails one series (test)"))
    yield spec
    table.unregister(spec.name)


@pytest.mark.data
def test_a_series_that_keeps_failing_is_a_failed_run_and_never_a_version(fleet, tmp_path, flaky_row,
                                                                          ray_cluster) -> None:
    """Through the registry: the bad series is retried twice, then recorded as failed (run
    and TrainingFailure rows); no version of it exists; the other two are published."""
    from sqlalchemy import select

    from tzero.data.appdb import TrainingFailure, open_app_store
    from tzero.registry import versions
    from tzero.registry.publish import train_and_publish
    from tzero.settings import get_settings

    FlakyArima.counter = str(tmp_path / "attempts")
    engine, Session = open_app_store(get_settings(home=tmp_path / "home").app_db_url)
    try:
        with RayExecutor(retry_exceptions=2) as ex:
            rows = {r.key: r for r in train_and_publish(Session, FlakyArima(), fleet, executor=ex)}
        with Session() as s:
            stored = {v["symbol"] for v in versions.list_versions(s, FlakyArima.name)}
            fails = s.scalars(select(TrainingFailure.symbol)).all()
    finally:
        engine.dispose()
    bad = FlakyArima.bad
    assert rows[bad].status == "failed" and rows[bad].version_id is None
    assert rows[bad].reason.startswith(f"{bad}: arima_flaky fit failed (RuntimeError: ")
    assert len(Path(FlakyArima.counter).read_text().splitlines()) == 3
    assert stored == set(FLEET) - {bad} and fails == [bad]
    assert all(rows[c].status == "succeeded" for c in set(FLEET) - {bad})


@pytest.mark.data
def test_a_too_short_series_fails_alone_under_ray(fleet, ray_cluster) -> None:
    short = fleet.loc[(fleet["ts_code"] != "600036.SH") | (fleet["trade_time"] >= "2021-06-01")]
    with RayExecutor() as ex:
        fitted, failed = fit_series(HmmForecaster(), short, errors="collect", executor=ex)
        with pytest.raises(ModelError, match="600036.SH"):
            fit_series(HmmForecaster(), short, errors="raise", executor=ex)
    local, why = fit_series(HmmForecaster(), short, errors="collect")
    assert list(failed) == ["600036.SH"] and failed == why
    assert sorted(fitted) == ["000858.SZ", "600519.SH"]
    assert {k: pickle.dumps(v) for k, v in fitted.items()} == \
        {k: pickle.dumps(v) for k, v in local.items()}


# ------------------------------------------------------------------------ choosing
def test_names_are_checked_and_ray_missing_is_one_clear_error(monkeypatch) -> None:
    from tzero.settings import get_settings

    assert isinstance(executor_from(None, 2), LocalExecutor)
    assert executor_from("LOCAL", 3).workers == 3
    with pytest.raises(TzeroError, match=r"--executor must be one of local, ray, got 'spark'"):
        executor_from("spark")
    bad = get_settings().with_overrides(executor="dask")
    with pytest.raises(TzeroError, match=r"TZERO_EXECUTOR must be one of local, ray"):
        make_executor(bad, 2)
    monkeypatch.setitem(sys.modules, "ray", None)          # `import ray` fails as if absent
    with pytest.raises(TzeroError, match=r"pip install 'tzero\[ray\]'"):
        RayExecutor()
    with pytest.raises(TzeroError, match=r"pip install 'tzero\[ray\]'"):
        make_executor(get_settings().with_overrides(executor="ray"), 2)


def test_outcome_get_returns_or_raises() -> None:
    assert Outcome(0, 5).get() == 5 and Outcome(0, 5).ok
    with pytest.raises(KeyError):
        Outcome(1, None, KeyError("x")).get()
