"""The TDX HTTP API client (tzero.data.tdx_api) against the local server over real HTTP (issue 13).

Every route of the issue, the transport policy (timeouts, 5xx then success, no
retry on 4xx), malformed answers, ``code -1``, empty and reversed lists, the
``/api/minute`` fallback date, and the turnover check catching unit mix-ups.
The bars served are the shared data's (``tdx/vipdoc``), so the converted frames
are compared with :func:`tzero.data.tdx.read_day` of the same file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from support.tdx_api_server import TdxApiServer
from tzero.data import tdx
from tzero.data.tdx_api import (
    TdxApiClient,
    TdxApiError,
    fetch_bars,
    fetch_minute_line,
    fetch_session_bars,
    fetch_trades,
)

pytestmark = pytest.mark.data
CODE = "600519.SH"
LC1_CODE, LC1_DAY = "688001.SH", pd.Timestamp("2021-04-23")
TRADE_CODE, TRADE_DAY = "600000.SH", pd.Timestamp("2019-02-01")


@pytest.fixture
def client(tdx_api_server: TdxApiServer) -> TdxApiClient:
    # generous: the local server is Python and CI's 2 cores are busy; the timeout tests use
    # their own short-timeout client
    c = TdxApiClient(tdx_api_server.url, timeout=60, long_timeout=120, retries=2, backoff_s=0.01,
                     max_rps=0)
    yield c
    c.close()


def _raw_day(data_dir: Path, code: str) -> pd.DataFrame:
    p = data_dir / "tdx" / "vipdoc" / code.split(".")[1].lower() / "lday" / f"{code[-2:].lower()}{code[:6]}.day"
    return tdx.read_day(p)


def test_fetch_bars_equals_the_day_file(client: TdxApiClient, data_dir: Path) -> None:
    got = fetch_bars(client, CODE, "1d")
    want = _raw_day(data_dir, CODE)
    assert got.attrs["route"] == "/api/kline-all/tdx"
    pd.testing.assert_frame_equal(got, want[got.columns.tolist()].reset_index(drop=True), check_exact=True)
    part = fetch_bars(client, CODE, "1d", start="2020-01-01", end="2020-12-31")
    assert part["trade_time"].dt.year.unique().tolist() == [2020]
    assert len(fetch_bars(client, CODE, "1d", limit=5)) == 5


def test_every_route_answers_in_the_reference_shape(client: TdxApiClient, tdx_api_server: TdxApiServer
                                                    ) -> None:
    assert client.health()["status"] == "healthy"
    q = client.quote(["600519", "000001"])
    assert [r["Code"] for r in q] == ["600519", "000001"] and isinstance(q[0]["K"]["Close"], int)
    assert [r["Code"] for r in client.batch_quote(["600519"])] == ["600519"]
    with pytest.raises(ValueError, match="at most 50"):
        client.batch_quote(["600519"] * 51)
    k = client.kline("600519", "day")
    assert k["Count"] == len(k["List"]) and k["List"][0]["Time"] > k["List"][-1]["Time"]  # newest first
    for data in (client.kline_all_tdx("600519"), client.kline_all_ths("600519"),
                 client.index_all("sh000300")):
        assert data["count"] == len(data["list"]) and data["list"][0]["Time"] < data["list"][-1]["Time"]
    assert client.kline_all_tdx("600519", limit=3)["count"] == 3
    assert client.kline_history("600519", limit=7)["Count"] == 7
    assert client.index("sh000300")["List"][0]["Time"] > client.index("sh000300")["List"][1]["Time"]
    m = client.minute("688001", LC1_DAY)
    assert m["date"] == "20210423" and m["List"][0]["Time"] == "09:31"
    t = client.trade("600000", TRADE_DAY)
    assert t["Count"] == len(t["List"]) > 0 and t["List"][0]["Time"] > t["List"][-1]["Time"]
    page = client.trade_history("600000", TRADE_DAY, start=10, count=5)
    assert page["Count"] == 5
    every = client.minute_trade_all("600000", TRADE_DAY)
    assert every["Count"] == 3083 and every["List"][10:15] == page["List"]
    assert client.trade_history_full("600000", before="2019-02-05", limit=4)["Count"] == 4
    codes = client.codes("sh")
    assert codes["total"] == len(codes["codes"]) and {r["exchange"] for r in codes["codes"]} == {"sh"}
    assert client.stock_codes(limit=3)["count"] == 3
    assert all(c.startswith(("sh", "sz")) for c in client.etf_codes(limit=5)["list"])
    assert client.index_codes(limit=2)["items"][0]["code"]
    w = client.workday("2020-04-01", count=2)
    assert w["is_workday"] and [d["iso"] for d in w["previous"]] == ["2020-03-31", "2020-03-30"]
    assert [d["iso"] for d in w["next"]] == ["2020-04-02", "2020-04-03"]
    assert client.workday_range("2020-04-01", "2020-04-07")["count"] == 4  # 04-04..06 closed
    tid = client.pull_kline(codes=["600519"], tables=["day"])["task_id"]
    assert client.task(tid)["status"] == "running" and tid in {x["id"] for x in client.tasks()}
    assert client.cancel_task(tid)["status"] == "cancelled"
    assert client.pull_trade(codes=["600000"], start_year=2019)["task_id"]
    routes = {r for _, r, _ in tdx_api_server.log}
    assert {"/api/kline-all/ths", "/api/trade-history/full", "/api/workday/range"} <= routes


def test_timeout_retries_then_one_line(client: TdxApiClient, tdx_api_server: TdxApiServer) -> None:
    slow = TdxApiClient(tdx_api_server.url, timeout=0.2, long_timeout=0.2, retries=1, backoff_s=0.01,
                        max_rps=0)
    tdx_api_server.faults.delay["/api/kline-all/tdx"] = 0.6
    with slow, pytest.raises(TdxApiError) as e:
        fetch_bars(slow, CODE, "1d")
    assert e.value.kind == "unreachable" and "no answer within 0.2 s after 2 attempt(s)" in str(e.value)
    assert "\n" not in str(e.value) and e.value.route == "/api/kline-all/tdx"


def test_5xx_then_success_and_5xx_for_good(client: TdxApiClient, tdx_api_server: TdxApiServer) -> None:
    tdx_api_server.faults.fail_5xx["/api/kline-all/tdx"] = 2
    assert len(fetch_bars(client, CODE, "1d")) > 1000
    assert [r for _, r, _ in tdx_api_server.log].count("/api/kline-all/tdx") == 3
    tdx_api_server.faults.fail_5xx["/api/kline-all/tdx"] = 10
    with pytest.raises(TdxApiError, match="HTTP 503 after 3 attempt"):
        fetch_bars(client, CODE, "1d")


def test_4xx_is_final(client: TdxApiClient, tdx_api_server: TdxApiServer) -> None:
    with pytest.raises(TdxApiError) as e:
        client.request("GET", "/api/no-such-route")
    assert e.value.kind == "http" and "HTTP 404" in str(e.value)
    assert len(tdx_api_server.log) == 1


def test_malformed_json_and_code_minus_one(client: TdxApiClient, tdx_api_server: TdxApiServer) -> None:
    tdx_api_server.faults.malformed.add("/api/kline-all/tdx")
    with pytest.raises(TdxApiError) as e:
        fetch_bars(client, CODE, "1d")
    assert e.value.kind == "malformed" and "not JSON" in e.value.message
    tdx_api_server.faults.malformed.clear()
    tdx_api_server.faults.error["/api/kline-all/tdx"] = "未找到相关股票"
    with pytest.raises(TdxApiError) as e:
        fetch_bars(client, CODE, "1d")
    assert e.value.kind == "server" and "code -1: 未找到相关股票" in str(e.value)
    assert "code=600519" in str(e.value)


def test_empty_and_reversed_lists(client: TdxApiClient, tdx_api_server: TdxApiServer) -> None:
    normal = fetch_bars(client, CODE, "1d")
    tdx_api_server.faults.reversed.add("/api/kline-all/tdx")
    pd.testing.assert_frame_equal(fetch_bars(client, CODE, "1d"), normal, check_exact=True)
    tdx_api_server.faults.empty.add("/api/kline-all/tdx")
    empty = fetch_bars(client, CODE, "1d")
    assert empty.empty and empty.dtypes.equals(normal.dtypes)


def test_unit_mix_ups_are_refused(client: TdxApiClient, tdx_api_server: TdxApiServer) -> None:
    """A server answering Amount in 元 (not 厘) or Volume in shares (not 手) fails the VWAP check."""
    for unit in ("amount_yuan", "volume_shares"):
        tdx_api_server.faults.units["/api/kline-all/tdx"] = unit
        with pytest.raises(TdxApiError) as e:
            fetch_bars(client, CODE, "1d")
        assert e.value.kind == "bad bar" and "amount/volume is outside [low, high]" in e.value.message
        assert "bar 600519.SH 20" in e.value.message and "nothing was stored" in e.value.message


def test_minute_fallback_date(client: TdxApiClient, tdx_api_server: TdxApiServer) -> None:
    asked = pd.Timestamp("2021-04-26")
    line = fetch_minute_line(client, LC1_CODE, asked)
    assert not line.fallback and line.date == asked and len(line.frame) == 240
    tdx_api_server.faults.minute_fallback = True
    line = fetch_minute_line(client, LC1_CODE, asked)
    assert line.fallback and line.date == LC1_DAY
    assert (line.frame["trade_time"].dt.normalize() == LC1_DAY).all()  # stamped on the day served


def test_session_bars_follow_the_live_clock(client: TdxApiClient, tdx_api_server: TdxApiServer,
                                            data_dir: Path) -> None:
    lc1 = tdx.read_lc(data_dir / "tdx" / "vipdoc" / "sh" / "minline" / "sh688001.lc1")
    day = lc1.loc[lc1["trade_time"].dt.normalize() == LC1_DAY].reset_index(drop=True)
    tdx_api_server.set_now(LC1_DAY + pd.Timedelta("10:00:00"))
    got = fetch_session_bars(client, LC1_CODE, LC1_DAY, "1m")
    pd.testing.assert_frame_equal(got, day.loc[day["trade_time"] <= got["trade_time"].max(), got.columns]
                                  .reset_index(drop=True), check_exact=True)
    assert got["trade_time"].max() == LC1_DAY + pd.Timedelta("10:00:00") and len(got) == 30
    assert len(fetch_session_bars(client, LC1_CODE, LC1_DAY, "5m")) == 6
    tdx_api_server.set_now(LC1_DAY + pd.Timedelta("09:20:00"))
    assert fetch_session_bars(client, LC1_CODE, LC1_DAY, "1m").empty
    with pytest.raises(ValueError, match="intraday frequency"):
        fetch_session_bars(client, LC1_CODE, LC1_DAY, "1d")


def test_trades_of_one_session(client: TdxApiClient, data_dir: Path) -> None:
    from tzero.data import tables
    want = tables.read_trades_table(data_dir / "trades" / "tdx_trades_2019.parquet")
    want = want.loc[(want["ts_code"] == TRADE_CODE) & (want["trade_time"].dt.normalize() == TRADE_DAY)]
    got = fetch_trades(client, TRADE_CODE, TRADE_DAY)
    assert len(got) == len(want) == 3083
    cols = ["ts_code", "trade_time", "price", "volume", "direction"]
    pd.testing.assert_frame_equal(got[cols], want[cols].reset_index(drop=True), check_exact=True,
                                  check_dtype=False)
    assert got["seq"].dtype == "int64" and not got.duplicated(["trade_time", "seq"]).any()


def test_bad_url_and_unreachable() -> None:
    with pytest.raises(ValueError, match="must start with http"):
        TdxApiClient("127.0.0.1:8080")
    with TdxApiClient("http://127.0.0.1:9", retries=1, backoff_s=0.01) as c, \
            pytest.raises(TdxApiError, match="cannot reach http://127.0.0.1:9") as e:
        c.health()
    assert e.value.kind == "unreachable"
