"""Input validation of every route (issue 12 item 20): one line naming the field, no big echo.

Also: one name for a symbol (``ts_code``, with ``symbol`` and ``code`` as
aliases) on every route and in the OpenAPI schema, and ``as_of`` refused after
the last stored bar.
"""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from conftest import AUTH, SYM, service_settings  # tests/service/conftest.py

BIG = "x" * 60_000           # httpx refuses URLs over 64 KiB; bodies get 100 KB below
LAST = "2023-02-24"          # the last daily bar of the test store


def _one_line(r, status: int, words: list[str]) -> str:
    assert r.status_code == status, r.text[:300]
    assert len(r.content) < 1000, f"{len(r.content)} bytes: {r.text[:300]}"
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail, detail
    for w in words:
        assert w in detail, detail
    return detail


@pytest.mark.parametrize(("path", "params", "status", "words"), [
    ("/api/signals/intraday", {"ts_code": "688001.SH", "as_of": "garbage"}, 400, ["as_of", "garbage"]),
    ("/api/signals/intraday", {"ts_code": "688001.SH", "as_of": BIG}, 422, ["as_of", "60000 characters"]),
    ("/api/lstm/predict", {"ts_code": SYM, "as_of": BIG}, 422, ["as_of"]),
    ("/api/kline", {"ts_code": SYM, "start": BIG}, 422, ["start"]),
    ("/api/kline", {"ts_code": BIG}, 422, ["ts_code"]),
    ("/api/signals", {"symbols": BIG}, 422, ["symbols"]),
    ("/api/jobs", {"limit": "abc"}, 422, ["limit", "'abc'"]),
    ("/api/jobs/" + "j" * 5000, {}, 422, ["job_id"]),
    ("/api/lstm/training-spec", {"format": "y" * 5000}, 422, ["format"]),
    ("/api/lstm/plot-data", {"ts_code": SYM, "years": 7}, 422, ["years"]),
    ("/api/kline", {}, 422, ["ts_code", "symbol", "code"]),
    ("/api/kline", {"ts_code": SYM, "symbol": "000001.SZ"}, 422, ["ts_code", "symbol", "twice"]),
    ("/api/lstm/predict", {"symbol": "sh60051"}, 400, ["symbol", "sh60051"]),
    ("/api/lstm/predict", {"ts_code": SYM, "as_of": "2023-03-01"}, 400, ["as_of", LAST, "after"]),
    ("/api/signals", {"as_of": "2023-03-01"}, 400, ["as_of", LAST, "after"]),
    ("/api/signals/600519.SH/explain", {"as_of": "2023-03-01"}, 400, ["as_of", LAST]),
    ("/api/lstm/monitoring", {"as_of": "2023-03-01"}, 400, ["as_of", LAST]),
])
def test_query_errors_are_one_line_naming_the_field(make_client, path, params, status, words) -> None:
    _one_line(make_client().get(path, params=params), status, words)


@pytest.mark.parametrize(("path", "body", "status", "words"), [
    ("/api/lstm/check-triggers", {"as_of": "z" * 100_000}, 422, ["as_of", "100000 characters"]),
    ("/api/lstm/train", {"ts_code": "z" * 100_000}, 422, ["ts_code"]),
    ("/api/lstm/train", {}, 422, ["ts_code", "symbols"]),
    ("/api/lstm/train", {"symbols": [SYM, 5]}, 422, ["symbols[1]"]),
    ("/api/lstm/check-triggers", {"as_of": "2023-03-01"}, 400, ["as_of", LAST, "after"]),
    ("/api/lstm/alerts", {"as_of": "2023-03-01"}, 400, ["as_of", LAST]),
    ("/api/lstm/update-accuracy", {"ts_code": SYM, "as_of_date": "2023-03-01"}, 400, ["as_of_date", LAST]),
    ("/api/lstm/rollback", {"version_id": "v" * 100_000}, 422, ["version_id"]),
])
def test_body_errors_are_one_line_naming_the_field(make_client, path, body, status, words) -> None:
    _one_line(make_client().post(path, json=body, headers=AUTH), status, words)


def test_bad_json_is_one_line(make_client) -> None:
    r = make_client().post("/api/lstm/train", content=b"{" + b"x" * 100_000, headers=AUTH)
    _one_line(r, 422, ["body"])


