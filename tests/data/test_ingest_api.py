"""``tzero ingest api`` (tzero.data.ingest_api) against the local TDX API server (issue 13).

The done condition: ``ingest api --symbols 600519.SH --freq 1d`` stores exactly
the bars ``ingest tdx`` stores from the same ``.day`` file (values and dtypes),
both via the CLI. Then: incremental (only the bars after the stored ones are
asked for), idempotent (a second run writes 0 rows), atomic (a failed call or a
bad bar anywhere leaves the store unchanged), the errors (exit 2, one line),
trades, and the PostgreSQL store.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from support.tdx_api_server import TdxApiServer
from tzero.data.ingest_api import ingest_api
from tzero.data.store import MarketStore
from tzero.data.tdx_api import TdxApiClient

pytestmark = pytest.mark.data
CODE = "600519.SH"


class _Run:
    """What one ``tzero`` run did: exit code, stdout, stderr (``output``: both)."""

    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.exit_code, self.stdout, self.output = code, stdout, stdout + stderr


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """``cli(home, *args)``: the real entry point (:func:`tzero.cli.main`: errors → one line, exit 2)."""
    from tzero.cli import main

    def run(home: Path, *args: str) -> _Run:
        for k in ("TZERO_DB_URL", "TZERO_MARKET_URL", "TZERO_TDX_API_URL"):
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv("TZERO_HOME", str(home))
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.setattr("sys.argv", ["tzero", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main()
        got = capsys.readouterr()
        return _Run(int(e.value.code or 0), got.out, got.err)

    return run


def _api(cli, home: Path, url: str, *args: str) -> dict:
    r = cli(home, "ingest", "api", "--url", url, "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _bars(home: Path, code: str = CODE, dataset: str = "bars_1d") -> pd.DataFrame:
    return MarketStore(home / "market").query(dataset, "ts_code = ?", [code])


def _written(summary: dict, dataset: str = "bars_1d") -> int:
    return summary["datasets"][dataset]["rows_written"]


def test_api_stores_exactly_what_ingest_tdx_stores(cli, make_tdx, tdx_api_server: TdxApiServer,
                                                   tmp_path: Path) -> None:
    r = cli(tmp_path / "h_tdx", "ingest", "tdx", str(make_tdx(lc1=False)), "--json")
    assert r.exit_code == 0, r.output
    summ = _api(cli, tmp_path / "h_api", tdx_api_server.url, "--symbols", CODE, "--freq", "1d")
    want, got = _bars(tmp_path / "h_tdx"), _bars(tmp_path / "h_api")
    assert len(want) > 1000 and _written(summ) == len(want)
    pd.testing.assert_frame_equal(got, want, check_exact=True)  # values and dtypes
    assert [r for _, r, _ in tdx_api_server.log] == ["/api/health", "/api/kline-all/tdx"]
    assert "limit" not in tdx_api_server.log[1][2]  # an empty store asks for the whole history
    _api(cli, tmp_path / "h_api", tdx_api_server.url, "--symbols", "000001.SZ", "sh000300")  # + an index
    whole = {h: MarketStore(tmp_path / h / "market").query("bars_1d") for h in ("h_tdx", "h_api")}
    assert whole["h_tdx"]["ts_code"].unique().tolist() == ["000001.SZ", "000300.SH", CODE]
    pd.testing.assert_frame_equal(whole["h_api"], whole["h_tdx"], check_exact=True)


def test_incremental_and_idempotent(cli, tdx_api_server: TdxApiServer, tmp_path: Path) -> None:
    home, url = tmp_path / "h", tdx_api_server.url
    first = _api(cli, home, url, "--symbols", CODE, "--end", "2022-12-30")
    assert _bars(home)["trade_time"].max() == pd.Timestamp("2022-12-30")
    tdx_api_server.log.clear()
    again = _api(cli, home, url, "--symbols", CODE, "--end", "2022-12-30")  # up to date: nothing asked
    assert _written(again) == 0 and [r for _, r, _ in tdx_api_server.log] == ["/api/health"]
    rest = _api(cli, home, url, "--symbols", CODE)
    asked = [p for _, r, p in tdx_api_server.log if r == "/api/kline-all/tdx"]
    assert len(asked) == 1 and 0 < int(asked[0]["limit"]) < 2000  # only the sessions it lacks
    full = _bars(home)
    assert _written(first) + _written(rest) == len(full) and full["trade_time"].is_unique
    assert _written(rest) == (full["trade_time"] > pd.Timestamp("2022-12-30")).sum() > 0
    tdx_api_server.log.clear()
    for args in (("--symbols", CODE), ()):  # the store's symbols by default
        summ = _api(cli, home, url, *args)
        assert _written(summ) == 0 and summ["datasets"]["bars_1d"]["rows_in"] == 0
    pd.testing.assert_frame_equal(_bars(home), full, check_exact=True)


def test_refused_ingest_leaves_the_store_unchanged(cli, tdx_api_server: TdxApiServer, tmp_path: Path) -> None:
    home, url = tmp_path / "h", tdx_api_server.url
    _api(cli, home, url, "--symbols", CODE, "--end", "2021-12-31")
    manifest = (home / "market" / "manifest.json").read_text()
    tdx_api_server.faults.error["/api/index/all"] = "服务暂不可用"  # the 2nd symbol's call fails
    r = cli(home, "ingest", "api", "--url", url, "--symbols", f"{CODE},000001.SZ,000300.SH")
    assert r.exit_code == 2 and "/api/index/all?code=sh000300" in r.output
    assert [ln for ln in r.output.splitlines() if ln.startswith("error:")] == [r.output.splitlines()[-1]]
    assert "Traceback" not in r.output  # the progress bar drawn so far, then one error line
    tdx_api_server.reset()
    tdx_api_server.faults.units["/api/kline-all/tdx"] = "amount_yuan"  # Amount in 元, not 厘
    r = cli(home, "ingest", "api", "--url", url, "--symbols", f"{CODE},000001.SZ")
    assert r.exit_code == 2 and "amount/volume is outside" in r.output and "bar 600519.SH 20" in r.output
    assert (home / "market" / "manifest.json").read_text() == manifest


@pytest.mark.parametrize(("args", "says"), [
    (("--adjust", "qfq"), "applies qfq/hfq on read from adj_factor"),
    (("--freq", "15m"), "the store keeps 1d, 1m, 5m"),
    (("--url", "http://127.0.0.1:9"), "cannot reach http://127.0.0.1:9"),
    (("--url", "127.0.0.1:9"), "must start with http"),
    ((), "no TDX API server: pass --url"),
])
def test_usage_errors_exit_2_in_one_line(cli, args: tuple[str, ...], says: str, tdx_api_server: TdxApiServer,
                                         tmp_path: Path) -> None:
    url = () if "--url" in args or not args else ("--url", tdx_api_server.url)
    r = cli(tmp_path / "h", "ingest", "api", *url, "--symbols", CODE, *args)
    assert r.exit_code == 2 and says in r.output and r.output.strip().count("\n") == 0, r.output
    assert not (tmp_path / "h" / "market" / "manifest.json").exists()


def test_no_symbols_on_an_empty_store(cli, tdx_api_server: TdxApiServer, tmp_path: Path) -> None:
    r = cli(tmp_path / "h", "ingest", "api", "--url", tdx_api_server.url)
    assert r.exit_code == 2 and "pass --symbols" in r.output


def test_minutes_and_trades(cli, tdx_api_server: TdxApiServer, tmp_path: Path, data_dir: Path) -> None:
    from tzero.data import tdx
    home, url = tmp_path / "h", tdx_api_server.url
    summ = _api(cli, home, url, "--symbols", "688001.SH", "--freq", "1m,5m")
    lc1 = tdx.read_lc(data_dir / "tdx" / "vipdoc" / "sh" / "minline" / "sh688001.lc1")
    pd.testing.assert_frame_equal(_bars(home, "688001.SH", "bars_1m"), lc1[_bars(home).columns.tolist()]
                                  .reset_index(drop=True), check_exact=True)
    assert _written(summ, "bars_5m") == len(lc1) // 5
    r = cli(home, "ingest", "api", "--url", url, "--symbols", "600000.SH", "--trades")
    assert r.exit_code == 2 and "pass --start" in r.output
    tr = _api(cli, home, url, "--symbols", "600000.SH", "--trades", "--start", "2019-02-01", "--end", "2019-02-11")
    assert _written(tr, "trades") == 3083 + 3140  # the two sessions of the shared trades file
    again = _api(cli, home, url, "--symbols", "600000.SH", "--trades", "--end", "2019-02-11")
    assert _written(again, "trades") == 0 and _written(again) == 0


def test_postgresql_store(cli, pg_store, tdx_api_server: TdxApiServer, tmp_path: Path) -> None:
    with TdxApiClient(tdx_api_server.url, max_rps=0) as c:
        first = ingest_api(pg_store, c, [CODE], "1d", end="2022-06-30")
        rest = ingest_api(pg_store, c, [CODE], "1d")
        again = ingest_api(pg_store, c, None, "1d")
    got = pg_store.query("bars_1d", "ts_code = ?", [CODE])
    _api(cli, tmp_path / "h", tdx_api_server.url, "--symbols", CODE)
    pd.testing.assert_frame_equal(got, _bars(tmp_path / "h"), check_exact=True)
    assert first.written["bars_1d"].rows_written + rest.written["bars_1d"].rows_written == len(got)
    assert again.written["bars_1d"].rows_written == 0
