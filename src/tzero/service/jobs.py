"""Background jobs of the HTTP service: one worker thread, every job persisted in ``service_job``.

LSTM training is CPU-bound and already spreads symbols over processes, so the
service runs one job at a time: a request enqueues a job (``pending``) and gets
its id back at once; the worker marks it ``running``, then ``succeeded`` with a
JSON result or ``failed`` with the error. Progress is recorded only when it is
a real count (symbols trained out of symbols asked for), never an estimate.
A job left ``pending``/``running`` by a server that stopped is marked
``failed`` when the next one starts (:meth:`JobRunner.recover`).

The worker outlives the app store: when a write of a job's state fails
because the database cannot be reached (:data:`~tzero.service.errors.DB_ERRORS`),
it waits and retries the write (backing off up to ``retry_s[1]`` seconds) and
records why in :attr:`JobRunner.db_error` (``/api/health`` reports it); a
lost progress count never fails a job; a job that itself failed on the
database is marked ``failed`` once the database is back; then the worker
takes the next job.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from tzero.data.appdb import ServiceJob
from tzero.registry.versions import now
from tzero.service.errors import DB_ERRORS, db_reason

log = logging.getLogger("tzero.service.jobs")

RESTART_ERROR = "server restarted while the job ran"
#: Prefix of the error of a job that failed because the app store could not be reached.
DB_JOB_ERROR = "database unavailable while the job ran"
#: ``progress(done, total)``: report a real count of units finished.
Progress = Callable[[int, int], None]
JobFn = Callable[[Progress], Any]


def job_dict(row: ServiceJob) -> dict:
    """Plain-data form of a job row (the API's ``Job`` schema)."""
    return {"job_id": row.id, "kind": row.kind, "state": row.state,
            "params": json.loads(row.params_json) if row.params_json else None,
            "progress_done": row.progress_done, "progress_total": row.progress_total,
            "result": json.loads(row.result_json) if row.result_json else None,
            "error": row.error,
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "started_at": row.started_at.isoformat() if row.started_at else None,
            "finished_at": row.finished_at.isoformat() if row.finished_at else None}


class JobRunner:
    """A queue of jobs run one at a time by a daemon thread.

    Args:
        Session: app-store session factory.

    Attributes:
        retry_s: ``(first, longest)`` wait in seconds between retries of a
            write while the database is unavailable (doubling up to the longest).
        db_error: while the worker waits for the database, why (one line); else None.
    """

    def __init__(self, Session: sessionmaker, retry_s: tuple[float, float] = (0.5, 5.0)) -> None:
        self.Session = Session
        self.retry_s = retry_s
        self.db_error: str | None = None
        self._queue: queue.Queue[tuple[str, JobFn] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------- lifecycle
    def recover(self) -> int:
        """Mark jobs left ``pending``/``running`` by an earlier server ``failed``; return how many."""
        with self.Session.begin() as s:
            res = s.execute(update(ServiceJob).where(ServiceJob.state.in_(("pending", "running")))
                            .values(state="failed", error=RESTART_ERROR, finished_at=now()))
            return int(res.rowcount or 0)

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if not self.alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._work, name="tzero-jobs", daemon=True)
            self._thread.start()

    def alive(self) -> bool:
        """True while the worker thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to finish after the job it is running; wait up to ``timeout`` s.

        A worker waiting for the database gives up its retries (the job stays
        ``running`` and the next server's :meth:`recover` marks it failed).
        """
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._stop.set()
            self._queue.put(None)
            thread.join(timeout)

    # ------------------------------------------------------------------ jobs
    def submit(self, kind: str, params: dict, fn: JobFn, total: int | None = None) -> str:
        """Persist a ``pending`` job and queue it; return its id.

        Args:
            kind: what the job does (``lstm_train``, ``lstm_triggers``).
            params: the request, stored as JSON for the record.
            fn: ``fn(progress) -> result`` (JSON-serialisable).
            total: units of real progress, when known up front.
        """
        jid = str(uuid.uuid4())
        with self.Session.begin() as s:
            s.add(ServiceJob(id=jid, kind=kind, params_json=json.dumps(params, default=str),
                             state="pending", progress_done=0 if total else None,
                             progress_total=total, created_at=now()))
        self._queue.put((jid, fn))
        return jid

    def get(self, job_id: str) -> dict | None:
        """A job as a dict, or None when unknown."""
        with self.Session() as s:
            row = s.get(ServiceJob, job_id)
            return job_dict(row) if row else None

    def list(self, limit: int = 50) -> list[dict]:
        """Recent jobs, newest first."""
        with self.Session() as s:
            rows = s.scalars(select(ServiceJob).order_by(ServiceJob.created_at.desc()).limit(limit))
            return [job_dict(r) for r in rows]

    def running(self) -> int:
        """Jobs pending or running now."""
        with self.Session() as s:
            return len(s.scalars(select(ServiceJob.id).where(
                ServiceJob.state.in_(("pending", "running")))).all())

    def _set(self, job_id: str, **values) -> None:
        with self.Session.begin() as s:
            s.execute(update(ServiceJob).where(ServiceJob.id == job_id).values(**values))

    def _record(self, job_id: str, **values) -> bool:
        """:meth:`_set`, retried while the database is unavailable; False when stopped first."""
        wait, longest = self.retry_s
        while True:
            try:
                self._set(job_id, **values)
            except DB_ERRORS as exc:
                self._database_down(job_id, exc)
                if self._stop.wait(wait):
                    return False
                wait = min(2 * wait, longest)
                continue
            self._database_up()
            return True

    def _database_down(self, job_id: str, exc: Exception) -> None:
        if self.db_error is None:
            log.warning("job %s: database unavailable (%s); the worker retries until it is back",
                        job_id, db_reason(exc))
        self.db_error = f"cannot record job {job_id}: {db_reason(exc)}"

    def _database_up(self) -> None:
        if self.db_error is not None:
            log.warning("database back: the job worker records jobs again")
            self.db_error = None

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._run(*item)
            except Exception:  # the worker outlives every job and every database error
                log.exception("job worker: job %s could not be run or recorded", item[0])

    def _run(self, jid: str, fn: JobFn) -> None:
        if not self._record(jid, state="running", started_at=now()):
            return

        def progress(done: int, total: int) -> None:
            try:   # a count lost while the database is down never fails the job
                self._set(jid, progress_done=int(done), progress_total=int(total))
            except DB_ERRORS as exc:
                self._database_down(jid, exc)
            else:
                self._database_up()

        try:
            result = fn(progress)
            values = {"state": "succeeded", "finished_at": now(),
                      "result_json": json.dumps(result, default=str, ensure_ascii=False)}
        except Exception as exc:  # a job's failure is its record, never the worker's end
            log.warning("job %s failed: %s", jid, exc)
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
            if isinstance(exc, DB_ERRORS):
                error = f"{DB_JOB_ERROR} ({db_reason(exc)}); submit it again\n{error}"
            values = {"state": "failed", "finished_at": now(), "error": error}
        self._record(jid, **values)
