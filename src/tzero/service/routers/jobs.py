"""``/api/jobs``: background jobs (training, trigger runs) and their progress."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from tzero.service.deps import ServiceState, get_state
from tzero.service.schemas import Job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=Job)
def get_job(job_id: str = Path(..., max_length=64), st: ServiceState = Depends(get_state)) -> dict:
    """One job: state, real progress (symbols done / total) when counted, result or error."""
    job = st.runner.get(job_id)
    if job is None:
        raise HTTPException(404, f"job_id: unknown job {job_id!r}; see GET /api/jobs")
    return job


@router.get("", response_model=list[Job])
def list_jobs(limit: int = Query(50, ge=1, le=500), st: ServiceState = Depends(get_state)) -> list[dict]:
    """Recent jobs, newest first."""
    return st.runner.list(limit)
