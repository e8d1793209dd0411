"""Shared fixtures: the shared-data root (skip when absent) and small real TDX folders in tmp_path.

Shared data is read in place; tests copy at most a few real files into ``tmp_path``
(never into the repository).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tzero.settings import get_settings

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


@pytest.fixture
def make_tdx(tdx_dir: Path, tmp_path: Path) -> Callable[..., Path]:
    """Build a small TDX folder in tmp_path from real files.

    Returns a function ``make_tdx(name="tdx", lc1=True) -> Path`` that copies the
    three real ``.day`` files of :data:`SMALL_DAY_FILES` (and the real
    ``sh688001.lc1`` when ``lc1``) into ``tmp_path/name/vipdoc/...``.
    """

    def build(name: str = "tdx", lc1: bool = True) -> Path:
        root = tmp_path / name
        files = SMALL_DAY_FILES + ((SMALL_LC1_FILE,) if lc1 else ())
        for rel in files:
            dst = root / "vipdoc" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tdx_dir / "vipdoc" / rel, dst)
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
