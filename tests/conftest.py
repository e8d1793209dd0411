"""Shared fixtures: the shared-data root (skip when absent) and small real TDX folders in tmp_path.

Shared data is read in place; tests copy at most a few real files into ``tmp_path``
(never into the repository). ``app_db`` gives a fresh, migrated app store on
SQLite, PostgreSQL and MariaDB (see :data:`SERVER_URLS`).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from tzero.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import sessionmaker

    from tzero.data.store_pg import PgMarketStore

pytest_plugins = ["support.tdx_api_fixtures"]  # the local TDX API server (issue 13)

#: The real files the small TDX folder is built from (relative to ``tdx/vipdoc``).
SMALL_DAY_FILES = ("sh/lday/sh600519.day", "sz/lday/sz000001.day", "sh/lday/sh000300.day")
SMALL_LC1_FILE = "sh/minline/sh688001.lc1"
#: Codes of the adj_factor slice (``reference/adj_factor.parquet``).
ADJ_CODES = ("600519.SH", "000001.SZ", "000300.SH")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data root; skips the test when it is absent."""
    d = get_settings().data_dir
    if d is None or not d.is_dir():
        pytest.skip("shared data absent: set TZERO_DATA_DIR to the shared/data folder")
    return d


@pytest.fixture(scope="session")
def tdx_dir(data_dir: Path) -> Path:
    """The shared TDX folder (holds ``vipdoc``); skips when absent."""
    d = get_settings().tdx_dir
    if d is None or not (d / "vipdoc").is_dir():
        pytest.skip("shared data absent: no tdx/vipdoc under the shared data folder")
    return d


def copy_gbbq(tdx_dir: Path, root: Path) -> Path:
    """Copy the real ``T0002/hq_cache/gbbq`` of ``tdx_dir`` into the TDX folder ``root``."""
    rel = Path("T0002") / "hq_cache" / "gbbq"
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tdx_dir / rel, root / rel)
    return root / rel


@pytest.fixture
def make_tdx(tdx_dir: Path, tmp_path: Path) -> Callable[..., Path]:
    """Build a small TDX folder in tmp_path from real files.

    Returns a function ``make_tdx(name="tdx", lc1=True, gbbq=False) -> Path`` that
    copies the three real ``.day`` files of :data:`SMALL_DAY_FILES` (and the real
    ``sh688001.lc1`` when ``lc1``) into ``tmp_path/name/vipdoc/...``, and with
    ``gbbq`` the real ``T0002/hq_cache/gbbq`` (ingest derives adj_factor from it,
    so qfq/hfq reads of the stocks work without a Tushare table).
    """

    def build(name: str = "tdx", lc1: bool = True, gbbq: bool = False) -> Path:
        root = tmp_path / name
        files = SMALL_DAY_FILES + ((SMALL_LC1_FILE,) if lc1 else ())
        for rel in files:
            dst = root / "vipdoc" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tdx_dir / "vipdoc" / rel, dst)
        if gbbq:
            copy_gbbq(tdx_dir, root)
        return root

    return build


@pytest.fixture(scope="session")
def adj_slice(data_dir: Path) -> pd.DataFrame:
    """Real adj_factor rows of :data:`ADJ_CODES`, as stored in the shared Parquet file."""
    p = data_dir / "reference" / "adj_factor.parquet"
    if not p.is_file():
        pytest.skip(f"shared data absent: {p}")
    return pd.read_parquet(p, filters=[("ts_code", "in", list(ADJ_CODES))]).reset_index(drop=True)


@pytest.fixture
def adj_slice_file(adj_slice: pd.DataFrame, tmp_path: Path) -> Path:
    """The adj_factor slice written to a small Parquet file in tmp_path."""
    p = tmp_path / "adj_factor_slice.parquet"
    adj_slice.to_parquet(p, index=False)
    return p


#: Admin URLs of the database servers the app-store tests run on; each test gets
#: its own database created there. Override with ``TZERO_TEST_PG_URL`` and
#: ``TZERO_TEST_MARIADB_URL``; ``.ci/run`` starts both servers.
SERVER_URLS: dict[str, str] = {
    "postgresql": os.environ.get("TZERO_TEST_PG_URL",
                                 "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mariadb": os.environ.get("TZERO_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
#: First connection error per server (``None``: reachable), so a down server costs one timeout.
_SERVER_ERRORS: dict[str, str | None] = {}


@dataclass(frozen=True)
class AppDB:
    """A fresh app store migrated to head: ``backend`` is the ``app_db`` param id."""

    backend: str
    url: str
    engine: Engine
    Session: sessionmaker


def _admin_engine(backend: str) -> Engine:
    """An AUTOCOMMIT engine on the server's admin database; fail (CI) or skip when down."""
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.pool import NullPool

    url = SERVER_URLS[backend]
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool,
                           connect_args={"connect_timeout": 5})
    if backend not in _SERVER_ERRORS:
        try:
            with engine.connect() as c:
                c.execute(text("SELECT 1"))
            _SERVER_ERRORS[backend] = None
        except Exception as exc:  # any driver error means "not usable here"
            _SERVER_ERRORS[backend] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    if _SERVER_ERRORS[backend] is not None:
        where = make_url(url).render_as_string(hide_password=True)
        reason = (f"{backend} server unreachable at {where} ({_SERVER_ERRORS[backend]}); "
                  f"start it (see .ci/run) or point TZERO_TEST_"
                  f"{'PG' if backend == 'postgresql' else 'MARIADB'}_URL at one")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return engine


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def app_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppDB]:
    """A fresh app store per test, migrated to head, on each of the three databases.

    SQLite: a file in ``tmp_path``. PostgreSQL/MariaDB: ``CREATE DATABASE
    tzero_t_<hex>`` on the server of :data:`SERVER_URLS`, dropped at teardown.
    Unreachable server: ``pytest.fail`` when ``CI`` is set, else ``pytest.skip``.
    """
    from sqlalchemy import make_url, text

    from tzero.data.appdb import open_app_store

    backend: str = request.param
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'tzero.db'}"
        engine, session = open_app_store(url)
        yield AppDB(backend, url, engine, session)
        engine.dispose()
        return
    admin = _admin_engine(backend)
    name = f"tzero_t_{uuid.uuid4().hex[:12]}"
    create = f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4" if backend == "mariadb" else "")
    drop = f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if backend == "postgresql" else "")
    with admin.connect() as c:
        c.execute(text(create))
    url = make_url(SERVER_URLS[backend]).set(database=name).render_as_string(hide_password=False)
    try:
        engine, session = open_app_store(url)
        yield AppDB(backend, url, engine, session)
        engine.dispose()
    finally:
        with admin.connect() as c:
            c.execute(text(drop))


