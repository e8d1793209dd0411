"""``tzero evaluate --universe``: fit a universe model before the range, score every member, judge.

The model is fitted on data that ends ``gap`` sessions before ``start``
(``gap`` = horizon + 2 ≥ the horizon of every label it trains on, so no
training label reaches into the evaluated range; with ``refit="monthly"`` it
is refitted before each month on data ending ``gap`` sessions before that
month). Then :meth:`Forecaster.predict_history` gives the as-of score of every
member on every session of the range (data ≤ t only), and
:func:`tzero.backtest.xs_eval.evaluate_universe_scores` puts it next to the
momentum, reversal and linear baselines on one yardstick (IC, Rank IC, their
IRs, TopkDropout 50/5 excess return under A-share rules and costs).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import sessionmaker

from tzero.backtest.scores import raw_with_factor
from tzero.backtest.xs_eval import evaluate_universe_scores
from tzero.data.model_runs import json_safe
from tzero.data.store import MarketStore


def evaluate_universe_model(Session_: sessionmaker, store: MarketStore, spec, universe: str,
                            start, end, *, refit: str = "none", fast: bool = True, seed: int = 42,
                            data_dir: Path | None = None, tdx_dir: Path | None = None,
                            progress: Callable[[int, int], None] | None = None) -> dict:
    """Fit ``spec``'s model before ``start``, score the universe on ``[start, end]``, judge it.

    Args:
        spec: a :class:`tzero.models.table.ModelSpec` of a ranking or daily model.
        universe: universe name (``model_universe_config``).
        refit: ``none`` (one fit) or ``monthly``.

    Returns:
        The JSON-safe dict of :func:`evaluate_universe_scores` plus ``model``,
        ``universe`` and ``fits`` (fit end and holdout metrics of each fit).

    Raises:
        ValueError: ``refit`` not ``none``/``monthly``, or an empty range.
        TzeroError: unknown universe. StoreError: no bars.
    """
    from tzero.registry.train import load_universe

    if refit not in ("none", "monthly"):
        raise ValueError(f"--refit must be none or monthly, got {refit!r}")
    data = load_universe(Session_, store, universe, None, None, data_dir, tdx_dir)
    days = pd.DatetimeIndex(sorted(data.panel["trade_time"].unique()))
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    rng = days[(days >= start) & (days <= end)]
    if len(rng) == 0:
        raise ValueError(f"no session between {start.date()} and {end.date()} in the store")
    probe = spec.make(fast=fast, seed=seed)
    gap = probe.horizon + 2
    blocks = [rng] if refit == "none" else [g for _, g in pd.Series(rng).groupby(rng.to_period("M"))]
    scores, fits = [], []
    for i, block in enumerate(blocks):
        block = pd.DatetimeIndex(block)
        pos = int(days.searchsorted(block[0])) - gap
        if pos < probe.min_history:
            raise ValueError(f"--start {block[0].date()} leaves {max(pos, 0)} stored sessions before "
                             f"it (after a {gap}-session gap); {spec.name} needs at least "
                             f"{probe.min_history} to fit: start later")
        fit_end = days[pos]
        model = spec.make(fast=fast, seed=seed)
        train = data.panel.loc[data.panel["trade_time"] <= fit_end]
        kw = {"static": data.static} if spec.scope == "global" else {}
        model.fit(train, universe=data.members.loc[data.members.index <= fit_end], **kw)
        fc = model.predict_history(data.panel, block[0], block[-1])
        fc = fc.loc[fc["step"] == model.horizon]
        col = "score" if "score" in fc.columns else "cum_mean"
        scores.append(fc.pivot(index="as_of", columns="ts_code", values=col))
        fits.append({"fit_end": str(fit_end.date()), "first": str(block[0].date()),
                     "holdout": getattr(model, "metrics_", None)})
        if progress:
            progress(i + 1, len(blocks))
    wide = pd.concat(scores).sort_index()
    wide.index = pd.DatetimeIndex(wide.index).normalize()
    members = data.members.reindex(index=wide.index, columns=wide.columns, fill_value=False)
    wide = wide.where(members.to_numpy(bool))
    codes = sorted(data.members.columns)
    bars = raw_with_factor(store, codes, None, None)
    first_fit = pd.Timestamp(fits[0]["fit_end"])
    res = evaluate_universe_scores(wide, bars, data.members, rng[0], rng[-1], fit_end=first_fit)
    res.update(model=spec.name, universe=universe, refit=refit, fits=fits,
               notes=[*res.get("notes", []), *data.notes,
                      f"model fitted on data ending {first_fit.date()} ({gap} sessions before "
                      f"{rng[0].date()}); scores of members as of each date only",
                      f"score column: {col}"])
    res["settings"] = {**res.get("settings", {}), "start": str(rng[0].date()),
                       "end": str(rng[-1].date()), "fit_end": str(first_fit.date())}
    return json_safe(res)
