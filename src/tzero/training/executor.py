"""One executor for every fan-out: per-series fits, CV grid points, walk-forward windows,
research variants and compare runs (DESIGN.md "Models": the one per-series wrapper owns
the loop and its executor; issue 14 "Executor").

A fan-out is ``executor.map(fn, items, shared=...)``: ``fn(item)`` (or ``fn(item, shared)``)
for every item, run where the executor puts it, yielding one :class:`Outcome` per item
as each finishes (completion order; ``Outcome.index`` is the item's position). A task
that raised is an outcome too (``error``), so the caller decides what a failure means
(the per-series loop records it for that series or stops, :func:`tzero.models.base.fit_series`).

Two executors, chosen by :func:`make_executor` from ``--executor`` / ``TZERO_EXECUTOR``:

- :class:`LocalExecutor` (``local``, the default): in this process when ``n_jobs <= 1``
  or there is one task, else a pool of ``n_jobs`` spawned processes with one torch thread
  each (small models do not use two threads well, so two processes on two cores fit about
  twice as fast). ``shared`` is sent once to each worker process (its initializer), not
  with every task.
- :class:`RayExecutor` (``ray``, the optional extra ``tzero[ray]``): tasks on a Ray cluster
  (``TZERO_RAY_ADDRESS``, or a local Ray started on this machine and stopped on
  :meth:`Executor.close`). ``shared`` is put in the object store once (``ray.put``) and
  every task receives the reference; each item travels as a task argument (Ray puts
  arguments over 100 KiB in the object store too). Tasks in flight are bounded (two per
  cluster CPU), so a 5,000-series fleet does not sit in the object store at once.

Retries are bounded: a task that *raised* is resubmitted up to ``retry_exceptions``
times, except a :class:`~tzero.errors.TzeroError` (tzero's own refusal: too little
history, bad data), which is deterministic and final at once. Under Ray a task whose
worker process *died* is retried by Ray itself up to ``max_retries`` times; then the
outcome carries Ray's ``WorkerCrashedError`` (the caller records it as that series'
failure). Locally a dead worker breaks the pool (``BrokenProcessPool``), which ends the
run, as before. Results do not depend on the executor: every task is seeded from its own
config (a test compares local and Ray fits bit for bit, ``tests/training/test_executor.py``).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Self

from tzero.errors import TzeroError

log = logging.getLogger(__name__)

#: The values of ``--executor`` / ``TZERO_EXECUTOR``.
EXECUTORS = ("local", "ray")
#: What to run when Ray is missing.
RAY_INSTALL = "pip install 'tzero[ray]'"
#: Ray's default attempts for a task whose worker died (beyond the first).
RAY_MAX_RETRIES = 3
#: Default resubmissions of a task that raised (not a TzeroError) under Ray.
RAY_RETRY_EXCEPTIONS = 1
#: Help text of every command's ``--executor`` option.
EXECUTOR_HELP = ("local | ray: where the fan-out runs (default TZERO_EXECUTOR, else local); "
                 "ray joins TZERO_RAY_ADDRESS, or starts a local Ray with --jobs CPUs")

#: ``progress(done, total)``: tasks finished so far (retries not counted), after each one.
Progress = Callable[[int, int], None]

_NO_SHARED = object()
#: ``(handle, value, error, retryable)`` of one finished attempt (see :func:`_drive`).
_Done = tuple[Any, Any, BaseException | None, bool]


@dataclass(frozen=True)
class Outcome:
    """One finished task of :meth:`Executor.map`.

    Attributes:
        index: position of the task's item in ``items``.
        value: what ``fn`` returned (None when it raised).
        error: the exception ``fn`` raised on its last attempt (under Ray the original
            exception, not Ray's wrapper), Ray's ``WorkerCrashedError`` when its worker
            died ``max_retries + 1`` times, or None.
        attempts: how many times the task ran (1 + retries).
    """

    index: int
    value: Any = None
    error: BaseException | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        """True when the task returned a value."""
        return self.error is None

    def get(self) -> Any:
        """The task's value.

        Raises:
            BaseException: the task's ``error``, re-raised.
        """
        if self.error is not None:
            raise self.error
        return self.value


class Executor(ABC):
    """Where a fan-out runs: one interface for the local pool and a Ray cluster.

    Use as a context manager (or call :meth:`close`) so a Ray cluster the executor
    started is stopped. One executor serves any number of :meth:`map` calls.
    """

    name: str = ""

    @property
    @abstractmethod
    def workers(self) -> int:
        """Tasks that can run at once (worker processes, or the cluster's CPUs)."""

    @abstractmethod
    def runs_in_process(self, n_tasks: int) -> bool:
        """True when ``n_tasks`` tasks would run one after another in this process."""

    @abstractmethod
    def map(self, fn: Callable[..., Any], items: Sequence[Any], *, shared: Any = _NO_SHARED,
            progress: Progress | None = None) -> Generator[Outcome, None, None]:
        """Run ``fn(item)`` (``fn(item, shared)`` when ``shared`` is given) for every item.

        Args:
            fn: a module-level function (it is pickled by reference for worker
                processes and Ray tasks); its return value must pickle.
            items: the tasks' inputs, one task each.
            shared: one input every task reads (a config, a dict of series), sent
                once per worker or put once in Ray's object store.
            progress: ``progress(done, total)`` after each task's final outcome.

        Yields:
            One :class:`Outcome` per item, as tasks finish (completion order). Closing
            the generator early (``contextlib.closing``: the caller raised) cancels the
            tasks not yet run.
        """

    def close(self) -> None:  # noqa: B027  (optional hook: a local pool holds nothing)
        """Release what the executor holds (a Ray cluster it started). Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _retryable(exc: BaseException) -> bool:
    """A raised error worth another attempt: not tzero's own (deterministic) refusal,
    not a broken pool or exhausted memory."""
    return not isinstance(exc, TzeroError | BrokenProcessPool | MemoryError)


@contextmanager
def one_thread() -> Iterator[None]:
    """One BLAS/OpenMP thread and one torch thread for the block (restored after).

    Every task runs under it, in this process, a pool worker or a Ray worker (which sets
    ``OMP_NUM_THREADS=1`` itself), so a task's numbers do not depend on where it runs nor
    on the machine's thread settings: EM steps and matrix products summed over 2
    threads differ from 1 thread in the last bits.
    """
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def _call(fn: Callable[..., Any], has_shared: bool, item: Any, shared: Any) -> Any:
    with one_thread():
        return fn(item, shared) if has_shared else fn(item)


def _drive(total: int, limit: int, retries: int, progress: Progress | None,
           submit: Callable[[int], Any],
           wait_some: Callable[[dict[Any, int]], list[_Done]],
           cancel: Callable[[list[Any]], None]) -> Generator[Outcome, None, None]:
    """The scheduling loop shared by the pool and Ray: at most ``limit`` tasks in flight,
    bounded resubmission of a task that raised, one :class:`Outcome` per task.

    ``submit(i)`` starts task ``i`` and returns its handle; ``wait_some(pending)`` blocks
    until at least one handle is done and returns ``(handle, value, error, retryable)``
    for each; ``cancel(handles)`` drops tasks left when the caller stops early.
    """
    pending: dict[Any, int] = {}
    attempts = [0] * total
    queue = deque(range(total))
    done = 0
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                i = queue.popleft()
                attempts[i] += 1
                pending[submit(i)] = i
            for handle, value, err, may_retry in wait_some(pending):
                i = pending.pop(handle)
                if err is not None and may_retry and attempts[i] <= retries and _retryable(err):
                    log.info("task %d failed (%s: %s); attempt %d of %d", i, type(err).__name__,
                             err, attempts[i] + 1, retries + 1)
                    queue.appendleft(i)
                    continue
                done += 1
                if progress:
                    progress(done, total)
                yield Outcome(i, value, err, attempts[i])
    finally:
        if pending:
            cancel(list(pending))


# ---------------------------------------------------------------------------- local
_WORKER_SHARED: Any = _NO_SHARED


def worker_init(shared: Any = _NO_SHARED) -> None:
    """Initialise a worker process: one torch thread, and the fan-out's ``shared`` input.

    Run once per pool process (its ``initializer``) and once per Ray worker process.
    """
    global _WORKER_SHARED
    import torch

    torch.set_num_threads(1)
    _WORKER_SHARED = shared


def _pool_task(fn: Callable[..., Any], has_shared: bool, item: Any) -> Any:
    return _call(fn, has_shared, item, _WORKER_SHARED)


class LocalExecutor(Executor):
    """This machine: serial in this process, or ``n_jobs`` spawned worker processes.

    Args:
        n_jobs: tasks run at once; ``<= 1`` runs them in this process, in order.
        retry_exceptions: resubmissions of a task that raised (not a
            :class:`~tzero.errors.TzeroError`); 0 (the default) keeps today's
            behaviour: a failure is final.
    """

    name = "local"

    def __init__(self, n_jobs: int = 1, *, retry_exceptions: int = 0) -> None:
        self.n_jobs = max(1, int(n_jobs))
        self.retry_exceptions = max(0, int(retry_exceptions))

    @property
    def workers(self) -> int:
        """``n_jobs``."""
        return self.n_jobs

    def runs_in_process(self, n_tasks: int) -> bool:
        """True for ``n_jobs <= 1`` or a single task (no process is spawned for one)."""
        return self.n_jobs <= 1 or n_tasks <= 1

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *, shared: Any = _NO_SHARED,
            progress: Progress | None = None) -> Generator[Outcome, None, None]:
        """See :meth:`Executor.map`; the pool is spawned for this call and shut down after it."""
        has = shared is not _NO_SHARED
        if self.runs_in_process(len(items)):
            return self._serial(fn, items, has, shared, progress)
        return self._pool(fn, items, has, shared, progress)

    def _serial(self, fn, items, has: bool, shared: Any, progress: Progress | None
                ) -> Generator[Outcome, None, None]:
        for i, item in enumerate(items):
            attempt = 0
            while True:
                attempt += 1
                try:
                    out = Outcome(i, _call(fn, has, item, shared), None, attempt)
                except Exception as exc:   # the task's failure, handed to the caller
                    if attempt <= self.retry_exceptions and _retryable(exc):
                        continue
                    out = Outcome(i, None, exc, attempt)
                break
            if progress:
                progress(i + 1, len(items))
            yield out

    def _pool(self, fn, items, has: bool, shared: Any, progress: Progress | None
              ) -> Generator[Outcome, None, None]:
        n = min(self.n_jobs, len(items))
        pool = ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"),
                                   initializer=worker_init, initargs=(shared if has else _NO_SHARED,))

        def wait_some(pending: dict[Any, int]) -> list[_Done]:
            ready, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            return [(f, None if f.exception() else f.result(), f.exception(), True) for f in ready]

        def cancel(handles: list[Future]) -> None:
            for f in handles:
                f.cancel()

        try:
            yield from _drive(len(items), 2 * n, self.retry_exceptions, progress,
                              lambda i: pool.submit(_pool_task, fn, has, items[i]), wait_some,
                              cancel)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------ ray
def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        TzeroError: Ray is not installed (names ``pip install 'tzero[ray]'``).
    """
    try:
        import ray
    except ImportError as exc:
        raise TzeroError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL} "
                         "(or use --executor local)") from exc
    return ray


