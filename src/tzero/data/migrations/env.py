"""Alembic environment of the app store (loaded by Alembic by path, not imported).

At run time :func:`tzero.data.appdb.upgrade` builds the config in code and hands
over an open connection in ``config.attributes["connection"]`` (Alembic's
"sharing a connection" recipe). For a maintainer's ``alembic`` command line
(autogenerating the next revision), ``sqlalchemy.url`` in the config is used
instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from tzero.data.appdb import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite has almost no ALTER TABLE: later revisions copy-and-move.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the shared connection, or one opened from ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection: pass config.attributes['connection'] "
                           "or set sqlalchemy.url (e.g. alembic -x, alembic.ini)")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
