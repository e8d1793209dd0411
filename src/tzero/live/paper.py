"""Paper trading on the live loop's signals (issue 13; spec 003 §8: paper runs before real money).

A paper run trades one T+0 research variant (:data:`tzero.research.t0.T0_VARIANTS`,
default ``combined``) on the signals :mod:`tzero.live.watch` emits for its
symbols. At each bar's close the variant's action (:func:`tzero.research.t0.t0_actions`
on that bar's forecast row) becomes an order (``paper_order``, status ``pending``);
the fills come from the backtest's own simulator (:func:`tzero.backtest.t0.simulate_t0`:
next-bar open plus slippage, commission with its minimum, stamp duty and
transfer fee by date, lots, T+1 sellable shares, price limits, one leg per
round trip, the open leg restored by the close) re-run on the run's bars so far
with the actions so far. The simulator is causal, so an order placed at bar i
is decided when bar i+1 arrives: ``filled`` with its ``paper_fill`` (price CNY
per share, shares, fees CNY), or ``rejected`` with the simulator's reason. A
recorded fill never changes afterwards (checked: a mismatch raises).

Every call writes in one transaction, and the run's state lives in the app
store only (orders and the latest summary), so a restarted loop continues the
same run.

The paper gate (spec 003 §8): a variant is ``ready`` for real money only after
two paper samples (stopped runs of that variant) whose bar spans do not overlap
and that each pass the research gates (:func:`tzero.backtest.gates.judge` on the
sample's metrics, the same yardstick as the research); a short sample fails with
the gate's own reason (too few trades), which is the honest answer.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tzero.backtest.costs import CostModel
from tzero.backtest.gates import judge
from tzero.backtest.metrics import performance
from tzero.backtest.t0 import REJECT_REASONS, T0Config, T0Result, simulate_t0
from tzero.data.appdb import PaperFill, PaperOrder, PaperRun
from tzero.data.model_runs import json_safe
from tzero.errors import TzeroError
from tzero.market.sessions import session_stamps
from tzero.registry.versions import now as utc_now
from tzero.research.t0 import BASE_VALUE_CNY, T0_VARIANTS, T0Variant, t0_actions, t0_config
from tzero.signals.signal import Signal

#: The variant a paper run trades unless told otherwise.
DEFAULT_RULE = "combined"
#: Samples a variant needs (non-overlapping, each passing the gates) before it is ready.
SAMPLES_NEEDED = 2
_VARIANTS: dict[str, T0Variant] = {v.name: v for v in T0_VARIANTS}


class PaperError(TzeroError):
    """A paper-trading request that cannot be carried out (unknown run or rule, nothing running)."""


def rules() -> list[str]:
    """The variants a paper run may trade: the names of :data:`tzero.research.t0.T0_VARIANTS`."""
    return list(_VARIANTS)


def _json(obj) -> str:
    return json.dumps(json_safe(obj), ensure_ascii=False, allow_nan=False, sort_keys=True)


def start_run(Session_: sessionmaker, *, name: str, symbols: list[str], rule: str = DEFAULT_RULE,
              config: dict | None = None, costs: CostModel | None = None) -> str:
    """Open a paper run of variant ``rule`` on ``symbols``; the loop's next signals trade it.

    Args:
        Session_: app-store sessions.
        name: a label for the run (shown by ``tzero paper status``).
        symbols: ``ts_code`` of the holdings it trades.
        rule: a variant name of :func:`rules` (default ``combined``).
        config: ``base_value_cny`` (CNY value of the base position at the first
            bar's open, default :data:`tzero.research.t0.BASE_VALUE_CNY`).
        costs: the cost model (default :class:`CostModel()`; the CLI passes
            ``CostModel.from_settings``).

    Returns:
        The run id (``paper-<UTC stamp>-<hex>``).

    Raises:
        PaperError: unknown rule, no symbols, or a non-positive base value.
    """
    if rule not in _VARIANTS:
        raise PaperError(f"unknown paper rule {rule!r}: expected one of {', '.join(rules())}")
    if not symbols:
        raise PaperError("a paper run needs at least one symbol (--symbols)")
    cfg = {"base_value_cny": BASE_VALUE_CNY, **(config or {})}
    if not float(cfg["base_value_cny"]) > 0:
        raise PaperError(f"base_value_cny must be a positive CNY value, got {cfg['base_value_cny']!r}")
    cfg["costs"] = asdict(costs or CostModel())
    cfg["params"] = dict(_VARIANTS[rule].params)
    now = utc_now()
    run_id = f"paper-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    with Session_() as s, s.begin():
        s.add(PaperRun(run_id=run_id, name=name[:64], rule=rule, status="running",
                       symbols_json=_json(list(symbols)), config_json=_json(cfg), started_at=now))
    return run_id


def _run(s: Session, run_id: str | None, *, running: bool = False) -> PaperRun:
    if run_id is None:
        q = select(PaperRun).order_by(PaperRun.started_at.desc())
        if running:
            q = q.where(PaperRun.status == "running")
        row = s.scalars(q.limit(1)).first()
        if row is None:
            raise PaperError("no running paper run: start one with `tzero paper start --symbols …`"
                             if running else "no paper run yet: start one with `tzero paper start`")
        return row
    row = s.get(PaperRun, run_id)
    if row is None:
        raise PaperError(f"no paper run {run_id!r}: `tzero paper status` lists them")
    return row


def stop_run(Session_: sessionmaker, run_id: str | None = None) -> dict:
    """Stop a running paper run (default the newest running one) and store its report.

    Raises:
        PaperError: unknown run id, or no running run.
    """
    with Session_() as s, s.begin():
        run = _run(s, run_id, running=True)
        if run.status != "running":
            raise PaperError(f"paper run {run.run_id} is already {run.status}")
        run.status = "stopped"
        run.stopped_at = utc_now()
        rid = run.run_id
    return report(Session_, rid)


def _config(run: PaperRun) -> tuple[T0Variant, CostModel, float]:
    cfg = json.loads(run.config_json)
    variant = T0Variant(run.rule, _VARIANTS[run.rule].rule, dict(cfg.get("params") or {}))
    return variant, CostModel(**cfg.get("costs", {})), float(cfg["base_value_cny"])


def _t0_config(ts_code: str, price: float, variant: T0Variant, costs: CostModel,
               base_value: float) -> T0Config:
    """:func:`tzero.research.t0.t0_config` scaled to the run's base value (same lot rounding)."""
    cfg = t0_config(ts_code, price, variant, costs)
    scale = base_value / BASE_VALUE_CNY
    if scale == 1.0:
        return cfg
    base = max(int(base_value / price / 100) * 100, 300)
    leg = max(int(cfg.leg_shares * scale / 100) * 100, 200)
    return T0Config(base_shares=base, leg_shares=leg, max_round_trips=cfg.max_round_trips,
                    costs=costs)


def _reason(sig: Signal, side: str) -> str:
    er, pu = sig.expected_return, sig.prob_up
    return (f"{side} a leg at the close: plan {sig.suggested_position_change:+.2f} "
            f"({sig.t0_intensity}), E(r) {er * 100:+.2f}%, P(up) {pu * 100:.1f}%"
            + (f"; {sig.plan_reason}" if sig.plan_reason else ""))


def _running_for(s: Session, ts_code: str) -> list[PaperRun]:
    rows = s.scalars(select(PaperRun).where(PaperRun.status == "running")).all()
    return [r for r in rows if ts_code in json.loads(r.symbols_json)]


def on_signal(Session_: sessionmaker, *, ts_code: str, bars: pd.DataFrame, forecast: dict,
              signal: Signal, signal_id: int | None, model_versions: dict[str, str],
              freq: str = "5m") -> list[dict]:
    """Trade one emitted signal on every running paper run that holds ``ts_code``.

    Args:
        Session_: app-store sessions.
        ts_code: the holding.
        bars: its ``freq`` Bars (unadjusted CNY, shares) of the watched sessions up to and
            including the signal's bar (the last row).
        forecast: that bar's forecast row (columns of
            :data:`tzero.signals.intraday.FORECAST_COLUMNS`).
        signal: the Signal built from it (for the order's reason).
        signal_id: its ``live_signal`` row id.
        model_versions: model → version id behind the signal.
        freq: the bars' frequency (``5m`` …): where the session of the last bar ends,
            so the simulator's restore window is the session's, not the data's.

    Returns:
        The orders placed at this bar (``run_id, ts_code, placed_at, side, shares``);
        [] when no running run holds ``ts_code`` (then nothing is written).

    Raises:
        ValueError: ``bars`` is empty or its last bar is not the forecast's.
    """
    if bars.empty:
        raise ValueError(f"on_signal({ts_code}): no bars")
    t = pd.Timestamp(bars["trade_time"].iloc[-1])
    if "trade_time" in forecast and pd.Timestamp(forecast["trade_time"]) != t:
        raise ValueError(f"on_signal({ts_code}): the forecast is for {forecast['trade_time']}, "
                         f"the last bar is {t}")
    placed: list[dict] = []
    with Session_() as s, s.begin():
        for run in _running_for(s, ts_code):
            placed += _step(s, run, ts_code, bars, forecast, signal, signal_id, model_versions, t,
                            freq)
    return placed


def _orders(s: Session, run_id: str, ts_code: str) -> list[PaperOrder]:
    return list(s.scalars(select(PaperOrder).where(PaperOrder.run_id == run_id,
                                                   PaperOrder.ts_code == ts_code)
                          .order_by(PaperOrder.placed_at)).all())


def _step(s: Session, run: PaperRun, ts_code: str, bars: pd.DataFrame, forecast: dict,
          sig: Signal, signal_id: int | None, versions: dict[str, str], t: pd.Timestamp,
          freq: str) -> list[dict]:
    variant, costs, base_value = _config(run)
    if run.first_bar is None:
        run.first_bar = t.to_pydatetime()
    b = bars.loc[pd.DatetimeIndex(bars["trade_time"]) >= pd.Timestamp(run.first_bar)]
    b = b.reset_index(drop=True)
    fc = pd.DataFrame([{**forecast, "trade_time": t}])
    # this bar's action: the rule on its forecast row, with the day's bars for the rule's context
    fc_all = b[["trade_time"]].merge(fc.drop(columns=["ts_code"], errors="ignore"),
                                     on="trade_time", how="left")
    act = int(t0_actions(fc_all, b, variant)[-1])
    orders = _orders(s, run.run_id, ts_code)
    placed: list[dict] = []
    if act != 0 and not any(pd.Timestamp(o.placed_at) == t for o in orders):
        side = "buy" if act > 0 else "sell"
        o = PaperOrder(run_id=run.run_id, ts_code=ts_code, signal_id=signal_id,
                       placed_at=t.to_pydatetime(), side=side, shares=0, status="pending",
                       reason=_reason(sig, side), model_versions_json=_json(versions))
        s.add(o)
        s.flush()
        orders.append(o)
        placed.append({"run_id": run.run_id, "ts_code": ts_code, "placed_at": str(t), "side": side})
    res, res_before = _simulate(b, orders, variant, costs, base_value, freq)
    _settle(s, run, ts_code, orders, res, res_before, t)
    for p in placed:  # the leg size asked for; the fill (next bar) may round it to the lot
        o = next(o for o in orders if str(pd.Timestamp(o.placed_at)) == p["placed_at"])
        if o.status == "pending":
            o.shares = _leg_shares(b, variant, costs, base_value)
        p["shares"] = o.shares
    run.last_bar = t.to_pydatetime()
    run.summary_json = _json(_summary(s, run, res_of={ts_code: res}))
    return placed


def _leg_shares(b: pd.DataFrame, variant: T0Variant, costs: CostModel, base_value: float) -> int:
    cfg = _t0_config(str(b["ts_code"].iloc[0]), float(b["open"].iloc[0]), variant, costs, base_value)
    return int(cfg.leg_shares)


def _actions(b: pd.DataFrame, orders: list[PaperOrder]) -> np.ndarray:
    """The run's actions aligned to its bars, from the orders placed by signals."""
    pos = {pd.Timestamp(t): i for i, t in enumerate(b["trade_time"])}
    out = np.zeros(len(b), np.int8)
    for o in orders:
        if o.signal_id is None and o.reason.startswith("restore"):
            continue
        i = pos.get(pd.Timestamp(o.placed_at))
        if i is not None:
            out[i] = 1 if o.side == "buy" else -1
    return out


def _session_bars(times: pd.Series, freq: str) -> int:
    """Bars the last day's session will have: those given plus the session's stamps after
    the last one (a bar skipped earlier for no trading stays skipped)."""
    t = pd.DatetimeIndex(times)
    today = t[t.normalize() == t[-1].normalize()]
    return len(today) + int((session_stamps(t[-1], freq) > t[-1]).sum())


def _simulate(b: pd.DataFrame, orders: list[PaperOrder], variant: T0Variant, costs: CostModel,
              base_value: float, freq: str) -> tuple[T0Result, T0Result | None]:
    """The simulator on the run's bars so far, and on the bars before the last one (whose
    rejection counts, compared, name why an order decided at this bar was refused). The
    last day is in progress: its session end comes from the calendar (``last_day_bars``)."""
    cfg = _t0_config(str(b["ts_code"].iloc[0]), float(b["open"].iloc[0]), variant, costs, base_value)
    acts = _actions(b, orders)
    res = simulate_t0(b, acts, cfg, last_day_bars=_session_bars(b["trade_time"], freq))
    before = None
    if len(b) > 1:
        prev = b.iloc[:-1]
        same_day = pd.Timestamp(prev["trade_time"].iloc[-1]).normalize() == \
            pd.Timestamp(b["trade_time"].iloc[-1]).normalize()
        before = simulate_t0(prev, acts[:-1], cfg,
                             last_day_bars=_session_bars(prev["trade_time"], freq) if same_day else None)
    return res, before


def _settle(s: Session, run: PaperRun, ts_code: str, orders: list[PaperOrder], res: T0Result,
            before: T0Result | None, t: pd.Timestamp) -> None:
    """Write the fills the simulator made (new ones only) and decide the pending orders."""
    fills = {int(f.order_id): f for f in s.scalars(select(PaperFill).where(
        PaperFill.run_id == run.run_id, PaperFill.ts_code == ts_code)).all()}
    by_time = {(pd.Timestamp(o.placed_at), o.side): o for o in orders}
    for tr in res.trades.itertuples(index=False):
        sig_t, fill_t = pd.Timestamp(tr.signal_time), pd.Timestamp(tr.fill_time)
        o = by_time.get((sig_t, tr.side))
        if o is None:  # the simulator's own order: the open leg restored by the close
            o = PaperOrder(run_id=run.run_id, ts_code=ts_code, signal_id=None,
                           placed_at=sig_t.to_pydatetime(), side=tr.side, shares=int(tr.shares),
                           status="pending", reason=f"restore the base position ({tr.leg} leg)",
                           model_versions_json="{}")
            s.add(o)
            s.flush()
            orders.append(o)
            by_time[(sig_t, tr.side)] = o
        f = fills.get(int(o.id))
        if f is not None:
            if (pd.Timestamp(f.fill_time), round(f.price, 6), f.shares) != \
                    (fill_t, round(float(tr.price), 6), int(tr.shares)):
                raise RuntimeError(f"paper run {run.run_id}: the fill of order {o.id} changed "
                                   "as later bars arrived; the simulator is no longer causal")
            continue
        if o.status == "rejected":
            raise RuntimeError(f"paper run {run.run_id}: order {o.id} was refused, then filled "
                               "as later bars arrived; the simulator is no longer causal")
        o.status, o.shares = "filled", int(tr.shares)
        s.add(PaperFill(order_id=o.id, run_id=run.run_id, ts_code=ts_code,
                        fill_time=fill_t.to_pydatetime(), side=tr.side, price=float(tr.price),
                        shares=int(tr.shares), fees=float(tr.fees)))
    decided, at_fill = _refusals_at_bar(res, before)
    for o in orders:
        if o.status != "pending":
            continue
        when = pd.Timestamp(o.placed_at)
        if when < t:  # due at this bar's open and not filled
            o.status = "rejected"
            o.reason += "; refused: " + (at_fill or "the simulator restored the base position "
                                         "instead (restore window)")
        elif when == t and decided and o.signal_id is not None:
            o.status = "rejected"
            o.reason += "; refused: " + decided


#: Refusals the simulator makes when it decides a bar's action, and when it fills at the next open.
_AT_DECISION = ("no_sellable", "max_round_trips", "last_bar", "restore_window", "same_direction")
_AT_FILL = ("limit_up", "limit_down", "restore_limit_up", "restore_limit_down")


def _refusals_at_bar(res: T0Result, before: T0Result | None) -> tuple[str, str]:
    """The simulator's refusals while it processed the newest bar (the counts of the run on
    all bars minus those without it): those of the decision at its close (the order placed
    there) and those of the fill at its open (the order placed a bar before), as text."""
    old = before.rejected if before is not None else dict.fromkeys(REJECT_REASONS, 0)

    def new(keys: tuple[str, ...]) -> str:
        return ", ".join(k.replace("_", " ") for k in keys
                         if res.rejected.get(k, 0) > old.get(k, 0))

    return new(_AT_DECISION), new(_AT_FILL)


def _metrics(res: T0Result, base_value: float) -> dict:
    """The research yardstick (:func:`tzero.backtest.metrics.performance`) of one sample:
    daily T+0 P&L over the held position's value, round trips as trades."""
    d = res.daily
    base_prev = np.r_[res.base_shares * res.initial_cost, d["hold_equity"].to_numpy(float)[:-1]]
    rets = pd.Series(d["t0_pnl"].to_numpy(float) / base_prev, index=pd.DatetimeIndex(d["trade_date"]))
    m = performance(rets, trades=pd.DataFrame({"pnl": res.round_trip_pnl}),
                    fees=float(d["fees"].sum()), n_trials=len(T0_VARIANTS))
    m["round_trips"] = int(len(res.round_trip_pnl))
    return m


def _summary(s: Session, run: PaperRun, res_of: dict[str, T0Result]) -> dict:
    """The run's summary: per symbol the simulator's headline figures and the sample's metrics
    (kept from earlier calls for the symbols not stepped now)."""
    old = json.loads(run.summary_json) if run.summary_json else {"symbols": {}}
    _, _, base_value = _config(run)
    for code, res in res_of.items():
        sm = res.summary()
        hold_cny = sm["hold_return"] * res.initial_cost * res.base_shares
        old["symbols"][code] = {**sm, "hold_pnl_cny": hold_cny, "base_shares": res.base_shares,
                                "metrics": _metrics(res, base_value)}
    return old


def report(Session_: sessionmaker, run_id: str | None = None) -> dict:
    """One run's paper result: P&L against simply holding, round trips, fees, orders.

    Args:
        run_id: the run (default the newest).

    Returns:
        dict: ``run_id, name, rule, status, symbols, first_bar, last_bar``; ``t0_pnl``
        and ``fees`` (CNY, net T+0 P&L over holding), ``hold_pnl`` (CNY, what holding the
        base positions did), ``excess_return`` (decimal on the base value), ``round_trips``,
        ``orders`` counts by status, ``per_symbol`` (the simulator's summary and metrics),
        ``gate`` (the research gates' verdict on this sample) and ``order_log`` rows.

    Raises:
        PaperError: unknown run id, or no run yet.
    """
    with Session_() as s, s.begin():
        run = _run(s, run_id)
        summ = json.loads(run.summary_json) if run.summary_json else {"symbols": {}}
        orders = list(s.scalars(select(PaperOrder).where(PaperOrder.run_id == run.run_id)
                                .order_by(PaperOrder.placed_at, PaperOrder.ts_code)).all())
        fills = {f.order_id: f for f in s.scalars(select(PaperFill).where(
            PaperFill.run_id == run.run_id)).all()}
        per = summ["symbols"]
        capital = sum(v["initial_cost"] * v["base_shares"] for v in per.values()) or float("nan")
        out = {
            "run_id": run.run_id, "name": run.name, "rule": run.rule, "status": run.status,
            "symbols": json.loads(run.symbols_json),
            "first_bar": _iso(run.first_bar), "last_bar": _iso(run.last_bar),
            "t0_pnl": sum(v["t0_pnl"] for v in per.values()),
            "fees": sum(v["fees"] for v in per.values()),
            "hold_pnl": sum(v["hold_pnl_cny"] for v in per.values()),
            "round_trips": sum(v["round_trips"] for v in per.values()),
            "orders": {st: sum(o.status == st for o in orders)
                       for st in ("filled", "rejected", "pending")},
            "per_symbol": per,
            "order_log": [_order_row(o, fills.get(o.id)) for o in orders],
        }
        out["excess_return"] = out["t0_pnl"] / capital if per else float("nan")
        out["gate"] = _sample_verdict(per)
        if run.status != "running":
            run.summary_json = _json({**summ, "report": {k: out[k] for k in (
                "t0_pnl", "fees", "hold_pnl", "round_trips", "orders", "excess_return", "gate")}})
    return json_safe(out)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else pd.Timestamp(t).isoformat(sep=" ")


def _order_row(o: PaperOrder, f: PaperFill | None) -> dict:
    return {"ts_code": o.ts_code, "placed_at": _iso(o.placed_at), "side": o.side,
            "shares": o.shares, "status": o.status, "reason": o.reason, "signal_id": o.signal_id,
            "fill_time": _iso(f.fill_time) if f else None, "price": f.price if f else None,
            "fees": f.fees if f else None, "model_versions": json.loads(o.model_versions_json)}


def _sample_verdict(per: dict) -> dict:
    """The research gates on one sample: every symbol's metrics must pass (``kept``)."""
    if not per:
        return {"status": "blocked", "reasons": ["no bars traded yet"]}
    worst, reasons = "kept", []
    rank = {"kept": 0, "watch": 1, "blocked": 2}
    for code, v in per.items():
        verdict = judge(v["metrics"])
        if rank[verdict.status] > rank[worst]:
            worst = verdict.status
        reasons += [f"{code}: {r}" for r in verdict.reasons]
    return {"status": worst, "reasons": reasons}


def runs(Session_: sessionmaker) -> list[dict]:
    """Every paper run, newest first: id, name, rule, status, symbols, span, P&L, orders,
    and ``gate`` (the research gates' verdict on the sample so far)."""
    return json_safe([{k: v for k, v in r.items() if k != "verdict"} for r in _run_rows(Session_)])


def _run_rows(Session_: sessionmaker) -> list[dict]:
    """:func:`runs`' rows with each run's whole sample verdict (``verdict``), read once."""
    with Session_() as s:
        rows = s.scalars(select(PaperRun).order_by(PaperRun.started_at.desc())).all()
        out = []
        for r in rows:
            per = (json.loads(r.summary_json) if r.summary_json else {"symbols": {}})["symbols"]
            n = len(s.scalars(select(PaperOrder.id).where(PaperOrder.run_id == r.run_id)).all())
            out.append({"run_id": r.run_id, "name": r.name, "rule": r.rule, "status": r.status,
                        "symbols": json.loads(r.symbols_json), "started_at": _iso(r.started_at),
                        "first_bar": _iso(r.first_bar), "last_bar": _iso(r.last_bar),
                        "t0_pnl": sum(v["t0_pnl"] for v in per.values()),
                        "fees": sum(v["fees"] for v in per.values()), "orders": n})
            out[-1]["verdict"] = _sample_verdict(per)
            out[-1]["gate"] = out[-1]["verdict"]["status"]
    return out


def _overlap(a: dict, b: dict) -> bool:
    return not (a["last_bar"] < b["first_bar"] or b["last_bar"] < a["first_bar"])


def gate_status(Session_: sessionmaker) -> list[dict]:
    """The paper gate per variant (spec 003 §8): where each stands before real money.

    A sample is a stopped run of the variant that traded at least one bar; it passes
    when the research gates keep it (:func:`_sample_verdict`). ``ready`` needs
    :data:`SAMPLES_NEEDED` passing samples whose bar spans do not overlap.

    Returns:
        One dict per variant with at least one run: ``rule``, ``samples`` (``run_id,
        first_bar, last_bar, status, passed, reasons``), ``passing``, ``ready``, ``why``.
    """
    by_rule: dict[str, list[dict]] = {}
    for r in _run_rows(Session_):
        if r["first_bar"] is None:
            continue
        v = r["verdict"]
        by_rule.setdefault(r["rule"], []).append({
            "run_id": r["run_id"], "first_bar": r["first_bar"], "last_bar": r["last_bar"],
            "status": r["status"], "passed": r["status"] == "stopped" and v["status"] == "kept",
            "reasons": v["reasons"]})
    out = []
    for rule, samples in by_rule.items():
        passing = sorted((x for x in samples if x["passed"]), key=lambda x: x["first_bar"])
        chosen: list[dict] = []
        for x in passing:  # greedy by start: the most non-overlapping samples
            if all(not _overlap(x, c) for c in chosen):
                chosen.append(x)
        ready = len(chosen) >= SAMPLES_NEEDED
        if ready:
            why = f"{len(chosen)} non-overlapping paper samples pass the research gates"
        elif len(passing) > len(chosen) or (passing and len(chosen) < len(passing)):
            why = f"{len(chosen)} of {SAMPLES_NEEDED} non-overlapping passing samples (others overlap)"
        else:
            running = sum(x["status"] == "running" for x in samples)
            why = (f"{len(chosen)} of {SAMPLES_NEEDED} passing samples"
                   + (f"; {running} run(s) still running" if running else "")
                   + ("" if passing or not samples else
                      f"; latest: {'; '.join(samples[0]['reasons'][:2]) or 'not stopped yet'}"))
        out.append({"rule": rule, "samples": samples, "passing": len(chosen), "ready": ready,
                    "why": why})
    return json_safe(out)
