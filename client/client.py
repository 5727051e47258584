"""RunnerClient: the runner's HTTP API (docs/API.md) as typed Python calls."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote

import requests

from client.errors import ApiError, JobFailed
from client.shapes import Accepted, Job, KataRecord

DEFAULT_URL = "http://127.0.0.1:4597"
MAX_WAIT_S = 30.0  # the longest ?wait= the API accepts
ENDED = ("done", "failed")


class RunnerClient:
    """A client of one runner; each method is one call of docs/API.md."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        token: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.session = requests.Session()

    def close(self) -> None:
        """Closes the client's connections."""
        self.session.close()

    def __enter__(self) -> RunnerClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def new_kata(self, kata_id: str, image_name: str) -> Accepted:
        """Submits creating the kata's volume (idempotent)."""
        return self._submit("PUT", f"/katas/{_segment(kata_id)}", {"image_name": image_name})

    def old_kata(self, kata_id: str) -> Accepted:
        """Submits removing the kata's containers and volume."""
        return self._submit("DELETE", f"/katas/{_segment(kata_id)}")

    def new_avatar(
        self, kata_id: str, avatar_name: str, image_name: str, starting_files: Mapping[str, str]
    ) -> Accepted:
        """Submits setting the avatar's sandbox to exactly starting_files."""
        body = {"image_name": image_name, "starting_files": dict(starting_files)}
        return self._submit("PUT", _avatar_path(kata_id, avatar_name), body)

    def old_avatar(self, kata_id: str, avatar_name: str) -> Accepted:
        """Submits removing the avatar's sandbox."""
        return self._submit("DELETE", _avatar_path(kata_id, avatar_name))

    def run(
        self,
        kata_id: str,
        avatar_name: str,
        image_name: str,
        changed_files: Mapping[str, str] | None = None,
        deleted_filenames: Iterable[str] | None = None,
        max_seconds: int = 10,
    ) -> Accepted:
        """Submits a run: delete, write, then run cyber-dojo.sh in the avatar's sandbox."""
        body = {
            "image_name": image_name,
            "changed_files": dict(changed_files or {}),
            "deleted_filenames": list(deleted_filenames or []),
            "max_seconds": max_seconds,
        }
        return self._submit("POST", _avatar_path(kata_id, avatar_name) + "/runs", body)

    def pull_image(self, image_name: str) -> Accepted:
        """Submits pulling or updating the image on the docker host(s)."""
        return self._submit("POST", "/images/pull", {"image_name": image_name})

    def job(self, job_id: str, wait_s: float = 0) -> Job:
        """The job, once it ended or after wait_s seconds (0 to 30), whichever comes first."""
        params = {"wait": f"{wait_s:g}"}
        answer = self._call("GET", f"/jobs/{_segment(job_id)}", params=params, wait_s=wait_s)
        return cast(Job, answer.json())

    def wait(self, job_id: str, timeout_s: float = 120.0) -> Job:
        """The job once it is done or failed; TimeoutError if it has not ended in timeout_s."""
        give_up = time.monotonic() + timeout_s
        while True:
            left = round(max(0.0, give_up - time.monotonic()), 3)
            job = self.job(job_id, wait_s=min(MAX_WAIT_S, left))
            if job["state"] in ENDED:
                return job
            if time.monotonic() >= give_up:
                raise TimeoutError(f"job {job_id} is still {job['state']} after {timeout_s} s")

    def wait_done(self, submitted: Accepted | str, timeout_s: float = 120.0) -> Job:
        """The submitted job once done; JobFailed if it failed, TimeoutError if it never ends."""
        job_id = submitted if isinstance(submitted, str) else submitted["job_id"]
        job = self.wait(job_id, timeout_s)
        if job["state"] == "failed":
            raise JobFailed(job)
        return job

    def run_and_wait(
        self,
        kata_id: str,
        avatar_name: str,
        image_name: str,
        changed_files: Mapping[str, str] | None = None,
        deleted_filenames: Iterable[str] | None = None,
        max_seconds: int = 10,
        timeout_s: float = 120.0,
    ) -> Job:
        """Runs and waits: the done job, its traffic light in job["result"]["colour"]."""
        accepted = self.run(
            kata_id, avatar_name, image_name, changed_files, deleted_filenames, max_seconds
        )
        return self.wait_done(accepted, timeout_s)

    def kata(self, kata_id: str) -> KataRecord:
        """What the runner knows of the kata; ApiError 404 kata_not_found if nothing."""
        return cast(KataRecord, self._call("GET", f"/katas/{_segment(kata_id)}").json())

    def workers(self) -> dict[str, Any]:
        """The workers online, the queue depth and the oldest queued job's age."""
        return cast(dict[str, Any], self._call("GET", "/workers").json())

    def healthz(self) -> dict[str, Any]:
        """{"ok": true} while the API serves."""
        return cast(dict[str, Any], self._call("GET", "/healthz").json())

    def readyz(self) -> dict[str, Any]:
        """The answer when ready; ApiError 503 with the reason when not."""
        # Not ready is the answer asked for, not a passing failure: asked once, never retried.
        return cast(dict[str, Any], self._call("GET", "/readyz", retry=False).json())

    def metrics(self) -> str:
        """The metrics in Prometheus text format."""
        return self._call("GET", "/metrics").text

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3 document of the API."""
        return cast(dict[str, Any], self._call("GET", "/openapi.json").json())

    def _submit(self, method: str, path: str, body: dict[str, Any] | None = None) -> Accepted:
        return cast(Accepted, self._call(method, path, body=body).json())

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        wait_s: float = 0,
        retry: bool = True,
    ) -> requests.Response:
        """The successful answer; ApiError for an error answer once retries are spent."""
        # Repeating any call is safe: PUT and DELETE are idempotent, and a repeated run runs
        # the same files again.
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                answer = self.session.request(
                    method,
                    self.base_url + path,
                    json=body,
                    params=params,
                    headers=self.headers,
                    timeout=self.timeout_s + wait_s,
                )
            except requests.ConnectionError:
                if last:
                    raise
            else:
                if answer.ok:
                    return answer
                if answer.status_code != 503 or last:
                    raise error_of(answer)
            time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")


def error_of(answer: requests.Response) -> ApiError:
    """The ApiError of an error answer, read from API.md's error body when it has one."""
    try:
        error = answer.json()["error"]
        return ApiError(
            answer.status_code,
            str(error["code"]),
            str(error["message"]),
            list(error.get("details") or []),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return ApiError(answer.status_code, "unknown", answer.text[:500] or answer.reason)


def _segment(value: str) -> str:
    """value as one path segment, so that no identifier can reach another path."""
    return quote(value, safe="")


def _avatar_path(kata_id: str, avatar_name: str) -> str:
    return f"/katas/{_segment(kata_id)}/avatars/{_segment(avatar_name)}"
