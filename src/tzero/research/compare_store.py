"""Where ``tzero compare`` runs live: the app store and the sample's scores on disk.

- ``research_compare_run`` (:class:`tzero.data.appdb.CompareRun`): one row per
  run with the whole JSON result (:func:`save_run`, :func:`list_runs`,
  :func:`get_run`);
- ``research_variant`` rows with strategy ``compare`` (one per row of the
  comparison, variant ``compare:<name>``): the verdicts the signal engine
  reads through :func:`tzero.backtest.gates.blocked_models`;
- ``<home>/research/compare/<run_id>/sample_scores.parquet``: the sample
  stocks' scores and return forecasts of every row (``as_of, ts_code, value,
  model, column``), for the per-stock A/B (:func:`stock_ab`).

The run row and the verdicts are written in one transaction; the Parquet
file is written first (to a temporary name, then renamed), so a failed
save leaves no run pointing at missing scores.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from tzero.backtest import gates
from tzero.data.appdb import CompareRun, ResearchVariant
from tzero.data.model_runs import json_safe
from tzero.errors import TzeroError


def scores_path(home: Path, run_id: str) -> Path:
    """The Parquet file of a run's sample scores."""
    return Path(home) / "research" / "compare" / run_id / "sample_scores.parquet"


def _variant(run_id: str, created: datetime, row: dict, n_trials: int) -> ResearchVariant:
    v = row["verdict"]
    return ResearchVariant(
        run_id=run_id, created_at=created, strategy="compare",
        variant=row.get("variant") or f"compare:{row['name']}",
        model=row["name"], params=json.dumps({"members": row["members"], "kind": row["kind"]}),
        status=v["status"], reasons=json.dumps(v["reasons"], ensure_ascii=False),
        oos_metrics=json.dumps(json_safe(row.get("gate") or {}), allow_nan=False),
        is_metrics=None, n_trials=int(n_trials))


