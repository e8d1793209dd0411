"""``/api/live`` and ``/api/paper``: the live board, pushed as server-sent events (issue 13).

``tzero watch`` (another process) writes each bar's signals to the app store;
``/api/live/stream`` polls it and pushes what is new to the page
(``text/event-stream``, the HTML standard's server-sent events):

* ``event: board`` — the whole board (:func:`tzero.live.board.board`) when the
  stream opens, and again when a newer watch starts;
* ``event: signal`` — one new signal row, with ``id:`` its ``live_signal`` id,
  so a browser that reconnects sends ``Last-Event-ID`` and gets only what it
  missed;
* ``event: watch`` — the watch's status line changed (running, "data stale
  since …", finished);
* ``event: paper`` — the paper runs changed (a new order or fill);
* ``event: error`` — the app store did not answer this poll (the stream goes on);
* a ``: ping`` comment every 15 s so proxies keep the connection.

``/api/live/board``, ``/api/paper/runs``, ``/api/paper/status`` and
``/api/paper/report`` answer the same data as plain JSON.
"""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from tzero.data.model_runs import json_safe
from tzero.live import board as live_board
from tzero.live import paper
from tzero.service.deps import ServiceState, get_state
from tzero.service.errors import DB_ERRORS

router = APIRouter(tags=["live"])

#: Seconds between two ``: ping`` comments of an idle stream.
PING_S = 15.0


def _sse(event: str, data, event_id: int | None = None) -> str:
    """One server-sent event: ``id``, ``event`` and one ``data`` line of JSON."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(json_safe(data), ensure_ascii=False)}\n\n"


@router.get("/api/live/board")
async def live_board_route(run: str | None = Query(None, max_length=64,
                                                   description="watch run id; default: the newest"),
                           st: ServiceState = Depends(get_state)) -> dict:
    """The live board of one ``tzero watch``: its status line and each holding's newest
    intraday signal (T+0 intensity, plan, direction, P(up), E(r), paper orders).
    ``watch`` is null and ``holdings`` empty when no watch has run."""
    return json_safe(await run_in_threadpool(live_board.board, st.Session, run))


def _paper_key(runs: list[dict]) -> tuple:
    return tuple((r["run_id"], r["status"], r["orders"], r["last_bar"]) for r in runs)


@router.get("/api/live/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def live_stream(request: Request,
                      run: str | None = Query(None, max_length=64,
                                              description="follow this watch run only"),
                      poll_ms: int = Query(500, ge=50, le=10_000,
                                           description="how often the app store is polled"),
                      last_event_id: str | None = Header(None, max_length=20),
                      st: ServiceState = Depends(get_state)) -> StreamingResponse:
    """Server-sent events of the live board (see the module docstring for the events).

    With ``Last-Event-ID`` (a reconnecting browser sends it) the stream starts with the
    signals after that id instead of the whole board.
    """
    resume = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    S = st.Session
    wait = poll_ms / 1000.0
    # read before the stream starts, so an app store that is down answers 503 like any route
    b0 = await run_in_threadpool(live_board.board, S, run)

    async def events():
        b = b0
        last = b["last_id"] if resume is None else resume
        if resume is None:
            yield _sse("board", b, last)
        watch = b["watch"]
        papers = _paper_key(await run_in_threadpool(paper.runs, S))
        pinged = time.monotonic()
        failing = False
        while not await request.is_disconnected():
            try:
                new = await run_in_threadpool(live_board.signals_after, S, last, run)
                w = await run_in_threadpool(live_board.watch_state, S, run)
                pr = await run_in_threadpool(paper.runs, S) if new or watch != w else None
            except DB_ERRORS as exc:
                if not failing:
                    yield _sse("error", {"detail": f"the app store did not answer: "
                                                   f"{type(exc).__name__}; retrying"})
                failing = True
                await asyncio.sleep(max(wait, 1.0))
                continue
            failing = False
            if w is not None and (watch is None or w["run_id"] != watch["run_id"]):
                b = await run_in_threadpool(live_board.board, S, w["run_id"])
                yield _sse("board", b, max(b["last_id"], last))
                last = max(b["last_id"], last)
                new = [r for r in new if r["id"] > last]
            for r in new:
                yield _sse("signal", r, r["id"])
                last = r["id"]
            if w != watch:
                yield _sse("watch", w)
                watch = w
            if pr is not None and _paper_key(pr) != papers:
                papers = _paper_key(pr)
                yield _sse("paper", {"runs": pr})
            if time.monotonic() - pinged > PING_S:
                pinged = time.monotonic()
                yield ": ping\n\n"
            await asyncio.sleep(wait)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/api/paper/runs", tags=["paper"])
async def paper_runs(st: ServiceState = Depends(get_state)) -> list[dict]:
    """Every paper run, newest first: rule, status, symbols, bar span, T+0 P&L and fees (CNY),
    orders, and the research gates' verdict on the sample (empty list when none)."""
    return await run_in_threadpool(paper.runs, st.Session)


@router.get("/api/paper/status", tags=["paper"])
async def paper_status(st: ServiceState = Depends(get_state)) -> dict:
    """The paper gate (spec 003 §8): per variant its samples, how many pass, and whether it is
    ready for real money (two non-overlapping samples that pass the research gates)."""
    def body() -> dict:
        return {"samples_needed": paper.SAMPLES_NEEDED, "gate": paper.gate_status(st.Session)}
    return await run_in_threadpool(body)


@router.get("/api/paper/report", tags=["paper"])
async def paper_report(run: str | None = Query(None, max_length=64,
                                               description="paper run id; default: the newest"),
                       st: ServiceState = Depends(get_state)) -> dict:
    """One paper run: T+0 P&L against holding, fees, round trips, orders and fills.
    400 naming the run when it is unknown or none exists."""
    return await run_in_threadpool(paper.report, st.Session, run)
