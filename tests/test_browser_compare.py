"""The /compare web page in headless Chromium against the real service (spec 003 §3).

The session fixture ``compare_home`` stores one real ``tzero compare`` run (models
``tcn``, ``arima`` and the baselines) in a tmp ``TZERO_HOME``; the FastAPI app is
served on it by uvicorn on 127.0.0.1 and the page is driven like a user would:
the table has one row per result row, sorts on a header click (nulls last), the
cumulative Rank IC, equity and robustness charts hold drawn points, every verdict
is shown, and the A/B section compares two models, two runs and one sample stock.
A second, cheap test opens the page on an empty home (the empty state).

Debian's Chromium (``/usr/bin/chromium``) is used, never a downloaded browser;
without it the tests skip, or fail when ``CI`` is set (see ``test_browser``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _free_port, _need, _points, _shot

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


@pytest.fixture(scope="module")
def sync_playwright():
    _need(CHROMIUM.is_file(), f"no Chromium at {CHROMIUM}: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "the playwright package is missing: pip install -e '.[dev]'")
    return sync_playwright


@contextmanager
def _serve(home: Path, **overrides) -> Iterator[str]:
    """The real service (no API token) on ``home`` in a background uvicorn; yields its base URL."""
    import uvicorn

    from tzero.service.app import STATIC_DIR, create_app
    from tzero.settings import get_settings

    if not (STATIC_DIR / "vendor" / "echarts.min.js").is_file():
        pytest.fail(f"{STATIC_DIR / 'vendor' / 'echarts.min.js'} is missing: run make install")
    settings = dataclasses.replace(get_settings(home=home), api_token=None, **overrides)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                        log_level="warning", lifespan="on"))
    th = threading.Thread(target=srv.run, name="uvicorn-compare", daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if not th.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 20 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        th.join(10)


@contextmanager
def _page(sync_playwright, server: str):
    """A Chromium page and what it saw: page errors and any request leaving the test server."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 950})
            page.set_default_timeout(30_000)
            seen: dict[str, list[str]] = {"errors": [], "outside": []}
            page.on("pageerror", lambda e: seen["errors"].append(f"pageerror: {e}"))
            page.on("request", lambda r: None if r.url.startswith((server, "data:"))
                    else seen["outside"].append(r.url))
            yield page, seen
        finally:
            browser.close()


def _column(page, key: str) -> list[float | None]:
    """The raw values (``data-value``) of one column of ``#compare-table``, top to bottom."""
    vals = page.locator(f"#compare-table tbody td[data-key='{key}']").evaluate_all(
        "(tds) => tds.map((td) => td.dataset.value)")
    return [float(v) if v not in ("", None) else None for v in vals]


def _sorted_nulls_last(vals: list[float | None], descending: bool) -> bool:
    nums = [v for v in vals if v is not None]
    return (vals[:len(nums)] == nums  # every null after every number
            and nums == sorted(nums, reverse=descending))


