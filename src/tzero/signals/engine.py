"""The one serving path: the registry's current versions in, one Signal per holding out.

Used by ``tzero demo``, ``tzero predict`` and ``/api/signals``. Models see
forward-adjusted (qfq) daily bars read from the market store up to the
prediction date; which models vote, their weights and what they need are read
from the model table (:mod:`tzero.models.table`), never from their names.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pandas as pd

from tzero.data.bars import read_bars
from tzero.data.store import MarketStore
from tzero.errors import ModelError, StoreError
from tzero.features.indicators import signal_indicators
from tzero.market import calendar
from tzero.models import table
from tzero.models.base import Forecaster
from tzero.signals.signal import Signal, build_signal

# Ten liquid CSI 300 members across sectors (all have full history in the shared data).
DEFAULT_HOLDINGS = ["600519.SH", "601318.SH", "600036.SH", "000858.SZ", "000333.SZ",
                    "300750.SZ", "601012.SH", "600276.SH", "000001.SZ", "600900.SH"]


def load_panel(store: MarketStore, ts_codes: list[str], end=None, start=None) -> pd.DataFrame:
    """qfq daily bars of the symbols up to ``end`` (inclusive).

    Raises:
        StoreError: a symbol with no bars in the store (names it).
    """
    panel = read_bars(store, ts_codes, "1d", "qfq", start=start, end=end)
    missing = sorted(set(ts_codes) - set(panel["ts_code"]))
    if missing:
        raise StoreError(f"no daily bars in the store for {missing}; ingest them first "
                         f"(`tzero ingest tdx DIR`)")
    return panel


def make_model(name: str, fast: bool = True, seed: int = 42, history: int | None = None) -> Forecaster:
    """A fresh forecaster of the model table with the project defaults.

    Args:
        fast: the quick config (the spec-002 fast CV grid for the LSTM).
        history: per-stock LSTM only: most recent sessions used.

    Raises:
        ModelError: unknown model name.
    """
    return table.get_spec(name).make(fast=fast, seed=seed, history=history)


@dataclass
class ServedSet:
    """The current registry versions that serve the daily Signal.

    Attributes:
        models: model name → version key (ts_code, or universe name for global
            models) → the loaded model (shared; do not mutate).
        versions: model name → key → version id.
        universe: the key of global models (``Settings.universe``).
        data_end: model name → key → last session of the data the version was
            built from (training and gate holdout); a version never serves a
            forecast as of an earlier session (it has seen the outcome).
        unhealthy: model name → key → why its current version could not be
            loaded (a corrupt or missing blob); it does not vote.
    """

    models: dict[str, dict[str, Forecaster]]
    versions: dict[str, dict[str, str]]
    universe: str = "CSI_300"
    data_end: dict[str, dict[str, pd.Timestamp]] = field(default_factory=dict)
    unhealthy: dict[str, dict[str, str]] = field(default_factory=dict)

    def key(self, name: str, code: str) -> str:
        """The version key of model ``name`` for stock ``code`` (the universe for global models)."""
        return self.universe if table.get_spec(name).scope == "global" else code

    def for_code(self, name: str, code: str) -> tuple[Forecaster, str] | None:
        """The model and version id of ``name`` that serves ``code``, or None."""
        key = self.key(name, code)
        m = self.models.get(name, {}).get(key)
        return None if m is None else (m, self.versions[name][key])

    def seen_until(self, name: str, code: str) -> pd.Timestamp | None:
        """Last session the serving version of ``name`` for ``code`` saw (data end), or None."""
        return self.data_end.get(name, {}).get(self.key(name, code))

    def version_ids(self) -> list[str]:
        """Every version id in the set."""
        return sorted(v for by in self.versions.values() for v in by.values())


def load_served(session_factory, codes: list[str], universe: str = "CSI_300",
                names: list[str] | None = None) -> ServedSet:
    """The current version of every voting daily model for ``codes`` (one serving path).

    Reads the registry (:mod:`tzero.registry.versions`): key = ts_code for
    local models, ``universe`` for global ones. A model without a current
    version for a key does not vote there; refused versions are never current;
    a current version whose blob is corrupt is left out and listed in
    ``unhealthy``.

    Raises:
        ModelError: no loadable current version of any model for any of
            ``codes`` (run ``tzero demo`` or ``tzero train`` first).
    """
    from tzero.registry import versions as reg

    names = names or table.names(frequency="daily", votes=True)
    models: dict[str, dict[str, Forecaster]] = {}
    vids: dict[str, dict[str, str]] = {}
    ends: dict[str, dict[str, pd.Timestamp]] = {}
    unhealthy: dict[str, dict[str, str]] = {}
    with session_factory() as s:
        for name in names:
            keys = [universe] if table.get_spec(name).scope == "global" else codes
            for key in keys:
                row = reg.current(s, name, key)
                if row is None:
                    continue
                try:
                    models.setdefault(name, {})[key] = reg.load_model(row)
                except ModelError as exc:   # a corrupt or missing blob: that version cannot vote
                    unhealthy.setdefault(name, {})[key] = str(exc)
                    continue
                vids.setdefault(name, {})[key] = row.version_id
                if row.data_end is not None:
                    ends.setdefault(name, {})[key] = pd.Timestamp(row.data_end)
    models = {n: by for n, by in models.items() if by}
    if not models:
        why = f" ({unhealthy})" if unhealthy else ""
        raise ModelError(f"no current model version for {codes}{why}: run `tzero demo` or "
                         "`tzero train` first (`tzero versions` lists what is stored)")
    return ServedSet(models, vids, universe, ends, unhealthy)


def _bound(served: ServedSet, name: str, code: str) -> tuple[Forecaster, str] | None:
    """The serving model of ``name`` for ``code`` with its required models bound, or None.

    A model that requires others (the table's ``requires``) serves only while
    their current versions are the ones it was fitted on (its
    ``requires_versions_``); a copy is bound, never the cached model.
    """
    got = served.for_code(name, code)
    if got is None:
        return None
    spec = table.get_spec(name)
    if not spec.requires:
        return got
    deps = {r: served.for_code(r, code) for r in spec.requires}
    fitted_on = getattr(got[0], "requires_versions_", {})
    if any(d is None or fitted_on.get(r, d[1]) != d[1] for r, d in deps.items()):
        return None                     # a required model is missing or was replaced: retrain
    model = copy.copy(got[0])
    model.bind({r: d[0] for r, d in deps.items()})  # type: ignore[attr-defined,index]
    return model, got[1]


def _blocked_with_requirements(blocked: dict[str, str] | None) -> dict[str, str]:
    """``blocked`` plus the models that require a blocked one (they read its output)."""
    out = dict(blocked or {})
    for spec in table.specs():
        hit = [r for r in spec.requires if r in out]
        if hit and spec.name not in out:
            out[spec.name] = f"requires {', '.join(hit)}, blocked by the research"
    return out


def needs_cross_section(served: ServedSet) -> bool:
    """True when a served model is ``cross_sectional`` (it must see the universe's session)
    or is the table's ranking model (it ranks the universe)."""
    return any(table.model_class(n).cross_sectional or table.get_spec(n).ranks
               for n in served.models)


def cross_section_panel(session_factory, store: MarketStore, served: ServedSet,
                        as_of, always: bool = False, data_dir=None) -> pd.DataFrame | None:
    """qfq bars of the served universe's members as of ``as_of`` (with window history), or
    None when no served model is ``cross_sectional`` (unless ``always``: the
    explanations of global models use it as SHAP background). ``data_dir``:
    the shared data folder (membership files; ``Settings.data_dir``).

    A cross-sectional model (inter-stock attention, a stock graph) forecasts a
    stock from the whole session it was trained on; serving it one stock at a
    time would be a different model.

    Raises:
        StoreError: no bars for the universe at ``as_of``.
    """
    if not (always and any(table.get_spec(n).scope == "global" for n in served.models)) \
            and not needs_cross_section(served):
        return None
    from tzero.registry.train import load_universe

    day = pd.Timestamp(as_of)
    data = load_universe(session_factory, store, served.universe, start=day, end=day,
                         data_dir=data_dir, with_static=False)
    members = data.members.columns[data.members.iloc[-1].to_numpy(bool)]
    return data.panel.loc[data.panel["ts_code"].isin(members)]


def _cross_forecasts(served: ServedSet, cut: pd.DataFrame, cross_section: pd.DataFrame | None,
                     as_of) -> dict[str, pd.DataFrame]:
    """Forecasts of every ``cross_sectional`` served model on the universe's session plus the
    panel's stocks (one call each); model name → forecast frame (may lack some stocks)."""
    out: dict[str, pd.DataFrame] = {}
    for name, by in served.models.items():
        m = by.get(served.universe)
        if m is None or not type(m).cross_sectional:
            continue
        xs = cut if cross_section is None else pd.concat(
            [cross_section.loc[~cross_section["ts_code"].isin(cut["ts_code"].unique())], cut])
        xs = xs.loc[xs["trade_time"] <= as_of].sort_values(["ts_code", "trade_time"])
        try:
            out[name] = m.predict(xs.reset_index(drop=True), as_of)
        except ModelError:
            continue
    return out


def _rankings(served: ServedSet, cut: pd.DataFrame, cross_section: pd.DataFrame | None,
              as_of, xs_fc: dict[str, pd.DataFrame],
              blocked: dict[str, str] | None) -> dict[str, dict]:
    """ts_code → its row of the ranking view of the served ``ranks`` model (the table's
    DeepAR row) on the universe's session; empty when that model is not served, is
    blocked, or there is no cross-section to rank."""
    from tzero.signals.rank import rank_stocks

    for spec in table.specs():
        m = served.models.get(spec.name, {}).get(served.universe) if spec.ranks else None
        if m is None or spec.name in (blocked or {}) or cross_section is None:
            continue
        fc = xs_fc.get(spec.name)
        if fc is None:
            xs = pd.concat([cross_section.loc[~cross_section["ts_code"].isin(
                cut["ts_code"].unique())], cut])
            xs = xs.loc[xs["trade_time"] <= as_of].sort_values(["ts_code", "trade_time"])
            try:
                fc = m.predict(xs.reset_index(drop=True), as_of)
            except ModelError:
                return {}
        rows = rank_stocks(fc, sorted(cut["ts_code"].unique()))
        pct = rows["risk"].rank(pct=True)
        vid = served.versions[spec.name][served.universe]
        return {r.ts_code: {"model": spec.name, "version_id": vid, "rank": int(r.rank),
                            "of": len(rows), "expected_return": float(r.expected_return),
                            "risk": float(r.risk), "ratio": float(r.ratio),
                            "weight": float(r.weight), "risk_percentile": float(p)}
                for r, p in zip(rows.itertuples(index=False), pct, strict=True)}
    return {}


def predict_signals(panel: pd.DataFrame, served: ServedSet, as_of=None, horizon: int = 5,
                    blocked: dict[str, str] | None = None,
                    skip_uncovered: bool = False,
                    cross_section: pd.DataFrame | None = None) -> list[Signal]:
    """One Signal per symbol of the panel as of a session (default: its last session).

    A model with no current version for a symbol, or that cannot forecast it,
    is left out of that symbol's votes; a symbol no model can forecast raises.
    A model whose training data ends after ``as_of`` is refused (it has seen
    the outcome). Models in ``blocked`` (model → reason, from the research
    gates, :func:`blocked_by_research`) never vote; the signal lists them.
    Every vote names its version id in ``model_versions``. With
    ``skip_uncovered`` a symbol no model covers is left out (the service
    answers for the symbols it can); without, it raises. A ``cross_sectional``
    model forecasts every symbol in one call on ``cross_section`` (the
    universe's members, :func:`cross_section_panel`) plus the panel's symbols;
    without it, on the panel's symbols only. When the table's ranking model
    (``ranks``: DeepAR) serves and a cross-section is given, each signal
    carries the stock's ``ranking`` in the universe and its
    ``suggested_position_change`` is scaled by its forecast-risk percentile.

    Raises:
        CalendarError: ``as_of`` outside the calendar. ModelError: no forecast for a
            symbol, or a model trained past ``as_of``.
    """
    as_of = calendar.previous_session(as_of) if as_of is not None else pd.Timestamp(panel["trade_time"].max())
    cut = panel.loc[panel["trade_time"] <= as_of]
    blocked = _blocked_with_requirements(blocked) if blocked else blocked
    weights = {s.name: s.weight for s in table.specs()}
    xs_fc = _cross_forecasts(served, cut, cross_section, as_of)
    ranks = _rankings(served, cut, cross_section, as_of, xs_fc, blocked)
    out = []
    for code, bars in cut.groupby("ts_code", sort=True):
        fcs, vids = {}, {}
        last = pd.Timestamp(bars["trade_time"].iloc[-1])
        for name in served.models:
            got = _bound(served, name, code)
            if got is None:
                continue
            m, vid = got
            until = max((t for t in (served.seen_until(name, code), m.trained_until(code))
                         if t is not None), default=None)
            if until is not None and until > as_of:   # (a suspended stock's last bar may be earlier)
                raise ModelError(f"{name} for {code} was trained on data to {until.date()}, after "
                                 f"{as_of.date()}: predicting then would use the future; train on "
                                 "data up to that date first")
            if name in xs_fc:
                fc = xs_fc[name].loc[xs_fc[name]["ts_code"] == code].reset_index(drop=True)
            elif type(m).cross_sectional:
                continue                        # it could not forecast the cross-section
            else:
                try:  # one symbol at a time: a model that cannot forecast one keeps its votes
                    fc = m.predict(bars, as_of)
                except ModelError:
                    continue
            if not fc.empty:
                fcs[name], vids[name] = fc, vid
        if not fcs:
            if skip_uncovered:
                continue
            raise ModelError(f"{code}: no trained model covers it; train with --symbols {code}")
        ind_row = signal_indicators(bars.reset_index(drop=True)).iloc[-1]
        ind = {k: float(v) for k, v in ind_row.items() if pd.notna(v)}
        ind["close"] = float(bars["close"].iloc[-1])
        out.append(build_signal(code, last, fcs, {n: v for n, v in vids.items() if n not in (blocked or {})},
                                horizon, ind, blocked=blocked, weights=weights,
                                ranking=ranks.get(str(code))))
    return out


def record_served(session_factory, served: ServedSet, signals: list[Signal]) -> int | None:
    """Write the inference runs of the versions that voted and the signals (spec 000 §6.6).

    One ``model_inference_run`` row per (model, key, version) that served at
    least one of ``signals`` (``n_rows`` = the signals it voted in), and one
    ``quant_unified_signal`` row per signal, in one transaction.

    Returns:
        The id of the last inference run written (the signals reference it), or
        None when no version voted (every model blocked).
    """
    from tzero.data.model_runs import record_inference_run, record_unified_signals

    used: dict[tuple[str, str, str], int] = {}
    for sig in signals:
        for name, vid in sig.model_versions.items():
            k = (name, served.key(name, sig.ts_code), vid)
            used[k] = used.get(k, 0) + 1
    run_id = None
    with session_factory.begin() as s:
        for (name, key, vid), n in sorted(used.items()):
            run_id = record_inference_run(s, model_name=name, model_key=key, version_id=vid,
                                          as_of=pd.Timestamp(signals[0].as_of).date(), n_rows=n)
        record_unified_signals(s, [x.to_dict() for x in signals], run_id)
    return run_id


def blocked_by_research(session_factory) -> dict[str, str]:
    """Models the latest research run blocked (every variant they drive failed a gate).

    Reads ``research_variant`` of the app store (written by ``tzero research
    report``); empty when no research was run.

    Raises:
        StoreError: the app store cannot be read.
    """
    from tzero.backtest.gates import blocked_models

    return blocked_models(session_factory)
