"""Open the market store the settings select: Parquet/DuckDB (default) or PostgreSQL (issue 14).

``TZERO_MARKET_URL`` unset → :class:`~tzero.data.store.MarketStore` under
``<home>/market``; ``postgresql+psycopg://…`` → :class:`~tzero.data.store_pg.PgMarketStore`.
Both have the same read/write API (``write``, ``query``, ``has``,
``last_session``, ``symbols``, ``manifest``); the callers' annotations name
``MarketStore`` for that API, so the PostgreSQL store is returned as one for
the type checker (it has no ``files()``/``manifest_path``: Parquet internals).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from tzero.data.store import MarketStore

if TYPE_CHECKING:
    from tzero.settings import Settings


def open_market_store(settings: Settings) -> MarketStore:
    """The market store of ``settings``: PostgreSQL when ``market_url`` is set, else Parquet.

    Args:
        settings: resolved settings (``market_url``, ``store_dir``).

    Returns:
        A :class:`MarketStore` or a connected :class:`PgMarketStore`.

    Raises:
        StoreError: ``market_url`` is not a PostgreSQL URL, or its server cannot
            be reached (one line, password hidden; the CLI exits 2).
    """
    if not settings.market_url:
        return MarketStore(settings.store_dir)
    from tzero.data.store_pg import PgMarketStore

    return cast(MarketStore, PgMarketStore(settings.market_url))  # same public API (module doc)
