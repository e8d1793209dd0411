"""Pytest fixtures of the local TDX API server (:mod:`support.tdx_api_server`), for every test.

Registered in ``tests/conftest.py`` with ``pytest_plugins``. One server per test
session (its data caches are shared); ``tdx_api_server`` hands it to a test with
faults, request log and live clock cleared before and after.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.tdx_api_server import TdxApiServer


@pytest.fixture(scope="session")
def tdx_api_server_session(data_dir: Path) -> Iterator[TdxApiServer]:
    """The session's started server on 127.0.0.1 over the shared data (skips when absent)."""
    srv = TdxApiServer(data_dir).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def tdx_api_server(tdx_api_server_session: TdxApiServer) -> Iterator[TdxApiServer]:
    """The session's server, reset (no faults, empty log, no live clock) for this test."""
    tdx_api_server_session.reset()
    yield tdx_api_server_session
    tdx_api_server_session.reset()
