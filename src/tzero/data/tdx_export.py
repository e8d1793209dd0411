"""Reader for TDX (通达信) "export" text files (``T0002/export/SH#601003.txt``).

Split from :mod:`tzero.data.tdx` (the binary readers), which re-exports
:func:`read_export_txt`. Returns the **Bars** frame of DESIGN.md with prices
as exported (usually forward-adjusted, recorded in ``df.attrs["adjust"]``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from tzero.errors import DataFormatError
from tzero.market.symbols import to_ts_code

BARS_COLUMNS = ["ts_code", "trade_time", "open", "high", "low", "close", "volume", "amount"]

_EXPORT_ADJUST = {"前复权": "qfq", "后复权": "hfq", "不复权": "none"}
_FOOTER = "数据来源"


def _decode_gbk(path: Path) -> str:
    raw = path.read_bytes()
    if not raw:
        raise DataFormatError(f"{path}: empty file")
    try:
        return raw.decode("gbk")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataFormatError(
            f"{path}: line {line}: bytes are not valid GBK ({e.reason} at byte {e.start}); "
            "export again from TDX or convert the file to GBK"
        ) from None


def read_export_txt(path: str | Path) -> pd.DataFrame:
    """Read a TDX "export" text file such as ``T0002/export/SH#601003.txt``.

    Layout (GBK): line 1 ``601003 柳钢股份 日线 前复权`` (code, name, period,
    adjustment); line 2 the column titles ``日期 开盘 最高 最低 收盘 成交量 成交额``
    (a ``时间`` column follows ``日期`` in minute exports, ``HHMM`` at bar close);
    then one comma- or tab-separated row per bar, date ``YYYY/MM/DD``; a last
    line ``数据来源:通达信``. ``成交量`` is shares and ``成交额`` CNY (checked:
    close × volume ≈ amount on 601003).

    Prices are kept as exported, i.e. adjusted as line 1 says (usually 前复权,
    forward-adjusted). Forward adjustment can make old prices negative (601006
    大秦铁路 starts at -0.32 in 2006): those are real qfq values and are kept,
    not treated as errors. The adjustment is recorded in
    ``df.attrs["adjust"]`` (``"qfq"``, ``"hfq"`` or ``"none"``).

    Args:
        path: the export file; its name (``SH#601003.txt``) gives the ``ts_code``,
            falling back to the code on line 1.

    Returns:
        Bars frame (prices float64 CNY as exported, ``volume`` shares,
        ``amount`` CNY), sorted by ``trade_time``.

    Raises:
        DataFormatError: empty file, bytes that are not GBK, no header, or a
            row that does not parse; the message names the file and line.
    """
    path = Path(path)
    text = _decode_gbk(path)
    lines = text.splitlines()
    if len(lines) < 2:
        raise DataFormatError(f"{path}: expected a title line and a column line, got {len(lines)} line(s)")
    title = lines[0].split()
    ts_code = _export_ts_code(path, title)
    adjust = next((_EXPORT_ADJUST[w] for w in title if w in _EXPORT_ADJUST), "none")
    minute = "时间" in lines[1]
    n_fields = 8 if minute else 7
    rows: list[list[str]] = []
    line_no: list[int] = []
    for i, line in enumerate(lines[2:], start=3):
        s = line.strip()
        if not s or s.startswith(_FOOTER):
            continue
        parts = [p.strip() for p in re.split(r"[,\t]", s)]
        if len(parts) != n_fields:
            raise DataFormatError(
                f"{path}: line {i}: expected {n_fields} fields, got {len(parts)}: {s[:60]!r}"
            )
        rows.append(parts)
        line_no.append(i)
    if not rows:
        raise DataFormatError(f"{path}: no data rows")
    arr = np.array(rows, dtype=object)
    stamp = pd.Series(arr[:, 0]).str.replace("-", "/", regex=False)
    if minute:
        stamp = stamp + " " + pd.Series(arr[:, 1]).str.zfill(4)
        times = pd.to_datetime(stamp, format="%Y/%m/%d %H%M", errors="coerce")
    else:
        times = pd.to_datetime(stamp, format="%Y/%m/%d", errors="coerce")
    nums = pd.DataFrame(arr[:, n_fields - 6:], columns=["open", "high", "low", "close", "volume", "amount"])
    nums = nums.apply(pd.to_numeric, errors="coerce").astype(np.float64)
    bad = times.isna().to_numpy() | nums.isna().any(axis=1).to_numpy()
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataFormatError(f"{path}: line {line_no[j]}: cannot parse {','.join(rows[j])!r}")
    df = pd.DataFrame({"ts_code": np.full(len(rows), ts_code, dtype=object),
                       "trade_time": times.to_numpy("datetime64[ns]"),
                       **{c: nums[c].to_numpy() for c in nums.columns}}, columns=BARS_COLUMNS)
    df = df.sort_values("trade_time", kind="stable").reset_index(drop=True)
    df.attrs["adjust"] = adjust
    return df


def _export_ts_code(path: Path, title: list[str]) -> str:
    candidates = [path.stem] + title[:1]
    for c in candidates:
        try:
            return to_ts_code(c)
        except ValueError:
            continue
    raise DataFormatError(
        f"{path}: cannot tell the symbol from the file name or line 1; "
        "name the file like SH#601003.txt"
    )
