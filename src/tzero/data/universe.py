"""Index membership as of each date (no survivorship bias).

Reads Qlib's ``instruments`` format, one membership period per line::

    SH600000<TAB>2010-01-04<TAB>2023-02-24

(code, first and last day in the index, both inclusive). A stock that left and
rejoined has several lines. The shared data ships the CSI 300 periods in
``reference/csi300_membership.txt`` (see its README: approximate, 245–300
members on a date; periods running past 2023-02-24 are cut there).

A backtest must pick its candidates among the members *on the decision date*
(:func:`members_on`, :func:`membership_matrix`), never among today's members.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tzero.errors import DataFormatError, SymbolError
from tzero.market.symbols import to_ts_code

MEMBERSHIP_COLUMNS = ["ts_code", "start", "end"]


def _parse_line(line: str, path: Path, lineno: int) -> tuple[str, pd.Timestamp, pd.Timestamp]:
    parts = line.rstrip("\r\n").split("\t")
    if len(parts) != 3:
        raise DataFormatError(f"{path}:{lineno}: expected 'SH600000<TAB>start<TAB>end', "
                              f"got {line.strip()!r}")
    try:
        code = to_ts_code(parts[0].strip())
    except SymbolError as exc:
        raise DataFormatError(f"{path}:{lineno}: bad instrument {parts[0]!r}: {exc}") from exc
    try:
        start, end = pd.Timestamp(parts[1].strip()), pd.Timestamp(parts[2].strip())
    except ValueError as exc:
        raise DataFormatError(f"{path}:{lineno}: bad date in {line.strip()!r}: "
                              f"expected YYYY-MM-DD") from exc
    if end < start:
        raise DataFormatError(f"{path}:{lineno}: end {end.date()} is before start {start.date()}")
    return code, start.normalize(), end.normalize()


def read_index_membership(path: str | Path) -> pd.DataFrame:
    """Read index membership periods in Qlib ``instruments`` format.

    Args:
        path: text file of ``CODE<TAB>start<TAB>end`` lines (blank lines are skipped);
            codes in any form :func:`tzero.market.symbols.to_ts_code` accepts.

    Returns:
        DataFrame ``[ts_code, start, end]`` (``start``/``end`` inclusive
        ``datetime64`` dates), sorted by ``(ts_code, start)``.

    Raises:
        DataFormatError: missing file, a malformed row, a bad code or date, or
            an end before its start; the message names the file and line.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"{p}: no such membership file (Qlib instruments format expected)")
    rows = []
    with p.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                rows.append(_parse_line(line, p, lineno))
    if not rows:
        raise DataFormatError(f"{p}: no membership rows")
    out = pd.DataFrame(rows, columns=MEMBERSHIP_COLUMNS)
    return out.sort_values(["ts_code", "start"]).reset_index(drop=True)


def members_on(membership: pd.DataFrame, date) -> list[str]:
    """Codes in the index on ``date`` (``start <= date <= end``), sorted.

    Args:
        membership: frame of :func:`read_index_membership`.
        date: a date-like.
    """
    d = pd.Timestamp(date).normalize()
    m = membership
    return sorted(set(m.loc[(m["start"] <= d) & (m["end"] >= d), "ts_code"]))


def membership_matrix(membership: pd.DataFrame, sessions) -> pd.DataFrame:
    """Boolean ``[session × ts_code]`` matrix: True where the code is a member that day.

    Args:
        membership: frame of :func:`read_index_membership`.
        sessions: dates (sorted or not); the result keeps their order.

    Returns:
        DataFrame of bool, index the sessions (normalised), columns every code
        of ``membership`` (sorted).
    """
    days = pd.DatetimeIndex(pd.to_datetime(list(sessions))).normalize()
    codes = sorted(membership["ts_code"].unique())
    col = pd.Index(codes).get_indexer(membership["ts_code"])
    out = np.zeros((len(days), len(codes)), dtype=bool)
    dv = days.values
    for j, s, e in zip(col, membership["start"].values, membership["end"].values, strict=True):
        out[:, j] |= (dv >= s) & (dv <= e)
    return pd.DataFrame(out, index=days, columns=codes)
