"""The service through a real app-store outage (issue 12 items 18–19), on all three databases.

While the database is down the job worker waits and retries its writes
(never dies), ``/api/health`` says ``degraded`` with the reason, and the
database-backed routes answer 503 with a one-line reason; once it is back
the job is recorded and the worker takes the next one.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from conftest import AUTH, SYM, wait_for, wait_job  # tests/service/conftest.py

#: Database-backed routes: (method, path, JSON body of a POST).
DB_ROUTES = [
    ("GET", "/api/jobs", None),
    ("GET", "/api/jobs/00000000-0000-4000-8000-000000000009", None),
    ("GET", "/api/lstm/versions", None),
    ("GET", "/api/lstm/training-runs", None),
    ("GET", "/api/lstm/alerts", None),
    ("GET", "/api/lstm/monitoring", None),
    ("GET", "/api/lstm/performance-decay", None),
    ("GET", f"/api/lstm/predict?symbol={SYM}", None),
    ("GET", f"/api/lstm/plot-data?symbol={SYM}", None),
    ("GET", f"/api/signals?symbols={SYM}", None),
    ("GET", "/api/research/runs", None),
    ("GET", "/api/research/compare", None),
    ("POST", "/api/lstm/rollback", {"version_id": "lstm-x"}),
    ("POST", "/api/lstm/check-triggers", {"symbol": SYM}),
    ("POST", "/api/lstm/check-triggers", {"symbol": SYM, "run": True}),
    ("POST", "/api/lstm/alerts", {"symbols": [SYM]}),
]


def _health(c) -> dict:
    r = c.get("/api/health")
    assert r.status_code == 200, r.text
    return r.json()


def test_job_worker_survives_a_database_outage(outage, make_client) -> None:
    c = make_client(db_url=outage.url)
    st = c.app.state.tzero
    st.runner.retry_s = (0.05, 0.2)          # retry quickly in the test (default up to 5 s)
    go = threading.Event()

    def counts_then_succeeds(progress) -> dict:
        go.wait(30)
        progress(1, 2)                       # the database is down: the count is lost, the job goes on
        return {"ok": True}

    def reads_the_database(progress) -> dict:
        go.wait(30)
        with st.Session() as s:              # the database is down: the job fails
            s.execute(text("SELECT 1"))
        return {"ok": "never"}

    for fn, end in ((counts_then_succeeds, "succeeded"), (reads_the_database, "failed")):
        go.clear()
        jid = st.runner.submit("test", {}, fn, total=2)
        wait_for(lambda jid=jid: st.runner.get(jid)["state"] == "running", what="job running")
        outage.down(st.engine)
        go.set()
        wait_for(lambda: _health(c)["status"] == "degraded", what="health degraded")
        h = _health(c)
        assert any("database unavailable" in r for r in h["reasons"]), h
        assert h["jobs_running"] is None
        time.sleep(0.5)                      # the worker retries meanwhile
        assert st.runner.alive()
        outage.up()
        job = wait_job(c, jid, timeout=30)   # recorded once the database is back
        assert job["state"] == end, job
        if end == "succeeded":
            assert job["result"] == {"ok": True} and job["finished_at"]
        else:
            assert job["error"].startswith("database unavailable while the job ran"), job["error"]
        wait_for(lambda: _health(c)["status"] == "ok", what="health ok again")
    jid = st.runner.submit("test", {}, lambda _p: {"after": 1})   # the worker still takes jobs
    assert wait_job(c, jid)["result"] == {"after": 1}
    h = _health(c)
    assert (h["status"], h["reasons"], h["jobs_running"]) == ("ok", [], 0)


def test_database_routes_answer_503_while_it_is_down(outage, make_client) -> None:
    c = make_client(db_url=outage.url)
    outage.down(c.app.state.tzero.engine)
    for method, path, body in DB_ROUTES:
        r = c.request(method, path, json=body, headers=AUTH if method == "POST" else None)
        assert r.status_code == 503, (path, r.status_code, r.text)
        detail = r.json()["detail"]
        assert detail.startswith("database unavailable"), (path, detail)
        assert "\n" not in detail and len(detail) < 400, (path, detail)
        assert r.headers["retry-after"] == "5"
    outage.up()
    assert c.get("/api/jobs").json() == []   # nothing was queued by a refused POST
    assert c.get("/api/lstm/versions").status_code == 200
