"""``POST /v1/seed`` (202 + ``Location``) and ``GET /v1/jobs/{id}``."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from lakesmith.api.deps import Admin, Jobs, Reader
from lakesmith.api.schemas import Job, SeedIn

router = APIRouter(tags=["jobs"])


@router.post("/seed", response_model=Job, status_code=status.HTTP_202_ACCEPTED)
def seed(who: Admin, jobs: Jobs, response: Response, body: SeedIn | None = None) -> Job:
    """Generate and load the entities demo data in the background; poll the job."""
    job = jobs.seed(who, body or SeedIn())
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.get("/jobs/{job_id}", response_model=Job)
def job(job_id: str, _: Reader, jobs: Jobs) -> Job:
    """A job's status, progress and result."""
    return jobs.get(job_id)