def test_ts_code_and_its_aliases(make_client) -> None:
    c = make_client()
    want = c.get("/api/kline", params={"ts_code": SYM, "start": "2023-02-20"}).json()
    assert len(want) == 5
    for name in ("symbol", "code"):
        assert c.get("/api/kline", params={name: "600519", "start": "2023-02-20"}).json() == want
    for path in ("/api/lstm/plot-data", "/api/lstm/plot"):
        r = c.get(path, params={"ts_code": SYM})
        assert r.status_code == 404 and "no current version" in r.json()["detail"]
    _one_line(c.get("/api/lstm/versions", params={"ts_code": "zz"}), 400, ["ts_code", "zz"])
    _one_line(c.get("/api/lstm/training-runs", params={"code": "zz"}), 400, ["code", "zz"])
    r = c.get("/api/signals", params={"ts_code": SYM})      # not silently the default holdings
    assert r.status_code == 404 and "['600519.SH']" in r.json()["detail"]
    r = c.get("/api/signals/intraday", params={"ts_code": SYM})
    assert r.status_code == 404 and "ingest" in r.json()["detail"], r.text
    for name in ("ts_code", "symbol", "code"):
        r = c.post("/api/lstm/check-triggers", json={name: "sh600519", "as_of": LAST}, headers=AUTH)
        assert r.status_code == 200 and [t["symbol"] for t in r.json()["triggers"]] == [SYM], r.text


def test_openapi_names_ts_code_everywhere(make_client) -> None:
    spec = make_client().get("/openapi.json").json()
    one_stock = {"/api/kline", "/api/lstm/predict", "/api/lstm/plot-data", "/api/lstm/plot",
                 "/api/lstm/training-runs", "/api/lstm/versions", "/api/lstm/monitoring",
                 "/api/lstm/performance-decay", "/api/signals", "/api/signals/intraday",
                 "/api/research/compare/stock", "/api/signals/{ts_code}/explain"}
    for path, ops in spec["paths"].items():
        for op in ops.values():
            params = {p["name"]: p for p in op.get("parameters", [])}
            if path in one_stock:
                assert "ts_code" in params, path
            for alias in ("symbol", "code"):
                assert alias not in params or params[alias].get("deprecated"), (path, alias)
    schemas = spec["components"]["schemas"]
    for name in ("TrainRequest", "CheckTriggersRequest", "UpdateAccuracyRequest"):
        props = schemas[name]["properties"]
        assert "ts_code" in props and "symbol" not in props, (name, list(props))
        assert "symbol" in props["ts_code"]["description"]
    err = schemas["HTTPValidationError"]
    assert err["properties"]["detail"]["type"] == "string"


@pytest.fixture(scope="module")
def intraday_client(tdx_dir, tmp_path_factory):
    """A service on a store holding the real 1-minute bars of 688001.SH (last bar 2021-06-03 15:00)."""
    from tzero.data.ingest import ingest_tdx
    from tzero.data.store import MarketStore
    from tzero.service.app import create_app
    from tzero.settings import get_settings

    root = tmp_path_factory.mktemp("intraday")
    dst = root / "tdx" / "vipdoc" / "sh" / "minline" / "sh688001.lc1"
    dst.parent.mkdir(parents=True)
    shutil.copyfile(tdx_dir / "vipdoc" / "sh" / "minline" / "sh688001.lc1", dst)
    ingest_tdx(MarketStore(get_settings(home=root / "home").store_dir), root / "tdx")
    settings = service_settings(root / "home", f"sqlite:///{root / 'app.db'}")
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.mark.parametrize("as_of", ["2021-06-04", "2021-06-07 09:35", "2021-06-03 15:05"])
def test_intraday_as_of_after_the_last_bar_is_refused(intraday_client, as_of) -> None:
    r = intraday_client.get("/api/signals/intraday", params={"ts_code": "688001.SH", "as_of": as_of})
    _one_line(r, 400, ["as_of", "after the last stored bar", "2021-06-03 15:00"])


def test_intraday_as_of_up_to_the_last_bar_passes_the_check(intraday_client) -> None:
    r = intraday_client.get("/api/signals/intraday", params={"ts_code": "688001.SH", "as_of": "2021-06-03"})
    detail = _one_line(r, 400, ["need 40"])   # 11 sessions of bars in the slice: too few to fit
    assert "after" not in detail
