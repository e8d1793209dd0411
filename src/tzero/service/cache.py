"""Read caches of the service: daily panels, the file-based models and their signals.

Serving a request used to re-read a stock's whole Parquet history (~80 ms) and,
for ``/api/signals``, reload and re-run three models. Inputs change only when
the market store is written (its ``manifest.json`` is replaced atomically) or a
model version is saved (its ``current.json`` is replaced), so every entry is
keyed by what it was computed from:

- a panel by ``(manifest mtime_ns, symbols, start, end)``;
- the loaded models by the ``current.json`` mtimes of every model;
- a list of signals by ``(panel key, model key, as_of)``;
- the models the research blocked by the newest ``research_variant`` id (a
  new research run writes new rows, so the key changes).

A newer manifest or model makes the old keys unreachable; entries are evicted
least-recently-used beyond ``maxsize``. Concurrent requests for the same key
compute it once (a per-key lock), so 50 clients asking for the same stock on
the same day read its Parquet file once. Cached frames are shared: callers
must not modify them in place.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from tzero.data.store import MarketStore
from tzero.signals.engine import ServedSet, load_panel, load_served


class Memo:
    """A thread-safe LRU memo that computes each key once, even under concurrency.

    Args:
        maxsize: entries kept; the least recently used beyond it are dropped.
        freeze: after computing a value, move every live object to the
            collector's permanent generation (``gc.freeze``). A loaded model or
            panel holds ~10^5 objects; without it each full collection walks
            them all (~110 ms measured), which showed as the p99 of every route.
            Non-cyclic garbage is still freed by reference counting; cyclic
            garbage among objects alive at a miss is kept (misses are rare:
            one per model version, store write or research run).
    """

    def __init__(self, maxsize: int = 256, freeze: bool = False) -> None:
        self.maxsize = maxsize
        self.freeze = freeze
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def peek(self, key: Hashable) -> Any | None:
        """The cached value of ``key`` or None, never computing (the fast path of async routes)."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
        return None

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value of ``key``, computed by ``compute()`` on a miss (exceptions propagate, nothing is stored)."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            klock = self._key_locks.setdefault(key, threading.Lock())
        with klock:
            with self._lock:
                if key in self._data:
                    self.hits += 1
                    return self._data[key]
            value = compute()
            if self.freeze:
                gc.freeze()
            with self._lock:
                self.misses += 1
                self._data[key] = value
                while len(self._data) > self.maxsize:
                    self._data.popitem(last=False)
                self._key_locks.pop(key, None)
        return value

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


#: How long the service trusts its registry and verdict keys before re-reading them (seconds).
SERVICE_KEY_TTL_S = 0.5


