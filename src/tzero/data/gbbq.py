"""The TDX corporate-action file ``T0002/hq_cache/gbbq`` (股本变迁) and adj_factor from it.

A TDX client keeps every listed security's corporate actions in one encrypted
file. Decoding it lets a user who has only a TDX folder read ``qfq``/``hfq``
prices: :func:`factors_for_ingest` turns its ex-rights events into a cumulative
backward ``adj_factor`` of the same form as Tushare's (``ts_code, trade_date,
adj_factor``, hfq = raw × factor), stored as the ``adj_factor_gbbq`` dataset
and used for symbols that have no Tushare ``adj_factor``
(:func:`tzero.data.bars.read_adj_factor`).

**Format** (as documented by pytdx's ``pytdx.reader.GbbqReader``, and checked
here record for record against it): a little-endian ``uint32`` record
count, then 29-byte records. The first 24 bytes of a record are three 8-byte
blocks encrypted with 16-round Blowfish (little-endian words) under a fixed key
schedule that TDX ships; the last 5 bytes are clear. The clear record is
``<B7sIBffff``: market (0 SZ, 1 SH, 2 BJ), code (6 ASCII digits, NUL padded),
date ``YYYYMMDD``, category, and four float32 values whose meaning depends on
the category:

* 1 除权除息: cash dividend (CNY per 10 shares), rights-issue price (CNY), bonus
  and conversion shares per 10 shares (送转股), rights shares per 10 (配股);
* 11 扩缩股 (splits and reverse splits, mostly of funds): the third value is
  the share multiplier (510050 on 2005-02-17: 1.183841);
* 2–10, 12–14: share-capital changes (float/total shares before and after, in
  10,000 shares) and the 2005–06 warrant distributions; ignored here.

**Decision: pytdx for the key table, our decoder for the bytes.** The key
schedule (18 P words + 4×256 S-box words, 4,176 bytes) was dumped from the TDX
client; no public key derives it, so it must come from a package that ships it
rather than be pasted here. pytdx 1.72 (PyPI; needs click, pandas, six and
cryptography, no gevent) ships it as ``GbbqReader.hexdump_keys``. Its own
decoder loops in pure Python over every byte (12 s for the 104,454 records of the
shared file); the same Feistel rounds vectorised in NumPy over all blocks at
once take 0.08 s and give identical records (``tests/data/test_gbbq.py``).
mootdx / tdxpy (PyPI) carry no gbbq reader, and mootdx pulls a V8 engine.

**Factor rule** (SSE and SZSE trading rules, 除权(息)参考价): on an ex-date with
previous close ``P``, cash ``c``, bonus ``b``, rights ``r`` at price ``p`` (all
per 10 shares), the reference price is
``ref = (P − c/10 + p·r/10) / (1 + b/10 + r/10)``, rounded to the exchange tick
(0.01 CNY for stocks, 0.001 for funds); a split by ``k`` gives ``ref = P / k``.
The backward factor steps by ``P / ref`` on the first stored bar on or after the
ex-date (a suspension on the ex-date moves the step to the next session), and
is 1.0 on each symbol's first stored bar: the level differs from Tushare's
(which counts from listing), the ratios — hence qfq prices — do not. A reverse
split makes the factor fall; reads keep such falls for gbbq factors (for
Tushare's a fall is a source defect and is repaired, see
:func:`tzero.data.bars.apply_adjust`). A factor on date d uses only events dated
on or before d and closes before d (no look-ahead).
The file is as current as the client's last download: events after its last
record are unknown and the factor stays flat past it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from tzero.data.store import MarketStore
from tzero.data.tdx import price_scale
from tzero.errors import DataFormatError, TzeroError
from tzero.market.symbols import board_of

#: Where the file lives inside a TDX client folder.
GBBQ_RELPATH = Path("T0002") / "hq_cache" / "gbbq"
#: Dataset the derived factors are stored in (its name records the source).
GBBQ_DATASET = "adj_factor_gbbq"
RECORD_SIZE = 29
ENCRYPTED_BYTES = 24
#: One clear record: ``<B7sIBffff``.
RECORD_DTYPE = np.dtype({
    "names": ["market", "code", "date", "category", "v1", "v2", "v3", "v4"],
    "formats": ["u1", "S7", "<u4", "u1", "<f4", "<f4", "<f4", "<f4"],
    "offsets": [0, 1, 8, 12, 13, 17, 21, 25],
    "itemsize": RECORD_SIZE,
})
#: Market byte → exchange suffix (as in tdxhy.cfg).
MARKETS = {0: "SZ", 1: "SH", 2: "BJ"}
CATEGORY_EX_RIGHTS = 1   # 除权除息
CATEGORY_SPLIT = 11      # 扩缩股
#: float32 values are rounded to 6 decimals to drop float32 noise (0.55 → 0.550000011920929).
VALUE_DECIMALS = 6
#: Half-up rounding of a reference price to its tick, with a margin for binary
#: fractions (3.07 − 0.055 = 3.0149999… must round to 3.02, as the exchange does).
_HALF_UP_EPS = 1e-9
#: Quantities of category 1 are per 10 shares.
PER_SHARES = 10.0
_BLOWFISH_ROUNDS = 16

GBBQ_COLUMNS = ["ts_code", "date", "category", "v1", "v2", "v3", "v4"]
EVENT_COLUMNS = ["ts_code", "ex_date", "category", "cash", "rights_price", "bonus", "rights", "split"]
FACTOR_COLUMNS = ["ts_code", "trade_date", "adj_factor"]


@lru_cache(maxsize=1)
def key_schedule() -> tuple[np.ndarray, np.ndarray]:
    """TDX's Blowfish key schedule for gbbq, from pytdx (see the module docstring).

    Returns:
        ``(P, S)``: P-array ``uint32[18]`` and S-boxes ``uint32[4, 256]``.

    Raises:
        TzeroError: pytdx is not installed.
    """
    try:
        from pytdx.reader.gbbq_reader import GbbqReader
    except ImportError as exc:  # pragma: no cover - pytdx is a core dependency
        raise TzeroError("decoding T0002/hq_cache/gbbq needs pytdx (its key table): "
                         "pip install 'pytdx>=1.72'") from exc
    words = np.frombuffer(bytes.fromhex(GbbqReader.hexdump_keys), dtype="<u4")
    p = words[:18].copy()
    s = words[18:18 + 4 * 256].reshape(4, 256).copy()
    return p, s


def _decrypt_blocks(blocks: np.ndarray) -> np.ndarray:
    """Blowfish-decrypt 8-byte blocks given as little-endian word pairs.

    Args:
        blocks: ``uint32[n, 2]`` (left, right word of each block).

    Returns:
        ``uint32[n, 2]`` clear words, same layout.
    """
    p, s = key_schedule()
    left = blocks[:, 0] ^ p[_BLOWFISH_ROUNDS + 1]
    right = blocks[:, 1].copy()
    for j in range(_BLOWFISH_ROUNDS, 0, -1):  # uint32 arithmetic wraps mod 2**32
        f = ((s[0][left >> 24] + s[1][(left >> 16) & 0xFF]) ^ s[2][(left >> 8) & 0xFF]) \
            + s[3][left & 0xFF]
        left, right = right ^ f ^ p[j], left
    out = np.empty_like(blocks)
    out[:, 0] = right ^ p[0]
    out[:, 1] = left
    return out


def decode(data: bytes, source: str = "gbbq") -> np.ndarray:
    """Decrypt the bytes of a gbbq file into clear records.

    Args:
        data: the whole file.
        source: name used in error messages.

    Returns:
        Structured array of :data:`RECORD_DTYPE`, one row per record, in file order.

    Raises:
        DataFormatError: the size is not ``4 + 29 × count``.
    """
    if len(data) < 4:
        raise DataFormatError(f"{source}: {len(data)} bytes, too short for a gbbq file")
    n = int(np.frombuffer(data[:4], dtype="<u4")[0])
    if len(data) != 4 + RECORD_SIZE * n:
        raise DataFormatError(f"{source}: {len(data)} bytes do not hold the {n} records of "
                              f"{RECORD_SIZE} bytes its header announces; the file is truncated "
                              "or not a TDX gbbq file (copy it again from the client's T0002/hq_cache)")
    rec = np.frombuffer(data, dtype=np.uint8, offset=4).reshape(n, RECORD_SIZE)
    words = np.ascontiguousarray(rec[:, :ENCRYPTED_BYTES]).view("<u4").reshape(-1, 2)
    clear = np.concatenate([_decrypt_blocks(words).view(np.uint8).reshape(n, ENCRYPTED_BYTES),
                            rec[:, ENCRYPTED_BYTES:]], axis=1)
    return np.ascontiguousarray(clear).view(RECORD_DTYPE).reshape(n)


def read_gbbq(path: str | Path) -> pd.DataFrame:
    """Read a TDX gbbq file into one row per corporate-action record.

    Args:
        path: the ``gbbq`` file (``<tdx_dir>/T0002/hq_cache/gbbq``).

    Returns:
        Frame with :data:`GBBQ_COLUMNS`: ``ts_code`` (``600519.SH``), ``date``
        (datetime64, midnight), ``category`` (int), ``v1..v4`` (float64, rounded
        to 6 decimals; meaning by category, see the module docstring). Records of an unknown market or a
        code that is not six digits are dropped. Sorted by ``(ts_code, date)``,
        file order kept within a day.

    Raises:
        DataFormatError: bad size, or records that do not decode to dates and
            categories (a damaged file or a changed key).
    """
    path = Path(path)
    rec = decode(path.read_bytes(), str(path))
    code = np.char.decode(np.char.rstrip(rec["code"], b"\x00"), "ascii", "replace")
    mkt = pd.Series(rec["market"]).map(MARKETS)
    keep = mkt.notna().to_numpy() & np.char.isdigit(code) & (np.char.str_len(code) == 6)
    dates = pd.to_datetime(pd.Series(rec["date"]).astype(str), format="%Y%m%d", errors="coerce")
    bad = keep & (dates.isna().to_numpy() | (rec["category"] < 1) | (rec["category"] > 30))
    if keep.sum() == 0 or bad.sum() > 0.01 * keep.sum():
        raise DataFormatError(f"{path}: {int(bad.sum())} of {len(rec)} records do not decode to a "
                              "date and category; the file is damaged or not a TDX gbbq file")
    keep &= ~bad
    out = pd.DataFrame({
        "ts_code": pd.Series(code[keep]) + "." + mkt[keep].to_numpy(),
        "date": dates[keep].to_numpy(dtype="datetime64[ns]"),
        "category": rec["category"][keep].astype(np.int64),
        **{v: np.round(rec[v][keep].astype(np.float64), VALUE_DECIMALS) for v in ("v1", "v2", "v3", "v4")},
    })
    return out.sort_values(["ts_code", "date"], kind="stable").reset_index(drop=True)[GBBQ_COLUMNS]


def ex_rights_events(gb: pd.DataFrame) -> pd.DataFrame:
    """The price-moving records of a gbbq frame: ex-rights/dividends and splits.

    Args:
        gb: :func:`read_gbbq` output.

    Returns:
        Frame with :data:`EVENT_COLUMNS`: ``cash`` (CNY per 10 shares),
        ``rights_price`` (CNY), ``bonus`` and ``rights`` (shares per 10) for
        category 1; ``split`` (share multiplier) for category 11, else 1.0.
        Sorted by ``(ts_code, ex_date)``.
    """
    ev = gb.loc[gb["category"].isin([CATEGORY_EX_RIGHTS, CATEGORY_SPLIT])]
    one = ev["category"].to_numpy() == CATEGORY_EX_RIGHTS
    out = pd.DataFrame({
        "ts_code": ev["ts_code"].to_numpy(),
        "ex_date": ev["date"].to_numpy(),
        "category": ev["category"].to_numpy(),
        "cash": np.where(one, ev["v1"], 0.0),
        "rights_price": np.where(one, ev["v2"], 0.0),
        "bonus": np.where(one, ev["v3"], 0.0),
        "rights": np.where(one, ev["v4"], 0.0),
        "split": np.where(one, 1.0, ev["v3"]),
    })
    return out.reset_index(drop=True)


def reference_coefficients(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each event's ex-rights reference price as an affine map ``ref = a·P + c`` of the price before.

    SSE/SZSE 除权(息)参考价: ``(P − cash/10 + rights_price·rights/10) / (1 + bonus/10 +
    rights/10)`` for category 1, ``P / split`` for category 11. Being affine, events
    that fall on the same session compose exactly, in date order.

    Args:
        events: :func:`ex_rights_events` rows.

    Returns:
        ``(a, c)`` float64 arrays of ``len(events)``; ``a`` is NaN for a
        non-positive split or share ratio.
    """
    split = events["category"].to_numpy() == CATEGORY_SPLIT
    denom = np.where(split, events["split"], 1.0 + (events["bonus"] + events["rights"]) / PER_SHARES)
    denom = np.where(denom > 0, denom, np.nan)
    c = (events["rights_price"] * events["rights"] - events["cash"]).to_numpy() / PER_SHARES
    return 1.0 / denom, np.where(split, 0.0, c / denom)


