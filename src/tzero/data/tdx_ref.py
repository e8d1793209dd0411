"""Reference data from a TDX client folder: industry classification and share capital.

Files (``<tdx_dir>/T0002/hq_cache``):

* ``tdxhy.cfg`` — one line per security, ``market|code|Txxxx|||Xxxxxx``: market
  0 = SZ, 1 = SH, 2 = BJ; ``Txxxx`` the TDX industry code (行业), ``Xxxxxx`` the
  TDX research industry code (研究行业).
* ``tdxzs3.cfg`` — GBK, ``name|index code|type|level|leaf|industry code``: type 2
  rows name the ``T`` codes, type 12 rows the ``X`` codes.
* ``base.dbf`` — dBASE, one record per security (as of 2020-10): share capital
  in 10,000 shares (万股; 600519 ``ZGB`` 125,619.78 → 1,256,197,800 shares, the
  real Kweichow Moutai count), balance-sheet and income figures in 1,000 CNY
  (600519 ``JZC`` 148,452,256 → 148.5 bn CNY net assets), listing date
  ``SSDATE`` as ``YYYYMMDD`` text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tzero.errors import DataFormatError

#: tdxhy.cfg / base.dbf market digit → exchange suffix.
TDX_MARKET = {"0": "SZ", "1": "SH", "2": "BJ"}
#: base.dbf share fields are in 万股 (10,000 shares); money fields in 千元 (1,000 CNY).
DBF_SHARE_UNIT = 10_000.0
DBF_MONEY_UNIT = 1_000.0
_ZS3_TYPE_TDX_INDUSTRY = "2"
_ZS3_TYPE_RESEARCH_INDUSTRY = "12"

INDUSTRY_COLUMNS = ["ts_code", "tdx_industry_code", "industry_name",
                    "research_industry_code", "research_industry_name"]


def _hq_cache(tdx_dir: str | Path) -> Path:
    root = Path(tdx_dir)
    for cand in (root / "T0002" / "hq_cache", root / "hq_cache", root):
        if (cand / "tdxhy.cfg").is_file():
            return cand
    raise DataFormatError(f"{root}: no T0002/hq_cache/tdxhy.cfg; pass the TDX client folder")


def _read_gbk_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    if not raw:
        raise DataFormatError(f"{path}: empty file")
    try:
        return raw.decode("gbk").splitlines()
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataFormatError(f"{path}: line {line}: bytes are not valid GBK ({e.reason})") from None


def _zs3_names(path: Path) -> dict[str, str]:
    """Industry code → name from tdxzs3.cfg (types 2 and 12 only)."""
    names: dict[str, str] = {}
    for i, line in enumerate(_read_gbk_lines(path), start=1):
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) < 6:
            raise DataFormatError(f"{path}: line {i}: expected 6 '|'-separated fields, got {len(parts)}")
        if parts[2] in (_ZS3_TYPE_TDX_INDUSTRY, _ZS3_TYPE_RESEARCH_INDUSTRY):
            names[parts[5].strip()] = parts[0].strip()
    return names


def read_industry(tdx_dir: str | Path) -> pd.DataFrame:
    """Read the TDX industry classification of every security in ``tdxhy.cfg``.

    Args:
        tdx_dir: TDX client folder (holding ``T0002/hq_cache``), or the
            ``hq_cache`` folder itself.

    Returns:
        Frame ``ts_code`` (str), ``tdx_industry_code`` (``T030501``),
        ``industry_name`` (``白酒``, from ``tdxzs3.cfg``; ``None`` when the code
        has no name there), ``research_industry_code`` (``X210205``),
        ``research_industry_name``; one row per code, sorted by ``ts_code``.
        Empty industry codes are ``None``.

    Raises:
        DataFormatError: a file is missing, empty or not GBK, or a line of
            ``tdxhy.cfg`` has an unknown market or too few fields (named by
            file and line).
    """
    cache = _hq_cache(tdx_dir)
    hy = cache / "tdxhy.cfg"
    zs3 = cache / "tdxzs3.cfg"
    names = _zs3_names(zs3) if zs3.is_file() else {}
    rows = []
    for i, line in enumerate(_read_gbk_lines(hy), start=1):
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) < 6 or parts[0] not in TDX_MARKET or len(parts[1]) != 6:
            raise DataFormatError(
                f"{hy}: line {i}: expected 'market|code|Txxxx|||Xxxxxx' with market 0/1/2, "
                f"got {line[:60]!r}"
            )
        t_code = parts[2].strip() or None
        x_code = parts[5].strip() or None
        rows.append((f"{parts[1]}.{TDX_MARKET[parts[0]]}", t_code, names.get(t_code or ""),
                     x_code, names.get(x_code or "")))
    df = pd.DataFrame(rows, columns=INDUSTRY_COLUMNS)
    return df.drop_duplicates("ts_code", keep="last").sort_values("ts_code").reset_index(drop=True)


#: base.dbf field → (output column, multiplier). Share counts → shares, money → CNY.
_DBF_NUMERIC = {
    "ZGB": ("total_shares", DBF_SHARE_UNIT),
    "LTAG": ("float_shares", DBF_SHARE_UNIT),
    "BG": ("b_shares", DBF_SHARE_UNIT),
    "HG": ("h_shares", DBF_SHARE_UNIT),
    "ZZC": ("total_assets", DBF_MONEY_UNIT),
    "JZC": ("net_assets", DBF_MONEY_UNIT),
    "ZYSY": ("revenue", DBF_MONEY_UNIT),
    "JLY": ("net_profit", DBF_MONEY_UNIT),
}
_DBF_REQUIRED = ("SC", "GPDM", "ZGB", "LTAG", "SSDATE")


def read_base_dbf(path: str | Path) -> pd.DataFrame:
    """Read TDX ``base.dbf`` (per-security share capital and fundamentals) with ``dbfread``.

    Units: share fields are stored in 10,000 shares and converted to shares;
    money fields in 1,000 CNY, converted to CNY (see the module docstring for
    the check on 600519).

    Args:
        path: the ``base.dbf`` file (``T0002/hq_cache/base.dbf``).

    Returns:
        Frame sorted by ``ts_code`` with ``ts_code`` (str), ``total_shares``
        (float64 shares, 总股本), ``float_shares`` (float64 shares, 流通A股),
        ``list_date`` (datetime64[ns], NaT when unknown), ``update_date``
        (datetime64[ns], GXRQ), ``b_shares``, ``h_shares`` (shares),
        ``total_assets``, ``net_assets``, ``revenue``, ``net_profit`` (CNY),
        ``region_code``, ``industry_code`` (TDX's raw codes, str).

    Raises:
        DataFormatError: the file is missing, not a dBASE file, or lacks a
            required field (``SC GPDM ZGB LTAG SSDATE``).
    """
    import dbfread  # local: only this reader needs it

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    try:
        table = dbfread.DBF(str(path), encoding="gbk", load=False, char_decode_errors="replace")
        fields = set(table.field_names)
        missing = [f for f in _DBF_REQUIRED if f not in fields]
        if missing:
            raise DataFormatError(f"{path}: missing dBASE field(s) {', '.join(missing)}")
        raw = pd.DataFrame(iter(table))
    except DataFormatError:
        raise
    except Exception as e:  # dbfread raises plain ValueError/struct.error on junk
        raise DataFormatError(f"{path}: not a readable dBASE file ({e})") from None
    if raw.empty:
        raise DataFormatError(f"{path}: no records")
    market = raw["SC"].astype(str).str.strip().map(TDX_MARKET)
    code = raw["GPDM"].astype(str).str.strip()
    keep = market.notna() & code.str.fullmatch(r"\d{6}")
    raw, market, code = raw[keep], market[keep], code[keep]
    out = pd.DataFrame({"ts_code": (code + "." + market).to_numpy()})
    for fld, (col, mult) in _DBF_NUMERIC.items():
        if fld in raw:
            out[col] = pd.to_numeric(raw[fld], errors="coerce").to_numpy(np.float64) * mult
    out["list_date"] = _dbf_date(raw["SSDATE"])
    if "GXRQ" in raw:
        out["update_date"] = _dbf_date(raw["GXRQ"])
    for fld, col in (("DY", "region_code"), ("HY", "industry_code")):
        if fld in raw:
            out[col] = raw[fld].astype(str).str.strip().to_numpy()
    out = out.drop_duplicates("ts_code", keep="last").sort_values("ts_code")
    return out.reset_index(drop=True)


def _dbf_date(s: pd.Series) -> np.ndarray:
    text = s.astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    return pd.to_datetime(text, format="%Y%m%d", errors="coerce").to_numpy("datetime64[ns]")
