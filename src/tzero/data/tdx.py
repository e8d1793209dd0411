"""Readers for TDX (通达信) client files: binary daily/minute bars and export text.

Every reader returns the **Bars** frame of DESIGN.md "Data contracts": columns
``ts_code, trade_time, open, high, low, close, volume, amount``; ``trade_time``
is naive Asia/Shanghai wall time (daily bars at midnight of the date, minute
bars at the bar's close, 09:31…11:30, 13:01…15:00); prices CNY (index points
for indices), ``volume`` shares, ``amount`` CNY; sorted by ``(ts_code, trade_time)``.
Binary files are decoded with one structured NumPy dtype per file (no
per-record unpacking).

Units found on the real TDX folder (``shared/data/tdx``, 5,208 ``.day`` files,
checked with the median of ``amount / (volume * close)`` per file):

* A-shares (SH 60/68, SZ 00/30, BJ 43/83/87): prices are integer fen (÷100),
  ``volume`` is **shares** (ratio 0.994…1.02 on all 5,068 stock files).
* Funds/ETFs (SH 5x, SZ 15/16/18; e.g. ``sh510300``, ``sz159919``): prices
  are stored ×1000 (three decimals): with ÷100 the ratio is exactly 0.100 on all
  10 ETFs, with ÷1000 it is 1.00 (510300 closes 4.060 on 2023-02-24).
  ``volume`` is shares. Bonds (SH 11, SZ 12) share the ×1000 price scale in
  TDX; the folder holds none, so that case is unverified.
* Indices (``sh000xxx``, ``sz399xxx``, ``bj899xxx``): ``volume`` is in **lots**
  (手, 100 shares): ``amount / volume`` is 106…8,440 CNY per unit (median
  ≈1,300), i.e. 1…84 CNY per share with lots and an impossible 1,300 CNY per
  share without; the SSE Composite 1-minute volume summed over a day equals the
  ``sh000001.day`` volume × 100 (2016-01-04, 2018-06-01, 2019-02-12). Volume is
  therefore multiplied by 100. The reserved field of index records is not zero
  (it packs advancing/declining counts) and is ignored.
* ``.lc1``/``.lc5`` minute files: float32 prices in CNY (no scale), ``volume``
  in shares (``sh688001.lc1``: ``amount / (volume * close)`` = 1.0000), stamps
  are the bar close (571 = 09:31 … 900 = 15:00). Index minute files are assumed
  to use lots like ``.day`` files (none in the folder to check).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from tzero.data.tdx_export import read_export_txt
from tzero.errors import DataFormatError
from tzero.market.symbols import board_of, tdx_name, to_ts_code

BARS_COLUMNS = ["ts_code", "trade_time", "open", "high", "low", "close", "volume", "amount"]

#: One ``.day`` record: date YYYYMMDD, OHLC ×100 (×1000 for funds), amount, volume, reserved.
DAY_DTYPE = np.dtype(
    [("date", "<u4"), ("open", "<u4"), ("high", "<u4"), ("low", "<u4"), ("close", "<u4"),
     ("amount", "<f4"), ("volume", "<u4"), ("reserved", "<u4")]
)
#: One ``.lc1``/``.lc5`` record: packed date, minutes since midnight, OHLC and amount float32.
LC_DTYPE = np.dtype(
    [("date", "<u2"), ("minute", "<u2"), ("open", "<f4"), ("high", "<f4"), ("low", "<f4"),
     ("close", "<f4"), ("amount", "<f4"), ("volume", "<u4"), ("reserved", "<u4")]
)
RECORD_SIZE = 32
assert DAY_DTYPE.itemsize == LC_DTYPE.itemsize == RECORD_SIZE

#: Price scale of ``.day`` integers: fen for stocks and indices, 1/1000 CNY for funds and bonds.
PRICE_SCALE_STOCK = 100.0
PRICE_SCALE_FUND = 1000.0
#: Shares per TDX lot (手); index volumes are stored in lots.
SHARES_PER_LOT = 100.0
#: float32 prices are rounded to the finest TDX tick (0.001) to drop float32 noise.
PRICE_DECIMALS = 3
#: ``.lc`` packed-date epoch: year = n // 2048 + 2004.
LC_YEAR_BASE = 2004

_STEM = re.compile(r"^(sh|sz|bj)(\d{6})$", re.IGNORECASE)
_INDEX_PREFIX = {"SH": "000", "SZ": "399", "BJ": "899"}
_BINARY_SUFFIXES = {".day", ".lc1", ".lc5"}


def ts_code_from_path(path: str | Path) -> str:
    """``ts_code`` of a TDX binary file from its name: ``sh600519.day`` → ``600519.SH``.

    Raises:
        DataFormatError: the file stem is not ``sh``/``sz``/``bj`` plus 6 digits.
    """
    return _code_of_stem(Path(path).stem, path)


def _code_of_stem(stem: str, path: str | Path) -> str:
    m = _STEM.match(stem)
    if not m:
        raise DataFormatError(
            f"{path}: file name {stem!r} does not name a security; "
            "expected sh600519.day, sz000001.lc1 or bj430047.day"
        )
    return f"{m.group(2)}.{m.group(1).upper()}"


def is_index(ts_code: str) -> bool:
    """True for index codes (SH 000xxx, SZ 399xxx, BJ 899xxx), whose TDX volume is in lots."""
    code, ex = ts_code.split(".")
    return code.startswith(_INDEX_PREFIX.get(ex, "#"))


def price_scale(ts_code: str) -> float:
    """Divisor of ``.day`` integer prices: 1000 for funds/ETFs/bonds, 100 otherwise."""
    return PRICE_SCALE_FUND if (not is_index(ts_code) and board_of(ts_code) == "fund") else PRICE_SCALE_STOCK


def volume_scale(ts_code: str) -> float:
    """Multiplier from TDX volume to shares: 100 for indices (lots), 1 otherwise."""
    return SHARES_PER_LOT if is_index(ts_code) else 1.0


def _read_file(path: str) -> bytes:
    """A whole 32-byte-record file as bytes: ``open``, ``fstat``, ``read``, ``close`` and nothing else.

    Four system calls and no ``Path`` or file object: about half the time of
    ``np.fromfile`` per file (``benchmarks/bench_store.py``).

    Raises:
        DataFormatError: no such file, empty, or a size that is not a multiple of 32.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file") from None
    try:
        size = os.fstat(fd).st_size
        _check_size_of(path, size)
        data = os.read(fd, size)
        while len(data) < size:  # a short read (rare; pipes, network file systems)
            more = os.read(fd, size - len(data))
            if not more:
                break
            data += more
    finally:
        os.close(fd)
    if len(data) != size:
        raise DataFormatError(f"{path}: changed while being read ({len(data)} of {size} bytes)")
    return data


