"""Table I/O and column parsing shared by the table readers (:mod:`tzero.data.tables`).

Reads CSV (plain, gzipped, a zip holding one CSV; UTF-8, UTF-8 with BOM or GBK)
or Parquet by extension, and parses columns (numbers, dates, symbols) naming
the file and the 1-based data row of the first value that does not parse.

Readers called with ``records=True`` (ingest) pass a :class:`RowFaults`: a
value that does not parse is then noted for its row instead of raised, and
the row becomes a row error of :mod:`tzero.data.validation` (refused by
default, skipped with ``--skip-bad-rows``).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tzero.data.validation import PROVENANCE
from tzero.errors import CalendarError, DataFormatError
from tzero.market import calendar
from tzero.market.symbols import to_ts_code

#: ``ts_code`` given to a row whose symbol does not parse (the row is refused).
UNKNOWN_CODE = "?"


class RowFaults:
    """Per-row notes of values that did not parse, collected instead of raised.

    Args:
        n: rows of the table (in file order).

    Attributes:
        text: object array, the first problem of each row (None where none).
    """

    def __init__(self, n: int) -> None:
        self.text = np.full(n, None, dtype=object)
        self.noted = False

    def add(self, mask: np.ndarray, describe: Callable[[int], str]) -> None:
        """Note ``describe(i)`` for every row ``i`` in ``mask`` that has no note yet."""
        for i in np.flatnonzero(np.asarray(mask, dtype=bool) & pd.isna(self.text)):
            self.text[i] = describe(int(i))
            self.noted = True


def fail(path: Path, mask: np.ndarray, col: str, values: pd.Series, faults: RowFaults | None) -> None:
    """Raise for the first row in ``mask`` (no ``faults``) or note every one of them.

    ``col`` names the column, optionally followed by a hint: ``"direction
    (expected B, S or N)"``.

    Raises:
        DataFormatError: ``faults`` is None; names the file, row, column and value.
    """
    if faults is None:
        raise bad_row(path, mask, col, values)
    name, _, rest = col.partition(" (")
    hint = f" ({rest}" if rest else ""
    faults.add(mask, lambda i: f"field {name!r} is {values.iloc[i]!r}, which does not parse{hint}")


def _constant(text: str) -> Callable[[int], str]:
    """A describer for :meth:`RowFaults.add` that gives every row the same note."""
    def describe(_i: int) -> str:
        return text
    return describe


def provenance(path: Path, faults: RowFaults | None, n: int) -> dict[str, Any]:
    """The provenance columns of a table read with ``records=True`` (empty dict otherwise).

    ``source`` is a one-category Categorical (cheap on millions of rows);
    ``problem`` is present only when some value was noted.
    """
    if faults is None:
        return {}
    cols: dict[str, Any] = {
        "source": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[str(path)]),
        "record": np.arange(1, n + 1, dtype=np.int64)}
    if faults.noted:
        cols["problem"] = faults.text
    return cols


_CSV_SUFFIXES = (".csv", ".txt", ".csv.gz", ".zip")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_ENCODINGS = ("utf-8-sig", "gbk")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in _PARQUET_SUFFIXES + _CSV_SUFFIXES:
        if name.endswith(s):
            return s
    return path.suffix.lower()


def _csv_bytes(path: Path) -> bytes:
    """The raw CSV bytes of a plain, gzipped or single-member zip file."""
    suffix = _suffix(path)
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if not n.endswith("/")]
                if len(members) != 1:
                    raise DataFormatError(
                        f"{path}: zip holds {len(members)} files; expected exactly one CSV"
                    )
                return zf.read(members[0])
        except zipfile.BadZipFile as e:
            raise DataFormatError(f"{path}: not a zip file ({e})") from None
    if suffix == ".csv.gz":
        import gzip

        return gzip.decompress(path.read_bytes())
    return path.read_bytes()


def _decode(path: Path, raw: bytes) -> str:
    for enc in _ENCODINGS:
        try:
            return raw.decode(enc)
        except UnicodeDecodeError as e:
            err = e
    line = raw.count(b"\n", 0, err.start) + 1
    raise DataFormatError(
        f"{path}: line {line}: text is neither UTF-8 nor GBK ({err.reason}); "
        "save the file as UTF-8"
    )


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet table by extension, columns as stored (CSV values as text).

    Args:
        path: ``.csv``/``.txt``/``.csv.gz``/``.zip`` (one CSV inside) or
            ``.parquet``/``.pq``.

    Returns:
        The raw frame; CSV column names are stripped of spaces and ``<>``.

    Raises:
        DataFormatError: missing file, unknown extension, unreadable bytes,
            or a table with no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    suffix = _suffix(path)
    if suffix in _PARQUET_SUFFIXES:
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises ArrowInvalid/OSError on junk
            raise DataFormatError(f"{path}: not a readable Parquet file ({e})") from None
    elif suffix in _CSV_SUFFIXES:
        text = _decode(path, _csv_bytes(path))
        if not text.strip():
            raise DataFormatError(f"{path}: empty file")
        try:
            df = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True,
                             keep_default_na=False, na_values=[""])
        except pd.errors.ParserError as e:
            raise DataFormatError(f"{path}: malformed CSV ({e})") from None
        df.columns = [str(c).strip().strip("<>").strip() for c in df.columns]
    else:
        raise DataFormatError(
            f"{path}: unknown table type {suffix!r}; expected .csv, .csv.gz, .zip or .parquet"
        )
    if df.empty:
        raise DataFormatError(f"{path}: table has no rows")
    return df


def require_columns(path: Path, df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    """Raise naming the file, the missing columns and those found.

    Raises:
        DataFormatError: a column of ``cols`` is absent (a file-level error).
    """
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataFormatError(
            f"{path}: missing column(s) {', '.join(missing)} for a {what} table; "
            f"found {', '.join(map(str, df.columns))}"
        )


def bad_row(path: Path, mask: np.ndarray, col: str, values: pd.Series) -> DataFormatError:
    """The error for the first row in ``mask``: file, 1-based data row, column and value."""
    i = int(np.flatnonzero(mask)[0])
    return DataFormatError(
        f"{path}: row {i + 1}: cannot parse {col}={values.iloc[i]!r}"
    )


def parse_numeric(path: Path, df: pd.DataFrame, col: str, faults: RowFaults | None = None) -> np.ndarray:
    """Column as float64; a value present but not a number raises (or is noted), empty stays NaN.

    ``inf``/``-inf`` parse (and are refused later by validation); ``nan`` text does not.
    """
    s = df[col]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.to_numpy(np.float64, na_value=np.nan)
    out = pd.to_numeric(s, errors="coerce")
    bad = out.isna().to_numpy() & s.notna().to_numpy()
    if bad.any():
        fail(path, bad, col, s, faults)
    return out.to_numpy(np.float64, na_value=np.nan)


def parse_datetimes(path: Path, s: pd.Series, col: str, fmt: str | None = None,
               faults: RowFaults | None = None) -> np.ndarray:
    """Parse a date/time column (unique values parsed once); unparseable or empty raises.

    With ``faults`` such rows are noted and get NaT, and the calendar range is
    left to validation (a row error there too).
    """
    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
        out = s.to_numpy("datetime64[ns]")
        bad = np.isnat(out)
    else:
        codes, uniques = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=True)
        parsed = pd.to_datetime(pd.Series(uniques, dtype=object).str.strip(), format=fmt,
                                errors="coerce")
        table = parsed.to_numpy("datetime64[ns]")
        out = np.where(codes >= 0, table[np.maximum(codes, 0)], np.datetime64("NaT", "ns"))
        bad = np.isnat(out)
    if bad.any():
        fail(path, bad, col, s, faults)
    if faults is None:
        check_calendar(path, out, col)
    return out


def check_calendar(path: Path, times: np.ndarray, col: str) -> None:
    """Raise CalendarError naming the file and 1-based data row of the first date outside XSHG.

    Checked here, on the rows in file order, so the row number points into the file
    (later steps sort the frame).
    """
    sess = calendar.all_sessions()
    lo = sess[0].to_datetime64()
    hi = (sess[-1] + pd.Timedelta(days=1)).to_datetime64()
    bad = (times < lo) | (times >= hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CalendarError(
            f"{path}: row {i + 1}: {col} {pd.Timestamp(times[i]).date()} is outside the XSHG "
            f"calendar ({sess[0].date()} .. {sess[-1].date()})"
        )


def parse_ts_codes(path: Path, s: pd.Series, col: str, faults: RowFaults | None = None) -> pd.Categorical:
    """Map a symbol column to ``ts_code`` (each distinct value parsed once).

    Returns a Categorical whose categories are the sorted ``ts_code`` values, so
    the caller can sort by its integer codes instead of by strings. With
    ``faults`` a missing or unknown symbol is noted and mapped to :data:`UNKNOWN_CODE`.
    """
    codes, uniques = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=True)
    if (codes < 0).any():
        fail(path, codes < 0, col, s, faults)
    mapped = []
    for j, u in enumerate(uniques):
        try:
            mapped.append(to_ts_code(str(u)))
        except ValueError as e:
            if faults is None:
                row = int(np.flatnonzero(codes == j)[0])
                raise DataFormatError(f"{path}: row {row + 1}: {col}: {e}") from None
            faults.add(codes == j, _constant(f"field {col!r}: {e}"))
            mapped.append(UNKNOWN_CODE)
    if (codes < 0).any():
        mapped.append(UNKNOWN_CODE)
        codes = np.where(codes < 0, len(mapped) - 1, codes)
    cats = np.array(sorted(set(mapped)), dtype=object)
    rank = np.searchsorted(cats, np.array(mapped, dtype=object))
    return pd.Categorical.from_codes(rank[codes], categories=cats)


def sort_rows(out: pd.DataFrame, codes: pd.Categorical, tcol: str, columns: list[str],
            dedupe: bool = False) -> pd.DataFrame:
    """Sort by (ts_code, time) on integer keys (stable); ``ts_code`` becomes plain str.

    With ``dedupe`` rows repeating an earlier (ts_code, time) key are dropped
    (the last one is kept). Provenance columns present in ``out`` travel along.
    """
    columns = columns + [c for c in PROVENANCE if c in out.columns and c not in columns]
    key_code = np.asarray(codes.codes, dtype=np.int64)
    key_time = out[tcol].to_numpy("datetime64[ns]").view(np.int64)
    sort = np.lexsort((key_time, key_code))
    order: np.ndarray | None = sort
    if np.array_equal(sort, np.arange(len(sort))):
        order = None
    else:
        key_code, key_time = key_code[order], key_time[order]
    if dedupe and len(key_code) > 1:
        last = np.ones(len(key_code), dtype=bool)
        last[:-1] = (key_code[1:] != key_code[:-1]) | (key_time[1:] != key_time[:-1])
        if not last.all():
            order = np.flatnonzero(last) if order is None else order[last]
            key_code = key_code[last]
    data = {"ts_code": np.asarray(codes.categories, dtype=object)[key_code]}
    for c in columns[1:]:
        col = out[c]
        if isinstance(col.dtype, pd.CategoricalDtype):  # provenance "source": keep it categorical
            data[c] = col.array if order is None else col.array.take(order)
            continue
        v = col.to_numpy()
        data[c] = v if order is None else v[order]
    return pd.DataFrame(data, columns=columns)
