"""``tzero paper``: paper trading on the live loop's signals (issue 13). Filled in below."""

from __future__ import annotations