class ServiceCache:
    """The service's read caches over one market store and one models folder."""

    def __init__(self, store: MarketStore, models_dir: Path, maxsize: int = 256,
                 session_factory=None, universe: str = "CSI_300", key_ttl_s: float = 0.0) -> None:
        self.store = store
        self.key_ttl_s = key_ttl_s
        self._keys: dict[str, tuple[float, Any]] = {}
        self.models_dir = Path(models_dir)
        self.session_factory = session_factory
        self.universe = universe
        self.panels = Memo(maxsize, freeze=True)
        self.models = Memo(64, freeze=True)
        self.signals = Memo(maxsize)
        self.predictions = Memo(maxsize)
        self.verdicts = Memo(4)
        self.sessions = Memo(4)

    def store_key(self) -> int:
        """Changes whenever the market store is written: the manifest's mtime of the Parquet
        store, the write counter (``version()``) of the PostgreSQL one."""
        version = getattr(self.store, "version", None)
        return int(version()) if callable(version) else _mtime_ns(self.store.manifest_path)

    def last_session(self):
        """The newest daily session in the market store (the service's "today"), None when empty.

        Cached per store version (:meth:`store_key`), so routes that check an
        ``as_of`` against it cost no query on a hit.
        """
        return self.sessions.get(("last_session", self.store_key()), self.store.last_session)

    def models_key(self) -> tuple:
        """Changes whenever any model's current version changes (the registry's pointers).

        One cheap aggregate query over ``lstm_current_version``: the number of
        pointers and the newest ``updated_at`` (a promotion or rollback moves it).
        """
        from sqlalchemy import func, select

        from tzero.data.appdb import CurrentVersion

        if self.session_factory is None:
            return ()

        def read() -> tuple:
            with self.session_factory() as s:
                n, newest = s.execute(select(func.count(), func.max(CurrentVersion.updated_at))).one()
            return (int(n), str(newest))
        return self._fresh("models", read)

    def _fresh(self, name: str, read: Callable[[], Any]) -> Any:
        """``read()``, re-run at most every ``key_ttl_s`` seconds (0: every call).

        The service sets a short TTL (:data:`SERVICE_KEY_TTL_S`) so a hit costs no
        database round trip; a promotion or research run is then served within
        that time instead of at the very next request.
        """
        now = time.monotonic()
        hit = self._keys.get(name)
        if hit is not None and now - hit[0] < self.key_ttl_s:
            return hit[1]
        value = read()
        self._keys[name] = (now, value)
        return value

    def panel(self, codes: list[str], end=None, start=None):
        """:func:`tzero.signals.engine.load_panel`, cached (see the module doc).

        Raises:
            StoreError: as ``load_panel`` (not cached).
        """
        key = ("panel", self.store_key(), tuple(codes), str(start), str(end))
        return self.panels.get(key, lambda: load_panel(self.store, list(codes), end=end, start=start))

    def served(self, codes: list[str]) -> tuple[ServedSet, tuple]:
        """The registry's current versions serving ``codes`` and the key they were loaded under.

        Raises:
            ModelError: no current version for any of ``codes`` (not cached).
        """
        key = (self.models_key(), tuple(codes))
        return self.models.get(key, lambda: load_served(self.session_factory, list(codes),
                                                        self.universe)), key

    def keys(self) -> tuple:
        """``(store key, registry key)`` now. Read them *before* loading what they guard:
        data loaded afterwards is at least as new as the key it is cached under."""
        return (self.store_key(), self.models_key())

    def signals_for(self, codes: list[str], as_of, compute: Callable[[], Any],
                    keys: tuple | None = None) -> Any:
        """Signals of ``codes`` as of a day, computed by ``compute()`` once per inputs.

        Args:
            keys: :meth:`keys` read before the inputs of ``compute`` were loaded
                (default: read now).
        """
        return self.signals.get(self._signals_key(codes, as_of, keys), compute)

    def peek_signals(self, codes: list[str], as_of, keys: tuple) -> Any | None:
        """The cached signals of :meth:`signals_for`, or None (no compute)."""
        return self.signals.peek(self._signals_key(codes, as_of, keys))

    def _signals_key(self, codes, as_of, keys) -> tuple:
        return ("signals", *(keys if keys is not None else self.keys()), tuple(codes), str(as_of))

    def prediction(self, key: tuple, compute: Callable[[], Any], keys: tuple) -> Any:
        """A served (and logged) ``/api/lstm/predict`` result, computed once per inputs.

        Keyed by the request (symbol, day, fallback, verdicts) and by the store
        and registry ``keys`` (:meth:`keys`, read before the inputs were
        loaded), so a new ingest, promotion or rollback is served within the
        key TTL; a failure (``ModelError``) is not cached.
        """
        return self.predictions.get(("predict", *keys, *key), compute)

    def peek_prediction(self, key: tuple, keys: tuple) -> Any | None:
        """The cached result of :meth:`prediction`, or None (no compute)."""
        return self.predictions.peek(("predict", *keys, *key))

    def blocked(self, session_factory) -> dict[str, str]:
        """:func:`tzero.signals.engine.blocked_by_research`, recomputed only after a new research run.

        Raises:
            StoreError / SQLAlchemyError: the app store cannot be read (not cached).
        """
        from sqlalchemy import func, select

        from tzero.data.appdb import ResearchVariant
        from tzero.signals.engine import blocked_by_research

        def read():
            with session_factory() as s:
                return s.scalar(select(func.max(ResearchVariant.id)))
        newest = self._fresh(f"verdicts-{id(session_factory)}", read)
        return self.verdicts.get(("blocked", newest), lambda: blocked_by_research(session_factory))
