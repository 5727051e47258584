"""cyber-dojo's runner protocol, as its web server's RunnerService speaks it (docs/API.md,
"The cyber-dojo protocol"): a GET (or POST) of /<method> with a JSON body, answered
{"<method>": result}, or {"exception": {...}} with 400 for a bad call and 500 otherwise.

A run is a `cyber_dojo_run` job of the kata its id maps to (runner.identifiers.
cyber_dojo_sandbox), run as cyber-dojo's runner runs it (sandbox/cyber_dojo_run.py), waited
for here: the caller sees it synchronously.
"""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from api.state import State, state
from runner import keys, metrics
from runner.errors import ImageNotAllowed, ImageNotFound, InvalidRequest, RunnerError, TooLarge
from runner.identifiers import cyber_dojo_sandbox
from runner.jobs import ENDED, MAX_WAIT_S, JobKind
from runner.models import CyberDojoRun, PullImage, Request
from runner.settings import normalise_image_name
from runner.store import redis_errors

log = logging.getLogger(__name__)

bp = Blueprint("cyber_dojo", __name__)

# Each method's path and the key of its answer.
ANSWER_KEYS = {
    "alive": "alive?",
    "ready": "ready?",
    "sha": "sha",
    "pull_image": "pull_image",
    "run_cyber_dojo_sh": "run_cyber_dojo_sh",
}
PATHS = frozenset(f"/{method}" for method in ANSWER_KEYS)
# The kind of the job a run_cyber_dojo_sh is.
RUN_KIND: JobKind = "cyber_dojo_run"
# cyber-dojo's runner caps max_seconds at 15, and gives its own outcomes these statuses.
MAX_SECONDS = 15
STATUS = {"pulling": "141", "timed_out": "142", "faulty": "143"}
# A run's answer waits for max_seconds and the runner's own allowances, plus this for the
# kata's making, the sandbox's filling and the queue; within the web server's read timeout
# (Ruby's Net::HTTP: 60 s).
RUN_MARGIN_S = 25.0
# How long pull_image waits for its check of the host (a pull job of an image that is
# there ends at once) before it answers "pulling".
PULL_CHECK_S = 3.0
# A pull started for the protocol is remembered this long: meanwhile its calls follow it.
PULL_MARK_TTL_S = 600
BAD_CALL_CODES = frozenset(error.code for error in (InvalidRequest, ImageNotAllowed, TooLarge))


EXCEPTION_BODY_CHARS = 4096


class BadCall(Exception):
    """A call the protocol refuses with 400: its path, body or arguments."""


def answer(path: str) -> tuple[Response, int]:
    """The protocol's answer to the request at path, in cyber-dojo's shapes only."""
    try:
        method = path.lstrip("/")
        if path not in PATHS or request.method not in ("GET", "POST"):
            raise BadCall("unknown path")
        result = CALLS[method](_arguments())
        return jsonify({ANSWER_KEYS[method]: result}), 200
    except BadCall as error:
        return exception(path, str(error), "invalid_request", 400)
    except RunnerError as error:
        status = 400 if error.code in BAD_CALL_CODES else 500
        return exception(path, str(error), error.code, status)
    except Exception:
        log.exception("cyber-dojo %s failed", path)
        return exception(path, "internal error: the runner's log says more", "internal", 500)


def exception(path: str, message: str, code: str, status: int) -> tuple[Response, int]:
    """cyber-dojo's exception body: its keys, with the backtrace empty (the log has it) and
    the call's body cut at EXCEPTION_BODY_CHARS; `code` is this runner's own."""
    log.log(logging.ERROR if status >= 500 else logging.WARNING, "cyber-dojo %s: %s", path, message)
    metrics.ERRORS.labels(code).inc()
    try:
        sent = request.get_data(as_text=True)[:EXCEPTION_BODY_CHARS]
    except RequestEntityTooLarge:
        sent = ""
    body = {
        "exception": {
            "path": path,
            "body": sent,
            "class": "Runner",
            "message": message,
            "backtrace": [],
            "code": code,
        }
    }
    return jsonify(body), status


@bp.route(
    "/<any(alive, ready, sha, pull_image, run_cyber_dojo_sh):method>", methods=["GET", "POST"]
)
def call(method: str) -> tuple[Response, int]:
    return answer(request.path)