@pytest.mark.data
def test_compare_page_table_charts_verdicts_ab(compare_home, sync_playwright) -> None:
    t0 = time.monotonic()
    ARTIFACTS.mkdir(exist_ok=True)
    rows = compare_home.result["rows"]
    names = [r["name"] for r in rows]
    with _serve(compare_home.home) as server, _page(sync_playwright, server) as (page, seen):
        page.goto(server + "/compare")
        assert page.evaluate("typeof window.echarts") == "object", "ECharts did not load"
        page.wait_for_selector("#msg.ok, #msg.error")
        assert "error" not in page.get_attribute("#msg", "class"), page.inner_text("#msg")

        # ---- header and the table: one row per result row, in the result's order
        assert compare_home.result["universe"] in page.inner_text("#run-meta")
        assert page.locator("#run-notes li").count() == len(compare_home.result["notes"])
        got = page.locator("#compare-table tbody tr").evaluate_all("(t) => t.map((r) => r.dataset.name)")
        assert got == names
        assert "Rank IC" in page.inner_text("#compare-table th[data-key='rank_ic']")
        tcn = page.locator("#compare-table tr[data-name='tcn'] td[data-key='rank_ic']").inner_text()
        assert tcn == f"{rows[names.index('tcn')]['metrics']['rank_ic']:.4f}"
        ex = page.locator("#compare-table tr[data-name='tcn'] td[data-key='excess_main']").inner_text()
        assert ex.endswith("%") and ex[0] in "+-", ex

        # ---- sort by Rank IC: descending, then ascending; the zero baseline (no ranking) last
        page.click("#compare-table th[data-key='rank_ic']")
        assert page.locator("#compare-table th.sorted-desc[data-key='rank_ic']").count() == 1
        desc = _column(page, "rank_ic")
        assert _sorted_nulls_last(desc, descending=True), desc
        assert None in desc and desc[-1] is None
        want = sorted((r for r in rows if r["metrics"]["rank_ic"] is not None),
                      key=lambda r: -r["metrics"]["rank_ic"])
        order = page.locator("#compare-table tbody tr").evaluate_all("(t) => t.map((r) => r.dataset.name)")
        assert order[:len(want)] == [r["name"] for r in want]
        page.click("#compare-table th[data-key='rank_ic']")
        assert _sorted_nulls_last(_column(page, "rank_ic"), descending=False)

        # ---- charts: every ranking row's cum Rank IC and equity, the benchmarks, the heat map
        ranked = [r for r in rows if r.get("curves", {}).get("cum_rank_ic")]
        assert ranked
        for i in range(len(ranked)):
            assert _points(page, "cumRankIc", i) > 0, f"cumRankIc series {i}"
            assert _points(page, "equity", i) > 0, f"equity series {i}"
        n_eq = page.evaluate("window.tzeroCharts.equity.getOption().series.length")
        assert n_eq == len(ranked) + 2
        assert _points(page, "equity", n_eq - 2) > 0 and _points(page, "equity", n_eq - 1) > 0
        cells = sum(1 for r in rows for c in r["robustness"] if c["excess_annual"] is not None)
        assert _points(page, "heat", 0) == cells > 0
        assert "excess return / yr" in page.evaluate(
            "JSON.stringify(window.tzeroCharts.heat.getOption().visualMap)")

        # ---- verdicts: each row's status in the table badge and in the verdict list
        for r in rows:
            status = r["verdict"]["status"]
            tr = f"#compare-table tr[data-name='{r['name']}']"
            assert page.inner_text(f"{tr} td[data-key='verdict'] .verdict") == status
            item = page.locator(f"#verdicts li[data-name='{r['name']}']")
            assert item.locator(".verdict").first.inner_text() == status
            for reason in r["verdict"]["reasons"]:
                assert reason in item.inner_text()
            if r.get("timing"):          # the timing family's verdict, in the table and the list
                t = r["timing"]["verdict"]["status"]
                assert page.inner_text(f"{tr} td[data-key='timing_verdict'] .verdict") == t
                assert "timing:" in item.inner_text()
        page.wait_for_timeout(200)
        _shot(page, "browser-compare.png")

        # ---- A/B two models: tcn vs momentum side by side, overlaid curves
        page.select_option("#ab-a", "tcn")
        page.select_option("#ab-b", "momentum")
        page.wait_for_function("() => document.querySelector('#ab-table thead').textContent.includes('momentum')")
        head = page.inner_text("#ab-table thead")
        assert "tcn" in head and "momentum" in head and "B − A" in head
        ab_ic = page.locator("#ab-table tr[data-key='rank_ic'] td").all_inner_texts()
        mom = rows[names.index("momentum")]["metrics"]["rank_ic"]
        assert ab_ic[:2] == [tcn, f"{mom:.4f}"], ab_ic
        for i in range(4):   # A and B cum Rank IC, A and B equity
            assert _points(page, "abCurves", i) > 0, f"abCurves series {i}"

        # ---- A/B two runs (only one is stored: the run against itself)
        page.select_option("#ab-mode", "runs")
        page.wait_for_function(f"() => document.querySelectorAll('#ab-runs-table tbody tr').length === {len(rows)}")
        assert "CSI_300" in page.inner_text("#ab-run-table thead")

        # ---- A/B one stock of the sample: every row's long/flat curve and hit rate
        sample = compare_home.result["settings"]["sample"]
        code = "600519.SH" if "600519.SH" in sample else sample[-1]
        page.select_option("#ab-mode", "stock")
        assert page.locator("#ab-stock option").count() == len(sample)
        page.select_option("#ab-stock", code)
        page.wait_for_selector(f"#ab-stock-table[data-code='{code}'] tbody tr")
        drawn = page.locator("#ab-stock-table tbody tr").evaluate_all("(t) => t.map((r) => r.dataset.name)")
        assert {"tcn", "arima"} <= set(drawn), drawn
        for i in range(len(drawn)):
            assert _points(page, "stockAb", i) > 0, f"stockAb series {i}"
        assert page.locator("#ab-stock-table tbody tr[data-name='arima'] td").first.inner_text().endswith("%")
        page.wait_for_timeout(200)
        _shot(page, "browser-compare-ab.png")
        assert not seen["outside"], f"requests outside the test server: {seen['outside']}"
        assert not seen["errors"], seen["errors"]
    assert time.monotonic() - t0 < 90, f"browser test took {time.monotonic() - t0:.0f} s"


def test_compare_page_empty_state(tmp_path: Path, sync_playwright) -> None:
    with _serve(tmp_path / "home", db_url=None) as server, _page(sync_playwright, server) as (page, seen):
        page.goto(server + "/compare")
        page.wait_for_selector("#empty:not(.hidden)")
        text = page.inner_text("#empty")
        assert "no comparison run stored" in text
        assert "tzero compare --universe CSI_300 --fast" in text
        assert page.locator("#content.hidden").count() == 1
        assert not seen["outside"] and not seen["errors"], seen
