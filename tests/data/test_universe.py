"""Index membership as of a date: the real CSI 300 file and malformed files."""

from __future__ import annotations

import pandas as pd
import pytest

from tzero.data.universe import members_on, membership_matrix, read_index_membership
from tzero.errors import DataFormatError
from tzero.market import calendar


@pytest.fixture(scope="module")
def csi300(data_dir):
    return read_index_membership(data_dir / "reference" / "csi300_membership.txt")


@pytest.mark.data
def test_real_csi300_membership(csi300):
    assert list(csi300.columns) == ["ts_code", "start", "end"]
    assert csi300["ts_code"].str.fullmatch(r"\d{6}\.(SH|SZ)").all()
    assert (csi300["end"] >= csi300["start"]).all()
    first = csi300[csi300["ts_code"] == "600000.SH"].iloc[0]
    assert first["start"] == pd.Timestamp("2010-01-04")
    for d in ("2016-01-04", "2019-06-03", "2023-02-24"):
        assert 245 <= len(members_on(csi300, d)) <= 300
    # 600004.SH left on 2011-12-12 and came back on 2018-12-17 (two lines in the file)
    assert "600004.SH" not in members_on(csi300, "2015-06-01")
    assert "600004.SH" in members_on(csi300, "2019-01-02")


@pytest.mark.data
def test_membership_matrix_matches_members_on(csi300):
    sessions = calendar.sessions("2015-09-01", "2023-02-24")
    mm = membership_matrix(csi300, sessions)
    assert mm.shape == (len(sessions), csi300["ts_code"].nunique())
    assert mm.sum(axis=1).between(245, 300).all()
    d = sessions[500]
    assert sorted(mm.columns[mm.loc[d]]) == members_on(csi300, d)


def test_malformed_rows_name_file_and_line(tmp_path):
    p = tmp_path / "inst.txt"
    p.write_text("SH600000\t2010-01-04\t2023-02-24\nSH600004\t2019-01-01\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"inst\.txt:2"):
        read_index_membership(p)
    p.write_text("SH600000\t2010-01-04\tnot-a-date\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"inst\.txt:1: bad date"):
        read_index_membership(p)
    p.write_text("XX12\t2010-01-04\t2011-01-04\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"inst\.txt:1: bad instrument"):
        read_index_membership(p)
    p.write_text("SH600000\t2012-01-04\t2011-01-04\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="before start"):
        read_index_membership(p)
    with pytest.raises(DataFormatError, match="no such membership file"):
        read_index_membership(tmp_path / "missing.txt")


def test_members_on_bounds_are_inclusive(tmp_path):
    p = tmp_path / "inst.txt"
    p.write_text("SZ000001\t2020-01-02\t2020-01-10\n\nSH600519\t2020-01-10\t2020-02-01\n",
                 encoding="utf-8")
    m = read_index_membership(p)
    assert members_on(m, "2020-01-02") == ["000001.SZ"]
    assert members_on(m, "2020-01-10") == ["000001.SZ", "600519.SH"]
    assert members_on(m, "2020-01-13") == ["600519.SH"]
