"""Background jobs of the HTTP service: one worker thread, every job persisted in ``service_job``.

LSTM training is CPU-bound and already spreads symbols over processes, so the
service runs one job at a time: a request enqueues a job (``pending``) and gets
its id back at once; the worker marks it ``running``, then ``succeeded`` with a
JSON result or ``failed`` with the error. Progress is recorded only when it is
a real count (symbols trained out of symbols asked for), never an estimate.
A job left ``pending``/``running`` by a server that stopped is marked
``failed`` when the next one starts (:meth:`JobRunner.recover`).
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

log = logging.getLogger("tzero.service.jobs")

RESTART_ERROR = "server restarted while the job ran"
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
    """

    def __init__(self, Session: sessionmaker) -> None:
        self.Session = Session
        self._queue: queue.Queue[tuple[str, JobFn] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle
    def recover(self) -> int:
        """Mark jobs left ``pending``/``running`` by an earlier server ``failed``; return how many."""
        with self.Session.begin() as s:
            res = s.execute(update(ServiceJob).where(ServiceJob.state.in_(("pending", "running")))
                            .values(state="failed", error=RESTART_ERROR, finished_at=now()))
            return int(res.rowcount or 0)

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="tzero-jobs", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to finish after the job it is running; wait up to ``timeout`` s."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

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

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            jid, fn = item
            self._set(jid, state="running", started_at=now())

            def progress(done: int, total: int, _jid: str = jid) -> None:
                self._set(_jid, progress_done=int(done), progress_total=int(total))

            try:
                result = fn(progress)
                self._set(jid, state="succeeded", finished_at=now(),
                          result_json=json.dumps(result, default=str, ensure_ascii=False))
            except Exception as exc:  # a job's failure is its record, never the worker's end
                log.warning("job %s failed: %s", jid, exc)
                self._set(jid, state="failed", finished_at=now(),
                          error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
