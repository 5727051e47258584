"""A typed Python client of the runner's HTTP API (docs/API.md); needs only requests."""

from client.client import RunnerClient
from client.errors import ApiError, JobFailed
from client.shapes import Accepted, Job, JobError, KataRecord

__all__ = ["Accepted", "ApiError", "Job", "JobError", "JobFailed", "KataRecord", "RunnerClient"]