def _check_size_of(path: Path | str, size: int) -> None:
    if size == 0:
        raise DataFormatError(f"{path}: empty file (0 bytes); re-download it in the TDX client")
    if size % RECORD_SIZE:
        raise DataFormatError(
            f"{path}: size {size} bytes is not a multiple of {RECORD_SIZE} "
            f"(the TDX record size); the file is truncated or not a TDX bar file"
        )


def _load_records(path: Path, dtype: np.dtype) -> np.ndarray:
    """A whole 32-byte-record file as a read-only record array (:func:`_read_file`; size checked)."""
    return np.frombuffer(_read_file(str(path)), dtype=dtype)


_DATE_BASE = 19000101
_DATE_SPAN = 22001231 - _DATE_BASE + 1


def _yyyymmdd_to_datetime(dates: np.ndarray, path: Path | str) -> np.ndarray:
    """Vectorised YYYYMMDD integers → ``datetime64[ns]``; invalid dates raise naming the record."""
    out, ok = _yyyymmdd_lenient(dates)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise DataFormatError(f"{path}: record {i + 1} has an invalid date {int(dates[i])}")
    return out


def _yyyymmdd_lenient(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YYYYMMDD integers → (``datetime64[ns]`` with NaT where invalid, validity mask).

    One lookup in a cached table indexed by ``YYYYMMDD - 19000101`` (NaT where
    the integer is not a real date, e.g. 20230230), several times faster than
    date arithmetic on millions of rows.
    """
    k = dates.astype(np.int64) - _DATE_BASE
    inside = k.view(np.uint64) < _DATE_SPAN       # one test for 0 <= k < span
    out = _date_table().take(k, mode="clip")      # outside rows are replaced below
    ok = inside & ~np.isnat(out)
    if not ok.all():
        out = np.where(ok, out, np.datetime64("NaT", "ns"))
    return out, ok


def _with_records(df: pd.DataFrame, sources: list[str], counts: np.ndarray,
                  problem: np.ndarray | None) -> pd.DataFrame:
    """Add the provenance columns of :mod:`tzero.data.validation` to a frame in file order.

    ``source`` (categorical file path), ``record`` (1-based record in its own
    file) and, only when some field could not be decoded, ``problem`` (its
    text, None elsewhere).
    """
    counts = np.asarray(counts, dtype=np.int64)
    file_idx = np.repeat(np.arange(len(sources), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    record = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts) + 1
    df["source"] = pd.Categorical.from_codes(file_idx, categories=pd.Index(sources, dtype=object))
    df["record"] = record
    if problem is not None:
        df["problem"] = problem
    return df


def _date_problems(dates: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
    """``problem`` texts for records whose YYYYMMDD integer is no date (None when all are)."""
    if ok.all():
        return None
    out = np.full(len(dates), None, dtype=object)
    for i in np.flatnonzero(~ok):
        out[i] = f"field 'date' is {int(dates[i])}, not a YYYYMMDD date"
    return out


@lru_cache(maxsize=1)
def _date_table() -> np.ndarray:
    k = np.arange(_DATE_SPAN, dtype=np.int64) + _DATE_BASE
    y, m, d = k // 10000, k // 100 % 100, k % 100
    ok = (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31)
    months = ((y - 1970) * 12 + np.clip(m, 1, 12) - 1).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + (np.clip(d, 1, 31) - 1).astype("timedelta64[D]")
    ok &= days.astype("datetime64[M]") == months  # rejects 2023-02-30 and the like
    return np.where(ok, days.astype("datetime64[ns]"), np.datetime64("NaT", "ns"))


def _ymd_to_datetime(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Year, month, day arrays → (``datetime64[ns]``, NaT where invalid; validity mask)."""
    ok = (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31) & (y >= 1900) & (y <= 2200)
    months = ((y - 1970) * 12 + (np.clip(m, 1, 12) - 1)).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + (np.clip(d, 1, 31) - 1).astype("timedelta64[D]")
    ok &= days.astype("datetime64[M]") == months  # rejects 2023-02-30 and the like
    out = days.astype("datetime64[ns]")
    return np.where(ok, out, np.datetime64("NaT", "ns")), ok


def _frame(codes: np.ndarray, times: np.ndarray, cols: dict[str, np.ndarray] | np.ndarray) -> pd.DataFrame:
    """Build the Bars frame; the six float columns become one block without a consolidation copy.

    ``cols`` is a dict of the float columns or an already-built ``[6, N]`` float64 block
    in :data:`BARS_COLUMNS` order.
    """
    names = BARS_COLUMNS[2:]
    if isinstance(cols, dict):
        block = np.empty((len(names), len(times)), dtype=np.float64)
        for i, c in enumerate(names):
            block[i] = cols[c]
    else:
        block = cols
    left = pd.DataFrame({"ts_code": codes, "trade_time": times}, copy=False)  # no stacking copy
    right = pd.DataFrame(block.T, columns=names, copy=False)
    return pd.concat([left, right], axis=1, copy=False)


def _sort_bars(df: pd.DataFrame, known_sorted: bool | None = None) -> pd.DataFrame:
    """Sort by ``(ts_code, trade_time)`` unless already sorted (then no copy)."""
    if known_sorted is None:
        known_sorted = df["ts_code"].is_monotonic_increasing and _times_sorted_within(df)
    if known_sorted:
        return df
    return df.sort_values(["ts_code", "trade_time"], kind="stable").reset_index(drop=True)


def _times_sorted_within(df: pd.DataFrame) -> bool:
    t = df["trade_time"].to_numpy()
    c = df["ts_code"].to_numpy()
    if len(t) < 2:
        return True
    same = c[1:] == c[:-1]
    return bool(np.all(t[1:][same] >= t[:-1][same]))


def _day_columns(rec: np.ndarray, pscale: np.ndarray | float, vscale: np.ndarray | float
                 ) -> np.ndarray:
    """The ``[6, N]`` float64 block open, high, low, close (CNY), volume (shares), amount (CNY)."""
    block = np.empty((6, len(rec)), dtype=np.float64)
    for i, k in enumerate(("open", "high", "low", "close")):
        np.divide(rec[k], pscale, out=block[i])
    np.multiply(rec["volume"], vscale, out=block[4])
    block[5] = rec["amount"]
    return block


def read_day(path: str | Path, *, records: bool = False) -> pd.DataFrame:
    """Read one TDX daily-bar file ``vipdoc/{sh,sz,bj}/lday/<name>.day``.

    Records are 32-byte little-endian ``<IIIIIfII``: date YYYYMMDD; open, high,
    low, close as integers (÷100 for stocks and indices, ÷1000 for funds/ETFs
    and bonds); amount float32 CNY; volume (shares, lots for indices); reserved.
    See the module docstring for how the units were verified.

    Args:
        path: the ``.day`` file; its name gives the ``ts_code``.
        records: for ingest: keep file order, add the provenance columns
            ``source``, ``record`` and ``problem`` (:mod:`tzero.data.validation`)
            and turn an invalid date into ``NaT`` with a ``problem`` instead of raising.

    Returns:
        Bars frame: ``ts_code`` (str), ``trade_time`` (datetime64[ns], midnight
        of the session), ``open high low close`` (float64 CNY; index points for
        indices), ``volume`` (float64 shares; index lots ×100), ``amount``
        (float64 CNY); sorted by ``trade_time`` (file order with ``records``).

    Raises:
        DataFormatError: the name maps to no symbol, the file is empty, its
            size is not a multiple of 32 bytes, or (without ``records``) a
            record has an invalid date.
    """
    path = Path(path)
    ts_code = ts_code_from_path(path)
    rec = _load_records(path, DAY_DTYPE)
    if records:
        times, ok = _yyyymmdd_lenient(rec["date"])
    else:
        times = _yyyymmdd_to_datetime(rec["date"], path)
    cols = _day_columns(rec, price_scale(ts_code), volume_scale(ts_code))
    codes = np.full(len(rec), ts_code, dtype=object)
    df = _frame(codes, times, cols)
    if records:
        return _with_records(df, [str(path)], np.array([len(rec)]), _date_problems(rec["date"], ok))
    return _sort_bars(df)


def read_lc(path: str | Path, *, records: bool = False) -> pd.DataFrame:
    """Read one TDX minute-bar file: ``.lc1`` (1-minute, ``minline/``) or ``.lc5`` (5-minute, ``fzline/``).

    Records are 32-byte ``<HHfffffII``: packed date (year = n // 2048 + 2004,
    month = (n % 2048) // 100, day = (n % 2048) % 100); minutes since midnight
    of the bar's **close** (571 = 09:31); open, high, low, close, amount float32;
    volume; reserved.

    Args:
        path: the ``.lc1``/``.lc5`` file; its name gives the ``ts_code``.
        records: as in :func:`read_day` (file order, provenance columns, an
            undecodable stamp becomes ``NaT`` with a ``problem``).

    Returns:
        Bars frame with ``trade_time`` at the bar close (09:31…11:30,
        13:01…15:00 for 1-minute bars; 09:35…15:00 for 5-minute bars), prices
        float64 CNY rounded to 0.001 (float32 noise removed; NaN and ±inf
        stay as stored), ``volume`` float64 shares (index lots ×100, assumed),
        ``amount`` float64 CNY.

    Raises:
        DataFormatError: the name maps to no symbol, the file is empty, its
            size is not a multiple of 32 bytes, or (without ``records``) a
            record has an invalid date or minute.
    """
    path = Path(path)
    ts_code = ts_code_from_path(path)
    rec = _load_records(path, LC_DTYPE)
    n = rec["date"].astype(np.int64)
    days, ok_day = _ymd_to_datetime(n // 2048 + LC_YEAR_BASE, n % 2048 // 100, n % 2048 % 100)
    minute = rec["minute"].astype(np.int64)
    ok_min = minute <= 24 * 60
    problem = None
    if not (ok_day.all() and ok_min.all()):
        i = int(np.flatnonzero(~(ok_day & ok_min))[0])
        if not records:
            what = f"date {int(n[i])}" if not ok_day[i] else f"minute {int(minute[i])}"
            raise DataFormatError(f"{path}: record {i + 1} has an invalid {what}")
        problem = np.full(len(rec), None, dtype=object)
        for j in np.flatnonzero(~(ok_day & ok_min)):
            problem[j] = (f"field 'date' is {int(n[j])}, not a packed TDX date" if not ok_day[j]
                          else f"field 'minute' is {int(minute[j])}, not a time of day")
    times = days + (np.where(ok_min, minute, 0) * 60_000_000_000).astype("timedelta64[ns]")
    cols: dict[str, np.ndarray] = {k: np.round(rec[k].astype(np.float64), PRICE_DECIMALS)
                                   for k in ("open", "high", "low", "close")}
    cols["volume"] = rec["volume"].astype(np.float64) * volume_scale(ts_code)
    cols["amount"] = rec["amount"].astype(np.float64)
    codes = np.full(len(rec), ts_code, dtype=object)
    df = _frame(codes, times, cols)
    if records:
        return _with_records(df, [str(path)], np.array([len(rec)]), problem)
    return _sort_bars(df)


def scan_vipdoc(tdx_dir: str | Path, *, strict: bool = False) -> list[Path]:
    """All daily-bar files ``<tdx_dir>/vipdoc/{sh,sz,bj}/lday/*.day``, sorted by ``ts_code``.

    Args:
        tdx_dir: the TDX client folder (the one holding ``vipdoc``) or
            ``vipdoc`` itself.
        strict: raise on a ``.day`` file whose name is no market code
            (``foo.day``), as ingest does; otherwise such files are left out.

    Raises:
        DataFormatError: no ``vipdoc`` folder under ``tdx_dir``; with
            ``strict``, a ``.day`` whose name maps to no symbol (all named).
    """
    return [Path(p) for _, p in _scan_day_files(tdx_dir, strict)]


def _scan_day_files(tdx_dir: str | Path, strict: bool) -> list[tuple[str, str]]:
    """``(ts_code, path)`` of every ``.day`` file, sorted; :func:`scan_vipdoc` without ``Path`` objects.

    One ``os.scandir`` per market folder (no stat per file).

    Raises:
        DataFormatError: as :func:`scan_vipdoc`.
    """
    root = Path(tdx_dir)
    vipdoc = root if root.name.lower() == "vipdoc" else root / "vipdoc"
    if not vipdoc.is_dir():
        raise DataFormatError(f"{root}: no vipdoc folder; give the TDX client folder (the one "
                              "holding vipdoc/)")
    found: list[tuple[str, str]] = []
    strays: list[str] = []
    for market in ("sh", "sz", "bj"):
        lday = os.path.join(str(vipdoc), market, "lday")
        try:
            entries = os.scandir(lday)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            prefix = lday + os.sep
            for e in entries:
                name = e.name
                if len(name) <= 4 or name[-4:].lower() != ".day":
                    continue
                stem = name[:-4]
                if stem[:2] == market and len(stem) == 8 and stem[2:].isdigit() and stem[2:].isascii():
                    found.append((f"{stem[2:]}.{market.upper()}", prefix + name))  # the usual name
                    continue
                m = _STEM.match(stem)
                if m and (m.group(1).lower() == market or not strict):
                    found.append((f"{m.group(2)}.{m.group(1).upper()}", prefix + name))
                else:
                    strays.append(prefix + name)
    if strict and strays:
        names = ", ".join(sorted(strays))
        raise DataFormatError(
            f"{names}: .day file name(s) that name no security of this folder; expected "
            f"<market><6 digits>.day (sh600519.day under sh/lday); rename or remove them"
        )
    found.sort()
    return found


def _day_paths(tdx_dir: str | Path, ts_codes: Iterable[str] | None) -> list[Path]:
    """All ``.day`` files, or those of the selected symbols (a missing one raises)."""
    if ts_codes is None:
        return scan_vipdoc(tdx_dir)
    root = Path(tdx_dir)
    vipdoc = root if root.name.lower() == "vipdoc" else root / "vipdoc"
    paths = []
    for c in sorted({to_ts_code(s) for s in ts_codes}):
        p = vipdoc / c.split(".")[1].lower() / "lday" / f"{tdx_name(c)}.day"
        if not p.is_file():
            raise DataFormatError(f"{p}: no daily file for {c} in {root}")
        paths.append(p)
    return paths


def _rescale_segments(block: np.ndarray, allrec: np.ndarray, codes: list[str], counts: np.ndarray) -> None:
    """Fix the rows of funds (prices ÷1000) and indices (volume in lots ×100) in place."""
    ends = np.cumsum(counts)
    for code, a, b in zip(codes, ends - counts, ends, strict=True):
        ps, vs = price_scale(code), volume_scale(code)
        if ps != PRICE_SCALE_STOCK:  # exact division, as in read_day
            for i, k in enumerate(("open", "high", "low", "close")):
                np.divide(allrec[k][a:b], ps, out=block[i, a:b])
        if vs != 1.0:
            block[4, a:b] *= vs


def read_vipdoc_day(
    tdx_dir: str | Path,
    ts_codes: Iterable[str] | None = None,
    on_error: Literal["raise", "skip"] = "raise",
    progress: Callable[[int, int], None] | None = None,
    *,
    records: bool = False,
) -> pd.DataFrame:
    """Read all (or the selected) ``.day`` files of a TDX folder into one Bars frame.

    Each file is read with four system calls (:func:`_read_file`), the bytes
    are joined and decoded once and the frame is built without copies: the
    whole shared folder (5,208 files, 2.4M bars) reads in about the time of a
    bare ``np.fromfile`` loop over the same files (issue 14;
    ``benchmarks/bench_store.py`` prints both). Units as in :func:`read_day`.

    Args:
        tdx_dir: TDX client folder holding ``vipdoc``.
        ts_codes: symbols to read (any form :func:`~tzero.market.symbols.to_ts_code`
            accepts); ``None`` reads every file. A selected symbol without a
            file raises.
        on_error: ``"raise"`` (default) stops at the first bad file;
            ``"skip"`` leaves bad files out with a ``UserWarning`` naming each.
        progress: called as ``progress(files_done, files_total)`` every 100
            files and once when all are read.
        records: for ingest: rows in file order with the provenance columns
            ``source`` (the file), ``record`` (1-based in that file) and
            ``problem``; a record with an invalid date gets ``NaT`` and a
            ``problem`` instead of raising (:mod:`tzero.data.validation`).

    Returns:
        Bars frame sorted by ``(ts_code, trade_time)`` (file order with ``records``).

    Raises:
        DataFormatError: a bad file (with ``on_error="raise"``), a selected
            symbol with no ``.day`` file, nothing to read, or (without
            ``records``) a record with an invalid date, named by its file and
            its record number in that file.
    """
    if ts_codes is None:
        named = _scan_day_files(tdx_dir, strict=False)
    else:
        named = [(_code_of_stem(p.stem, p), str(p)) for p in _day_paths(tdx_dir, ts_codes)]
    recs: list[bytes] = []
    codes: list[str] = []
    kept: list[str] = []
    for i, (code, p) in enumerate(named):
        if progress and i % 100 == 0:
            progress(i, len(named))
        try:
            rec = _read_file(p)
        except DataFormatError as e:
            if on_error == "raise":
                raise
            warnings.warn(f"skipped: {e}", UserWarning, stacklevel=2)
            continue
        recs.append(rec)
        codes.append(code)
        kept.append(p)
    if progress:
        progress(len(named), len(named))
    if not recs:
        raise DataFormatError(f"{tdx_dir}: no readable .day files")
    counts = np.fromiter((len(r) // RECORD_SIZE for r in recs), dtype=np.int64, count=len(recs))
    allrec = np.frombuffer(b"".join(recs), dtype=DAY_DTYPE)
    dates = allrec["date"]
    times, ok = _yyyymmdd_lenient(dates)
    if not ok.all() and not records:
        i = int(np.flatnonzero(~ok)[0])
        f = int(np.searchsorted(np.cumsum(counts), i, side="right"))
        raise DataFormatError(f"{kept[f]}: record {i - int(counts[:f].sum()) + 1} has an invalid "
                              f"date {int(dates[i])}")
    code_col = np.repeat(np.array(codes, dtype=object), counts)
    block = _day_columns(allrec, PRICE_SCALE_STOCK, 1.0)
    _rescale_segments(block, allrec, codes, counts)
    df = _frame(code_col, times, block)
    if records:
        return _with_records(df, kept, counts, _date_problems(dates, ok))
    # paths come sorted by ts_code; within a file TDX writes dates ascending
    first = np.zeros(len(dates), dtype=bool)
    first[np.cumsum(counts)[:-1]] = True
    ordered = bool(np.all((dates[1:] > dates[:-1]) | first[1:]))
    ordered &= codes == sorted(codes)
    return _sort_bars(df, known_sorted=ordered)


def read_tdx_file(path: str | Path) -> pd.DataFrame:
    """Read any TDX bar file by its suffix: ``.day`` → :func:`read_day`, ``.lc1``/``.lc5`` → :func:`read_lc`, ``.txt`` → :func:`read_export_txt`.

    Raises:
        DataFormatError: unknown suffix, or whatever the chosen reader raises.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".day":
        return read_day(p)
    if suffix in _BINARY_SUFFIXES:
        return read_lc(p)
    if suffix == ".txt":
        return read_export_txt(p)
    raise DataFormatError(f"{p}: unknown TDX file type {suffix!r}; expected .day, .lc1, .lc5 or .txt")