def _arguments() -> dict[str, Any]:
    """The call's JSON object body; an empty body is no arguments."""
    try:
        data = request.get_data()
    except RequestEntityTooLarge:
        limit = request.max_content_length
        raise TooLarge(f"the body is over its limit of {limit} bytes") from None
    if not data.strip():
        return {}
    try:
        found = json.loads(data)
    except ValueError:
        raise BadCall("body is not JSON") from None
    if not isinstance(found, dict):
        raise BadCall("body is not JSON Hash")
    return found


def _expect(args: dict[str, Any], required: tuple[str, ...]) -> None:
    missing = [name for name in required if name not in args]
    unknown = sorted(set(args) - set(required))
    # Worded as cyber-dojo's runner words them, from Ruby's keyword errors.
    if missing:
        raise BadCall(f"missing argument{'s' * (len(missing) > 1)}: {_symbols(missing)}")
    if unknown:
        raise BadCall(f"unknown argument{'s' * (len(unknown) > 1)}: {_symbols(unknown)}")


def _symbols(names: list[str]) -> str:
    return ", ".join(f":{name}" for name in names)


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise BadCall(f"{name}: expected a String")
    return value


def alive(args: dict[str, Any]) -> bool:
    _expect(args, ())
    return True


def ready(args: dict[str, Any]) -> bool:
    _expect(args, ())
    try:
        return state().jobs.workers_consuming() > 0
    except RunnerError:
        return False  # Redis does not answer


def sha(args: dict[str, Any]) -> str:
    _expect(args, ())
    return state().settings.commit_sha or _git_head()


@functools.cache
def _git_head() -> str:
    """The commit of the checkout the runner runs from, or "" outside one."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def pull_image(args: dict[str, Any]) -> str:
    _expect(args, ("id", "image_name"))
    _string(args["id"], "id")
    image_name = _string(args["image_name"], "image_name")
    pull = _validated(PullImage, {"image_name": image_name, "if_missing": True})
    return _Pulls(state()).check(pull, PULL_CHECK_S)


def run_cyber_dojo_sh(args: dict[str, Any]) -> dict[str, Any]:
    _expect(args, ("id", "files", "manifest"))
    cyber_dojo_id = _string(args["id"], "id")
    manifest = args["manifest"]
    if not isinstance(manifest, dict):
        raise BadCall("manifest: expected a Hash")
    for name in ("image_name", "max_seconds"):
        if name not in manifest:
            raise BadCall(f"manifest: missing {name}")
    rag_lambda = manifest.get("rag_lambda")
    if rag_lambda is not None:
        rag_lambda = _string(rag_lambda, "manifest.rag_lambda") or None
    run = _validated(
        CyberDojoRun,
        {
            "cyber_dojo_id": cyber_dojo_id,
            "image_name": manifest["image_name"],
            "files": args["files"],
            "max_seconds": _max_seconds(manifest["max_seconds"]),
            "rag_lambda": rag_lambda,
        },
    )
    current = state()
    pulls = _Pulls(current)
    if pulls.pending(run.image_name):
        return _empty("pulling", {"image_name": run.image_name, "message": "the image is pulling"})
    kata_id, avatar_name = cyber_dojo_sandbox(cyber_dojo_id)
    submitted = current.jobs.submit(RUN_KIND, kata_id, avatar_name, run)
    metrics.JOBS_ACCEPTED.labels(submitted.kind).inc()
    for woken, host in submitted.wakes():
        current.wake(woken, host)
    settings = current.settings
    wait_s = run.max_seconds + settings.kill_grace_s + settings.bookkeeping_s + RUN_MARGIN_S
    job = _wait(current, submitted.job_id, wait_s)
    where = {"id": cyber_dojo_id, "kata_id": kata_id, "avatar_name": avatar_name}
    if job is None or job["state"] not in ENDED:
        reason = f"the runner did not end the run within {wait_s:g} s; it may still end"
        return _empty("faulty", {**where, "job_id": submitted.job_id, "reason": reason})
    if job["state"] == "failed":
        error = job["error"] or {"code": RunnerError.code, "message": "no error recorded"}
        if error["code"] == ImageNotFound.code:
            pulls.start(PullImage(image_name=run.image_name, if_missing=True))
            return _empty("pulling", {**where, "image_name": run.image_name, **error})
        return _empty("faulty", {**where, "job_id": submitted.job_id, **error})
    return converted(job["result"], run.max_seconds)


def _max_seconds(value: Any) -> int:
    """cyber-dojo's Integer(max_seconds), capped at 15 as its runner does."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadCall("manifest.max_seconds: expected an Integer")
    try:
        seconds = int(value)
    except ValueError:
        raise BadCall(f"manifest.max_seconds: {value!r} is not an Integer") from None
    if seconds < 1:
        raise BadCall(f"manifest.max_seconds: {seconds} is not at least 1")
    return min(seconds, MAX_SECONDS)


