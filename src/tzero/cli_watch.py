"""``tzero watch``: the live intraday loop over holdings (issue 13). Filled in below."""

from __future__ import annotations
