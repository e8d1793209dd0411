"""Symbol parsing: every form users paste → the canonical Tushare ``ts_code``.

Accepted forms (DESIGN.md "Data contracts"):
``600519.SH``, ``sh600519``, ``SH600519``, ``SH#600519`` (TDX export),
``600519.XSHG`` / ``000001.XSHE`` (JoinQuant/exchange MIC style), ``bj430047``,
and a bare 6-digit ``600519`` when its prefix names one exchange.

Exchange by code prefix (SSE/SZSE/BSE code allocation rules):
    SH: 60 (main), 68 (STAR), 90 (B), 5x (funds/ETFs), 11 (bonds)
    SZ: 00 (main), 30 (ChiNext), 20 (B), 15/16/18 (funds/ETFs), 12 (bonds), 399 (indices)
    BJ: 43, 83, 87, 92
A bare ``000xxx`` is the Shenzhen stock by the universal convention (``000001``
is 平安银行); the SSE index of the same digits must be written ``000001.SH`` or
``sh000001``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tzero.errors import SymbolError

EXCHANGES = ("SH", "SZ", "BJ")
_MIC = {"XSHG": "SH", "XSHE": "SZ", "XBSE": "BJ", "BJSE": "BJ", "SS": "SH"}

_ACCEPTED = "expected one of 600519.SH, sh600519, SH600519, 600519.XSHG or 600519"

_SUFFIX = re.compile(r"^(\d{6})\.([A-Z]{2,4})$")
_PREFIX = re.compile(r"^(SH|SZ|BJ)#?(\d{6})$")
_BARE = re.compile(r"^\d{6}$")

_SH_PREFIXES = ("60", "68", "90", "50", "51", "52", "56", "58", "11")
_SZ_PREFIXES = ("00", "30", "20", "15", "16", "18", "12", "399")
_BJ_PREFIXES = ("43", "83", "87", "92")


def exchange_of(code: str) -> str | None:
    """Exchange a bare 6-digit code belongs to by its prefix, or None if unknown.

    ``399xxx`` is checked before ``3x`` so Shenzhen indices resolve to SZ.
    """
    for ex, prefixes in (("SZ", _SZ_PREFIXES), ("SH", _SH_PREFIXES), ("BJ", _BJ_PREFIXES)):
        if code.startswith(prefixes):
            return ex
    return None


def to_ts_code(symbol: str) -> str:
    """Parse one user-supplied symbol into a ``ts_code`` like ``600519.SH``.

    Args:
        symbol: any accepted form (see module docstring); case and surrounding
            whitespace are ignored.

    Returns:
        The canonical ``ts_code``.

    Raises:
        SymbolError: unknown form, unknown prefix (ambiguous exchange), or an
            explicit exchange that cannot be right is not caught here — an
            explicit suffix is trusted because indices share digits across
            exchanges (``000001.SH`` is the SSE Composite index).
    """
    if not isinstance(symbol, str):
        raise SymbolError(f"symbol must be text, got {type(symbol).__name__}: {_ACCEPTED}")
    s = symbol.strip().upper()
    m = _SUFFIX.match(s)
    if m:
        code, ex = m.groups()
        ex = _MIC.get(ex, ex)
        if ex not in EXCHANGES:
            raise SymbolError(f"unknown exchange suffix in {symbol!r}: {_ACCEPTED}")
        return f"{code}.{ex}"
    m = _PREFIX.match(s)
    if m:
        ex, code = m.groups()
        return f"{code}.{ex}"
    if _BARE.match(s):
        ex = exchange_of(s)
        if ex is None:
            raise SymbolError(
                f"ambiguous symbol {symbol!r}: code prefix {s[:2]} names no exchange; "
                f"add one, e.g. {s}.SH or sz{s}"
            )
        return f"{s}.{ex}"
    raise SymbolError(f"unknown symbol {symbol!r}: {_ACCEPTED}")


def to_ts_codes(symbols: Iterable[str]) -> list[str]:
    """Parse many symbols (comma-separated strings are split); order kept, duplicates dropped.

    Raises:
        SymbolError: on the first symbol that does not parse.
    """
    out: list[str] = []
    for item in symbols:
        for part in str(item).split(","):
            if part.strip():
                c = to_ts_code(part)
                if c not in out:
                    out.append(c)
    return out


def tdx_name(ts_code: str) -> str:
    """The TDX file stem of a ``ts_code``: ``600519.SH`` → ``sh600519``."""
    code, ex = ts_code.split(".")
    return f"{ex.lower()}{code}"


def board_of(ts_code: str) -> str:
    """Trading board: ``main``, ``chinext``, ``star``, ``bse``, ``index`` or ``fund``.

    Used for price-limit and lot rules (SSE/SZSE/BSE trading rules). Index codes
    are recognised by the SSE ``000xxx.SH`` and SZSE ``399xxx.SZ`` ranges.
    """
    code, ex = ts_code.split(".")
    if ex == "BJ":
        return "bse"
    if ex == "SH":
        if code.startswith("000"):
            return "index"
        if code.startswith("68"):
            return "star"
        if code.startswith(("5", "11")):
            return "fund"
        return "main"
    if code.startswith("399"):
        return "index"
    if code.startswith("30"):
        return "chinext"
    if code.startswith(("15", "16", "18", "12")):
        return "fund"
    return "main"


def is_stock(ts_code: str) -> bool:
    """True for A-share stocks (not indices, funds or bonds)."""
    return board_of(ts_code) in {"main", "chinext", "star", "bse"}
