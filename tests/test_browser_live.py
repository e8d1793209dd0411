"""The live board (盘中看板) in headless Chromium while a real replay runs (issue 13).

The real service runs on a tmp ``TZERO_HOME`` holding 600009.SH's real minute
bars; the page opens on the live tab (an empty board, connected to
``/api/live/stream``); then ``tzero watch --replay 2020-04-01`` runs in another
thread with a paper run open, as it would in another process. The board must
update as the signals arrive, without a reload: the holding's row appears, its
bar time and signal count advance to 15:00 and 48, the watch line says
finished, and the paper table shows the run's orders. A screenshot is saved
under ``test-artifacts/``.

Debian's Chromium (``/usr/bin/chromium``) is used, never a downloaded browser;
without it the test skips, or fails when ``CI`` is set (see ``test_browser``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.live_server import REPLAY_CODE, minute_home, serve, start_replay
from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _need, _shot

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow, pytest.mark.data]


@pytest.fixture(scope="module")
def sync_playwright():
    _need(CHROMIUM.is_file(), f"no Chromium at {CHROMIUM}: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "the playwright package is missing: pip install -e '.[dev]'")
    return sync_playwright


def _state(page) -> dict:
    return page.evaluate("""() => { const s = window.tzeroLive.state;
        return {events: s.events, signals: s.signals, order: s.order,
                counts: s.counts, watch: s.watch,
                bar: s.order.length ? s.rows[s.order[0]].bar_time : null}; }""")


def test_live_board_updates_as_signals_arrive(data_dir: Path, tmp_path: Path, sync_playwright) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    home = minute_home(data_dir, tmp_path / "home")
    with serve(home) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 950})
            page.set_default_timeout(30_000)
            errors: list[str] = []
            outside: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: None if r.url.startswith((base, "data:"))
                    else outside.append(r.url))
            page.goto(f"{base}/#live")
            page.wait_for_selector("#live-conn:has-text('connected')")
            assert page.is_visible("#tab-live")
            page.wait_for_selector("#live-table tbody td:has-text('no signals yet')")
            assert "no watch yet" in page.inner_text("#live-watch")

            th, out = start_replay(home)
            # the first signal appears without a reload
            page.wait_for_selector(f"#live-table tbody tr[data-ts-code='{REPLAY_CODE}']",
                                   timeout=120_000)
            first = _state(page)
            assert first["order"] == [REPLAY_CODE] and first["watch"]["status"] == "running"
            th.join(240)
            assert "summary" in out, out.get("error")
            page.wait_for_function("() => window.tzeroLive.state.watch && "
                                   "window.tzeroLive.state.watch.status === 'finished' && "
                                   "window.tzeroLive.state.signals >= 48", timeout=30_000)
            last = _state(page)
            assert last["counts"][REPLAY_CODE] == 48 > first["counts"][REPLAY_CODE]
            assert last["signals"] == 48 and last["bar"] == "2020-04-01 15:00:00"
            assert last["events"] > first["events"]
            row = page.inner_text(f"#live-table tbody tr[data-ts-code='{REPLAY_CODE}']")
            assert "2020-04-01 15:00" in row and "48" in row
            assert "finished" in page.inner_text("#live-watch")
            assert page.is_hidden("#live-stale")
            page.wait_for_selector(f"#paper-table tbody tr[data-run-id='{out['paper_run']}']")
            prow = page.inner_text(f"#paper-table tbody tr[data-run-id='{out['paper_run']}']")
            assert "arima-z2.0" in prow and "running" in prow
            assert "arima-z2.0" in page.inner_text("#paper-gate-table")
            _shot(page, "live-board.png")
            assert not errors, errors
            assert not outside, outside
        finally:
            browser.close()