def _validated(model: type[Request], fields: dict[str, Any]) -> Any:
    try:
        return model.model_validate(fields, context={"settings": state().settings})
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "arguments"
        raise InvalidRequest(f"{where}: {first['msg']}") from None


def converted(result: dict[str, Any], max_seconds: int) -> dict[str, Any]:
    """A run's result (API.md's) as cyber-dojo's: its outcome is the colour, its status a
    string; cyber-dojo's own statuses for timed_out; the reasons in log."""
    outcome = result["colour"]
    status = str(result["status"])
    log_info: dict[str, Any] = {}
    if outcome == "timed_out":
        status = STATUS["timed_out"]
        log_info = {"timed_out": True, "max_seconds": max_seconds, "status": result["status"]}
    elif outcome == "faulty":
        log_info = {"faulty_reason": result["faulty_reason"]}
    if result.get("oom_killed"):
        log_info["oom_killed"] = True
    return {
        "stdout": result["stdout"],
        "stderr": result["stderr"],
        "status": status,
        "outcome": outcome,
        "log": log_info,
        "created": result["created"],
        "changed": result["changed"],
    }


def _empty(outcome: str, log_info: dict[str, Any]) -> dict[str, Any]:
    """cyber-dojo's answer of a run that did not run: empty output, its outcome's status."""
    nothing = {"content": "", "truncated": False}
    return {
        "stdout": nothing,
        "stderr": dict(nothing),
        "status": STATUS[outcome],
        "outcome": outcome,
        "log": log_info,
        "created": {},
        "changed": {},
    }


def _wait(current: State, job_id: str, wait_s: float) -> dict[str, Any] | None:
    """The job once it ended, or as it is when wait_s passed."""
    give_up = time.monotonic() + wait_s
    while True:
        left = give_up - time.monotonic()
        job = current.jobs.wait(job_id, min(left, MAX_WAIT_S)) if left > 0 else None
        if job is None:
            return current.jobs.get(job_id)
        if job["state"] in ENDED or left <= 0:
            return job


class _Pulls:
    """The pulls the protocol started, by image: a Redis key holds the pull job's id."""

    def __init__(self, current: State) -> None:
        self.current = current

    def pending(self, image_name: str) -> bool:
        """True while a pull the protocol started for the image has not ended."""
        job = self._job(image_name)
        return job is not None and job["state"] not in ENDED

    def check(self, pull: PullImage, wait_s: float) -> str:
        """`pulled` when the image is on the live hosts, else `pulling` (a pull is going)."""
        job = self._job(pull.image_name)
        if job is None or job["state"] == "failed":
            job_id = self.start(pull)
            job = _wait(self.current, job_id, wait_s)
        return "pulled" if job is not None and job["state"] == "done" else "pulling"

    def start(self, pull: PullImage) -> str:
        """Starts a pull of the image on every live host (a pull_image job that pulls only
        where it is missing), unless one is going; the id of the job that stands for it."""
        key = _pull_key(pull.image_name)
        jobs = self.current.jobs
        going = self._job_id(pull.image_name)
        if going is not None:
            job = jobs.get(going)
            if job is not None and job["state"] not in ENDED:
                return going
        # As POST /images/pull: a pull on every live host, ended with the last of them.
        submitted = jobs.submit_pull(pull)
        metrics.JOBS_ACCEPTED.labels(submitted.kind).inc()
        with redis_errors():
            jobs.redis.set(key, submitted.job_id, ex=PULL_MARK_TTL_S)
        for woken, host in submitted.wakes():
            self.current.wake(woken, host)
        log.info("cyber-dojo: pulling %s (job %s)", pull.image_name, submitted.job_id)
        return submitted.job_id

    def _job(self, image_name: str) -> dict[str, Any] | None:
        job_id = self._job_id(image_name)
        return None if job_id is None else self.current.jobs.get(job_id)

    def _job_id(self, image_name: str) -> str | None:
        with redis_errors():
            found = self.current.jobs.redis.get(_pull_key(image_name))
        return found.decode() if isinstance(found, bytes) else None


def _pull_key(image_name: str) -> str:
    return keys.cyber_dojo_pull(normalise_image_name(image_name))


CALLS = {
    "alive": alive,
    "ready": ready,
    "sha": sha,
    "pull_image": pull_image,
    "run_cyber_dojo_sh": run_cyber_dojo_sh,
}