def factors_from_events(daily: pd.DataFrame, events: pd.DataFrame, *,
                        round_to_tick: bool = True) -> pd.DataFrame:
    """Cumulative backward adj_factor on every daily bar from ex-rights events.

    Args:
        daily: unadjusted daily Bars (``ts_code, trade_time, close``; CNY).
        events: :func:`ex_rights_events` output (other symbols are ignored).
        round_to_tick: round each reference price half-up to the exchange tick,
            as the exchanges publish it (False: the exact formula value).

    Returns:
        Frame with :data:`FACTOR_COLUMNS`, one row per bar: ``trade_date``
        (datetime64, midnight), ``adj_factor`` (float64, 1.0 on each symbol's
        first bar, times ``prev_close / ref`` from the first bar on or after
        each ex-date; see the module docstring). Events on or before a symbol's
        first bar or after its last bar, and events whose reference price is not
        positive, are skipped. Sorted by ``(ts_code, trade_date)``.
    """
    b = daily[["ts_code", "trade_time", "close"]].sort_values(["ts_code", "trade_time"], kind="stable")
    codes = pd.Categorical(b["ts_code"])            # categories sorted: ids follow the bar order
    bar_id = codes.codes.astype(np.int64)
    dates = pd.DatetimeIndex(b["trade_time"]).normalize().to_numpy()
    close = b["close"].to_numpy(dtype=np.float64)
    ev = events.loc[events["ts_code"].isin(codes.categories)]
    ev_id = pd.Categorical(ev["ts_code"], categories=codes.categories).codes.astype(np.int64)
    day = dates.astype("datetime64[D]").astype(np.int64)
    ev_day = ev["ex_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    span = 1 + max(int(np.abs(day).max(initial=0)), int(np.abs(ev_day).max(initial=0)))
    pos = np.searchsorted(bar_id * 2 * span + day, ev_id * 2 * span + ev_day, side="left")
    lo, hi = np.searchsorted(bar_id, ev_id, "left"), np.searchsorted(bar_id, ev_id, "right")
    inside = (pos > lo) & (pos < hi)                 # a bar before it, and a bar on/after it
    a, c = reference_coefficients(ev)
    order = np.lexsort((ev_day[inside], pos[inside]))  # same session: date order, then file order
    pos_s, a_s, c_s = pos[inside][order], a[inside][order], c[inside][order]
    at, first, n = np.unique(pos_s, return_index=True, return_counts=True)
    big_a, big_c = a_s[first].copy(), c_s[first].copy()
    for k in np.flatnonzero(n > 1):                  # compose the maps of one session's events
        for j in range(first[k] + 1, first[k] + n[k]):
            big_a[k], big_c[k] = a_s[j] * big_a[k], a_s[j] * big_c[k] + c_s[j]
    prev = close[at - 1]
    ref = big_a * prev + big_c
    if round_to_tick:
        tick = 1.0 / np.array([price_scale(str(codes.categories[i])) for i in bar_id[at]])
        ref = np.floor(ref / tick + 0.5 + _HALF_UP_EPS) * tick
    ok = np.isfinite(ref) & (ref > 0)
    step = np.ones(len(b))
    step[at[ok]] = prev[ok] / ref[ok]
    factor = pd.Series(step).groupby(bar_id).cumprod().to_numpy()
    return pd.DataFrame({"ts_code": b["ts_code"].to_numpy(), "trade_date": dates.astype("datetime64[ns]"),
                         "adj_factor": factor})


@dataclass(frozen=True)
class GbbqFactors:
    """Factors derived from one gbbq file for an ingest.

    Attributes:
        factors: :data:`FACTOR_COLUMNS` rows for :data:`GBBQ_DATASET`.
        symbols: how many symbols got factors.
        as_of: date of the file's newest record (events after it are unknown).
    """

    factors: pd.DataFrame
    symbols: int
    as_of: pd.Timestamp | None

    def note(self) -> str:
        """One line for the ingest summary."""
        when = f" (its records end {self.as_of.date()}; later actions are unknown)" if self.as_of else ""
        n = f"{self.symbols} symbol{'' if self.symbols == 1 else 's'}"
        return f"adj_factor from T0002/hq_cache/gbbq for {n} without a stored adj_factor{when}"


def factors_for_ingest(store: MarketStore, path: str | Path, daily: pd.DataFrame) -> GbbqFactors:
    """Factors for the daily bars' symbols that have no Tushare adj_factor in the store.

    Only symbols the gbbq file lists (any category) get factors — 1.0 throughout
    when it records no ex-rights event in their bars' range; indices never do.
    Symbols with a stored Tushare ``adj_factor`` are left to it.

    Args:
        store: the market store (read for the symbols that already have a factor).
        path: the gbbq file.
        daily: the unadjusted daily Bars being ingested.

    Returns:
        :class:`GbbqFactors`.

    Raises:
        DataFormatError: the gbbq file does not decode (see :func:`read_gbbq`).
    """
    gb = read_gbbq(path)
    tushare = set(store.symbols("adj_factor")) if store.has("adj_factor") else set()
    listed = set(gb["ts_code"])
    codes = [c for c in pd.unique(daily["ts_code"])
             if c in listed and c not in tushare and board_of(c) != "index"]
    f = factors_from_events(daily.loc[daily["ts_code"].isin(codes)], ex_rights_events(gb))
    as_of = pd.Timestamp(gb["date"].max()) if len(gb) else None
    return GbbqFactors(f, len(codes), as_of)


def qfq_ratio_errors(factors: pd.DataFrame, reference: pd.DataFrame,
                     until: pd.Timestamp | None = None) -> pd.DataFrame:
    """How far qfq-normalised factors are from a reference on the dates both have.

    Each source is divided by its own factor on the symbol's last common date on
    or before ``until`` (qfq as seen that day), so the two levels need not agree
    (gbbq factors start at 1.0, Tushare's at listing).

    Args:
        factors, reference: :data:`FACTOR_COLUMNS` frames (e.g. gbbq-derived and
            ``reference/adj_factor.parquet`` read by
            :func:`tzero.data.tables.read_adj_factor_table`).
        until: last date compared (e.g. the gbbq file's newest record); None: all.

    Returns:
        Frame ``ts_code, trade_date, rel_error`` with
        ``|(f/f_anchor) / (r/r_anchor) − 1|`` (decimal) per common pair.
    """
    m = factors.merge(reference, on=["ts_code", "trade_date"], suffixes=("_f", "_r"))
    if until is not None:
        m = m.loc[m["trade_date"] <= until]
    last = m.groupby("ts_code")["trade_date"].transform("max")
    anchor = m.loc[m["trade_date"] == last].set_index("ts_code")
    rf = m["adj_factor_f"] / m["ts_code"].map(anchor["adj_factor_f"])
    rr = m["adj_factor_r"] / m["ts_code"].map(anchor["adj_factor_r"])
    out = m[["ts_code", "trade_date"]].assign(rel_error=(rf / rr - 1.0).abs().to_numpy())
    return out.reset_index(drop=True)


__all__ = [
    "GBBQ_RELPATH", "GBBQ_DATASET", "RECORD_DTYPE", "GbbqFactors", "key_schedule", "decode",
    "read_gbbq", "ex_rights_events", "reference_coefficients", "factors_from_events", "factors_for_ingest", "qfq_ratio_errors",
]