#: Long-standing CSI 300 members: the small universe the comparison tests score.
COMPARE_CODES = ("600000", "600009", "600016", "600028", "600030", "600036", "600048", "600050",
                 "600104", "600276", "600309", "600519", "600585", "600690", "600887", "600900",
                 "601088", "601166", "601318", "601328", "601398", "601668", "601857", "601888")
COMPARE_MODELS = ("tcn", "arima")
COMPARE_RANGE = ("2022-03-01", "2022-12-30")


@dataclass
class CompareHome:
    """A ``TZERO_HOME`` with a small real CSI 300 store and one stored comparison run."""

    home: Path
    result: dict


@pytest.fixture(scope="session")
def compare_home(tmp_path_factory: pytest.TempPathFactory) -> CompareHome:
    """Real bars of :data:`COMPARE_CODES` + the CSI 300 index with their adj_factor, and one
    ``run_compare`` of :data:`COMPARE_MODELS` on CSI_300 over :data:`COMPARE_RANGE` (fast,
    per-stock models on a 12-stock sample), stored in the home's SQLite app store."""
    from tzero.data.appdb import open_app_store
    from tzero.data.ingest import ingest_table, ingest_tdx
    from tzero.data.store import MarketStore
    from tzero.research.compare import run_compare

    s0 = get_settings()
    if s0.tdx_dir is None or s0.data_dir is None or not (s0.tdx_dir / "vipdoc").is_dir():
        pytest.skip("shared data absent: no tdx/vipdoc under the shared data folder")
    root = tmp_path_factory.mktemp("compare")
    tdx = root / "tdx"
    for code in (*COMPARE_CODES, "000300"):
        ex = "sh" if code.startswith("6") or code == "000300" else "sz"
        src = s0.tdx_dir / "vipdoc" / ex / "lday" / f"{ex}{code}.day"
        dst = tdx / "vipdoc" / ex / "lday" / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    codes = [f"{c}.{'SH' if c.startswith('6') else 'SZ'}" for c in COMPARE_CODES] + ["000300.SH"]
    adj = pd.read_parquet(s0.data_dir / "reference" / "adj_factor.parquet",
                          filters=[("ts_code", "in", codes)])
    adj.to_parquet(root / "adj.parquet", index=False)
    settings = get_settings(home=root / "home")
    store = MarketStore(settings.store_dir)
    ingest_tdx(store, tdx)
    ingest_table(store, root / "adj.parquet", "adj_factor")
    engine, Session = open_app_store(settings.app_db_url)
    try:
        result = run_compare(Session, store, settings, "CSI_300", models=list(COMPARE_MODELS),
                             start=COMPARE_RANGE[0], end=COMPARE_RANGE[1], fast=True,
                             sample_size=12, n_jobs=1)
    finally:
        engine.dispose()
    return CompareHome(settings.home, result)


@pytest.fixture(scope="session")
def market_pg_url() -> Iterator[str]:
    """URL of a database created for the session on the test PostgreSQL server (dropped after).

    Skips when the server is down, fails with ``CI`` set (conftest's ``_admin_engine``).
    """
    from sqlalchemy import make_url, text

    admin = _admin_engine("postgresql")
    name = f"tzero_m_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(SERVER_URLS["postgresql"]).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def pg_store(market_pg_url: str) -> Iterator[PgMarketStore]:
    """A PostgreSQL market store in a fresh schema of the session database, dropped after the test."""
    from tzero.data.store_pg import PgMarketStore

    schema = f"m_{uuid.uuid4().hex[:12]}"
    st = PgMarketStore(market_pg_url, schema=schema)
    try:
        yield st
    finally:
        st._conn().execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        st.close()


SLOW_FIXTURES = ("compare_home",)
"""Session fixtures that run a long real-data job: every test using one is ``slow``."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests that use a :data:`SLOW_FIXTURES` fixture ``slow`` (left out by `make test-fast`)."""
    for item in items:
        if set(getattr(item, "fixturenames", ())) & set(SLOW_FIXTURES):
            item.add_marker(pytest.mark.slow)