_RAY_WORKER_READY = False


def _ray_task(fn: Callable[..., Any], has_shared: bool, item: Any, shared: Any) -> Any:
    """One task on a Ray worker: one torch thread (set once per worker process), then ``fn``."""
    global _RAY_WORKER_READY
    if not _RAY_WORKER_READY:
        worker_init()
        _RAY_WORKER_READY = True
    return _call(fn, has_shared, item, shared)


class RayExecutor(Executor):
    """Tasks on a Ray cluster (``pip install 'tzero[ray]'``).

    Connects on construction: to ``address`` (``head:6379``, ``auto``, or
    ``ray://head:10001`` with ``ray[client]``) when given, else to the Ray this process
    already joined, else it starts a local Ray on this machine with ``num_cpus`` CPUs (no
    dashboard; a cluster already started here with ``ray start`` is joined instead, as
    ``ray.init()`` does), which :meth:`close` stops again (or leaves). Worker output is not copied to this process's
    stdout (``log_to_driver=False``): a command's ``--json`` stays parseable.

    Args:
        address: the cluster to join (``TZERO_RAY_ADDRESS``); None starts a local one.
        num_cpus: CPUs of a local Ray it starts (default: every core).
        max_retries: Ray's retries of a task whose worker process died.
        retry_exceptions: resubmissions of a task that raised (not a
            :class:`~tzero.errors.TzeroError`), by this process.
        cpus_per_task: CPUs Ray reserves for each task (1: one series per core).

    Raises:
        TzeroError: Ray is not installed, or the cluster at ``address`` cannot be reached.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, *,
                 max_retries: int = RAY_MAX_RETRIES, retry_exceptions: int = RAY_RETRY_EXCEPTIONS,
                 cpus_per_task: float = 1.0) -> None:
        self._ray = import_ray()
        self.address = address or None
        self.max_retries = max(0, int(max_retries))
        self.retry_exceptions = max(0, int(retry_exceptions))
        self.cpus_per_task = float(cpus_per_task)
        self._owns = False
        self._remote: Any = None
        if not self._ray.is_initialized():
            self._init(num_cpus)

    def _init(self, num_cpus: int | None) -> None:
        kw: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if self.address:
                self._ray.init(address=self.address, **kw)
            else:
                try:
                    self._ray.init(num_cpus=max(1, int(num_cpus or os.cpu_count() or 1)),
                                   include_dashboard=False, **kw)
                except ValueError as exc:   # Ray found a `ray start` cluster here: join it
                    if "existing cluster" not in str(exc):
                        raise
                    self._ray.init(**kw)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            where = f"the Ray cluster at {self.address!r} (TZERO_RAY_ADDRESS)" if self.address \
                else "a local Ray"
            raise TzeroError(f"cannot start or reach {where}: {' '.join(str(exc).split())}; "
                             "start one with `ray start --head` (a driver that joins it by "
                             "address needs RAY_AUTH_MODE=token and its ~/.ray/auth_token), "
                             "or use --executor local") from exc
        self._owns = True

    @property
    def workers(self) -> int:
        """Tasks the cluster runs at once: its CPUs over ``cpus_per_task``."""
        cpus = float(self._ray.cluster_resources().get("CPU", 1.0))
        return max(1, int(cpus // self.cpus_per_task))

    def runs_in_process(self, n_tasks: int) -> bool:
        """Always False: every task goes to the cluster."""
        return False

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *, shared: Any = _NO_SHARED,
            progress: Progress | None = None) -> Generator[Outcome, None, None]:
        """See :meth:`Executor.map`; ``shared`` is put in the object store once for the call."""
        return self._map(fn, items, shared, progress)

    def _map(self, fn, items, shared: Any, progress: Progress | None) -> Generator[Outcome, None, None]:
        ray = self._ray
        if not items:
            return
        if self._remote is None:
            self._remote = ray.remote(_ray_task).options(
                num_cpus=self.cpus_per_task, max_retries=self.max_retries, retry_exceptions=False)
        has = shared is not _NO_SHARED
        ref = ray.put(shared) if has else None
        remote = self._remote

        def wait_some(pending: dict[Any, int]) -> list[_Done]:
            ready, _ = ray.wait(list(pending), num_returns=1)
            out: list[_Done] = []
            for r in ready:
                try:
                    out.append((r, ray.get(r), None, True))
                except ray.exceptions.RayTaskError as exc:   # fn raised: its own exception
                    cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                    out.append((r, None, cause, True))
                except ray.exceptions.RayError as exc:        # the worker died: Ray retried it
                    out.append((r, None, exc, False))
            return out

        def cancel(handles: list[Any]) -> None:
            for r in handles:
                ray.cancel(r)

        yield from _drive(len(items), 2 * self.workers, self.retry_exceptions, progress,
                          lambda i: remote.remote(fn, has, items[i], ref), wait_some, cancel)

    def close(self) -> None:
        """Stop the local Ray this executor started (or leave the cluster it joined)."""
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False


# -------------------------------------------------------------------------- factory
def executor_from(name: str | None, n_jobs: int = 1, *, address: str | None = None,
                  field: str = "--executor") -> Executor:
    """The executor called ``name`` (``local`` | ``ray``; None or empty: ``local``).

    Args:
        name: ``local`` or ``ray`` (case-insensitive).
        n_jobs: local: worker processes; ray without ``address``: CPUs of the
            local Ray started here.
        address: ray: the cluster to join (None: start a local Ray).
        field: the option or variable named in the error.

    Raises:
        TzeroError: an unknown name, Ray missing or unreachable.
    """
    kind = (name or "local").strip().lower()
    if kind == "local":
        return LocalExecutor(n_jobs)
    if kind == "ray":
        return RayExecutor(address=address, num_cpus=None if address else n_jobs)
    raise TzeroError(f"{field} must be one of {', '.join(EXECUTORS)}, got {name!r}")


def check_executor_name(name: str | None, field: str = "--executor") -> str:
    """``name`` normalised (``local`` | ``ray``), checked before any work starts.

    Raises:
        TzeroError: not one of :data:`EXECUTORS`.
    """
    kind = (name or "local").strip().lower()
    if kind not in EXECUTORS:
        raise TzeroError(f"{field} must be one of {', '.join(EXECUTORS)}, got {name!r}")
    return kind


def make_executor(settings: Any, n_jobs: int = 1, name: str | None = None) -> Executor:
    """The executor of a command: ``name`` (its ``--executor``) or ``settings.executor``.

    Args:
        settings: :class:`tzero.settings.Settings` (``executor`` from
            ``TZERO_EXECUTOR``, ``ray_address`` from ``TZERO_RAY_ADDRESS``).
        n_jobs: the command's ``--jobs``.
        name: the ``--executor`` value, or None for the settings' one.

    Raises:
        TzeroError: an unknown name (naming ``--executor`` or ``TZERO_EXECUTOR``), Ray
            missing or its cluster unreachable.
    """
    field = "--executor" if name else "TZERO_EXECUTOR"
    return executor_from(name or settings.executor, n_jobs, address=settings.ray_address,
                         field=field)