def save_run(session_factory: sessionmaker, result: dict, home: Path,
             sample_scores: pd.DataFrame | None = None) -> str:
    """Store one comparison: run row + verdicts in one transaction, scores on disk.

    Args:
        session_factory: app-store sessions. result: :func:`tzero.research.compare.run_compare`'s dict.
        home: ``TZERO_HOME`` (the scores go under ``research/compare/<run_id>``).
        sample_scores: long ``as_of, ts_code, value, model, column`` (optional).

    Returns:
        The run id.

    Raises:
        ValueError: a verdict status outside kept | watch | blocked (nothing stored).
    """
    run_id = result["run_id"]
    if sample_scores is not None and len(sample_scores):
        path = scores_path(home, run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        sample_scores.to_parquet(tmp, index=False)
        tmp.replace(path)
    created = datetime.fromisoformat(result["created_at"]).replace(tzinfo=None)
    for r in result["rows"]:
        if r["verdict"]["status"] not in gates.STATUSES:
            raise ValueError(f"compare row {r['name']}: status {r['verdict']['status']!r}")
    st = result["settings"]
    text = json.dumps(json_safe(result), ensure_ascii=False, allow_nan=False)
    with session_factory() as s, s.begin():
        s.add(CompareRun(run_id=run_id, created_at=created, universe=result["universe"],
                         start_date=date.fromisoformat(st["start"]),
                         end_date=date.fromisoformat(st["end"]),
                         code_version=result["code_version"][:80],
                         data_first=date.fromisoformat(result["data_range"]["first"]),
                         data_last=date.fromisoformat(result["data_range"]["last"]),
                         fast=bool(st["fast"]), n_models=len(result["rows"]), result_json=text))
        s.add_all([_variant(run_id, created, r, result["n_trials"]) for r in result["rows"]])
        s.add_all([_variant(run_id, created, {**r, "name": f"{r['name']}+meta", **r["meta"]},
                            result["n_trials"])
                   for r in result["rows"] if (r.get("meta") or {}).get("verdict")])
        s.add_all([_variant(run_id, created, {**r, "gate": r["timing"]["metrics"],
                                              "verdict": r["timing"]["verdict"],
                                              "variant": f"compare-timing:{r['name']}"},
                            result["n_trials"])
                   for r in result["rows"] if r.get("timing")])
    return run_id


def list_runs(session_factory: sessionmaker, universe: str | None = None) -> list[dict]:
    """Every stored comparison, newest first: ``run_id, created_at, universe, start, end,
    code_version, data_first, data_last, fast, n_models``."""
    with session_factory() as s:
        q = select(CompareRun.run_id, CompareRun.created_at, CompareRun.universe,
                   CompareRun.start_date, CompareRun.end_date, CompareRun.code_version,
                   CompareRun.data_first, CompareRun.data_last, CompareRun.fast,
                   CompareRun.n_models)
        if universe:
            q = q.where(CompareRun.universe == universe)
        rows = s.execute(q.order_by(CompareRun.created_at.desc(), CompareRun.run_id.desc())).all()
    return [{"run_id": r.run_id, "created_at": r.created_at.isoformat(timespec="seconds"),
             "universe": r.universe, "start": str(r.start_date), "end": str(r.end_date),
             "code_version": r.code_version,
             "data_first": str(r.data_first) if r.data_first else None,
             "data_last": str(r.data_last) if r.data_last else None,
             "fast": bool(r.fast), "n_models": int(r.n_models)} for r in rows]


def get_run(session_factory: sessionmaker, run_id: str | None = None,
            universe: str | None = None) -> dict:
    """A stored comparison's result (``run_id`` None: the newest, of ``universe`` when given).

    Raises:
        TzeroError: no such run / no run stored (the message says how to make one).
    """
    with session_factory() as s:
        if run_id:
            row = s.get(CompareRun, run_id)
        else:
            q = select(CompareRun)
            if universe:
                q = q.where(CompareRun.universe == universe)
            row = s.execute(q.order_by(CompareRun.created_at.desc(), CompareRun.run_id.desc())
                            .limit(1)).scalar_one_or_none()
        if row is None:
            what = f"comparison run {run_id!r}" if run_id else "comparison run"
            raise TzeroError(f"no {what} stored; run `tzero compare --universe NAME` first")
        return json.loads(row.result_json)


def stock_ab(home: Path, result: dict, ts_code: str, models: list[str] | None = None) -> dict:
    """Per-stock A/B of a run's rows on one sample stock: hit rate, MSE and P&L curves.

    For each row with a return forecast (``expected``) of ``ts_code``:
    direction accuracy (non-zero forecasts only) and MSE against the realised
    return over the row's horizon, and a long/flat curve (hold the stock over
    the next session when the forecast is > 0; the running sum of those daily
    returns, gross of costs, decimal). Realised
    returns come from the stored scores' own dates and the store is not read:
    the curve uses the ``realised`` column saved with the run.

    Raises:
        TzeroError: ``ts_code`` not in the run's sample, or no stored scores.
    """
    sample = result["settings"]["sample"]
    if ts_code not in sample:
        raise TzeroError(f"{ts_code} is not in run {result['run_id']}'s sample; pick one of "
                         f"{', '.join(sample[:10])}{' …' if len(sample) > 10 else ''}")
    path = scores_path(home, result["run_id"])
    if not path.exists():
        raise TzeroError(f"run {result['run_id']} has no stored sample scores ({path})")
    x = pd.read_parquet(path, filters=[("ts_code", "==", ts_code)])
    real = x.loc[x["column"] == "realised"].set_index("as_of")["value"]
    nxt_all = x.loc[x["column"] == "next_return"].set_index("as_of")["value"]
    out = {"ts_code": ts_code, "run_id": result["run_id"], "models": []}
    for name, g in x.loc[x["column"] == "expected"].groupby("model", sort=True):
        if models and name not in models:
            continue
        f = g.set_index("as_of")["value"]
        y = real.reindex(f.index)
        ok = f.notna() & y.notna()
        moved = ok & (y != 0) & (f != 0)          # a zero forecast calls no direction
        acc = float((np.sign(f[moved]) == np.sign(y[moved])).mean()) if moved.any() else None
        mse = float(((f[ok] - y[ok]) ** 2).mean()) if ok.any() else None
        nxt = nxt_all.reindex(f.index)
        pnl = (nxt.where(f > 0, 0.0)).fillna(0.0).cumsum()
        out["models"].append({"name": name, "direction_accuracy": acc, "mse": mse,
                              "n": int(ok.sum()), "dates": [str(pd.Timestamp(d).date())
                                                            for d in pnl.index],
                              "cum_return": [round(float(v), 6) for v in pnl.to_numpy()]})
    return json_safe(out)
