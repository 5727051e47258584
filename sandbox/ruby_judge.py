"""The Ruby judge: a traffic-light lambda that traffic_lights/ cannot translate, judged by real
Ruby as cyber-dojo's runner judges it, in a locked-down container of the docker host, never in
the runner's own processes.

Each worker process keeps one judge container on its host, made at its first judgement and
reused, so that a judgement costs an attach and a fork, not a container. Its process is
sandbox/judge.rb: it reads requests on its stdin and answers on its stdout, over the engine's
attach stream, framed as the agent's (sandbox/agent.py's `frame`; the engine's `ask` finds the
answer by its nonce), and evaluates each lambda in a child forked for it alone, under a time
limit. One container per worker process, not one per host: two processes' requests written at
once into one container's stdin would interleave. A judge with no request for IDLE_S ends and
the engine removes it (auto_remove), so a worker that is gone leaves nothing behind for long;
one that does not answer in time is removed, and the next judgement makes another.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from runner import metrics
from runner.errors import ContainerGone, RunnerError
from sandbox import agent
from sandbox.engine import ContainerSpec
from sandbox.host import ROLE_LABEL, RUNNER_LABEL, Host

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).with_name("judge.rb")
JUDGE_ROLE = "judge"
VERSION_LABEL = f"{RUNNER_LABEL}.judge"  # the sha of judge.rb the container runs
WORKER_LABEL = f"{RUNNER_LABEL}.worker"  # the worker process that made it (host:pid)
FAULTY = "faulty"
COLOURS = ("red", "amber", "green", FAULTY)

TIME_LIMIT_S = 1.5  # a lambda's wall time, from its fork to its colour
# How long the worker waits for an answer: the lambda's time, its fork, the attach.
ANSWER_S = TIME_LIMIT_S + 3.5
IDLE_S = 600  # a judge with no request for this long ends
REQUEST_BYTES = 8 * 1024 * 1024  # the most judge.rb reads of one request
MEMORY_BYTES = 128 * 1024 * 1024  # the container's: Ruby, and one lambda's child at a time
PIDS = 8  # Ruby and one child at a time, with room for their threads
USER = "65534:65534"  # nobody: no file of the image is the judge's

Verdict = tuple[str, str | None]  # the colour, and why it is faulty (None when it is not)


@cache
def script() -> str:
    """judge.rb, as the judge's Ruby runs it (`ruby -e`): the image holds only Ruby."""
    return SCRIPT.read_text()


@cache
def version() -> str:
    """The version of the judge: the first 12 hex digits of judge.rb's sha256."""
    return hashlib.sha256(script().encode()).hexdigest()[:12]


def request(nonce: str, lambda_text: str, stdout: str, stderr: str, status: int) -> bytes:
    """The framed request of one judgement, as judge.rb reads it."""
    run = {"stdout": stdout, "stderr": stderr, "status": status}
    return agent.frame({"nonce": nonce, "lambda": lambda_text, **run})


def parse_verdict(answer: bytes) -> Verdict | None:
    """The colour in the judge's answer ("<nonce> <size> <size>", a newline, the colour, the
    reason), and the reason when it is faulty; None when the answer is empty or cut."""
    head, _, body = answer.partition(b"\n")
    words = head.split()
    if len(words) != 3 or not (words[1].isdigit() and words[2].isdigit()):
        return None
    colour_bytes, reason_bytes = int(words[1]), int(words[2])
    if len(body) != colour_bytes + reason_bytes:
        return None
    colour = body[:colour_bytes].decode(errors="replace")
    if colour not in COLOURS:
        return None
    reason = body[colour_bytes:].decode(errors="replace")
    return colour, (reason or "the lambda is faulty") if colour == FAULTY else None


def judge_limits() -> dict[str, Any]:
    """The host config of a judge container, as the engine's keywords: nothing but Ruby, on
    its stdin and stdout."""
    return {
        "network_mode": "none",
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": PIDS,
        "mem_limit": MEMORY_BYTES,
        "memswap_limit": MEMORY_BYTES,  # no swap
        "nano_cpus": 1_000_000_000,
        "ulimits": [
            {"name": "core", "soft": 0, "hard": 0},
            {"name": "fsize", "soft": 0, "hard": 0},
            {"name": "nofile", "soft": 64, "hard": 64},
        ],
        # Answers reach the worker through the attach stream only: no log on the host.
        "log_config": {"type": "none"},
        "auto_remove": True,  # a judge that ended, idle, is gone with it
    }


@dataclass
class RubyJudge:
    """The judge container of one docker host, as one worker process uses it."""

    host: Host
    image: str
    _container: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, host: Host) -> RubyJudge | None:
        """The host's judge, in the image the settings name; None when they name none (an
        untranslatable lambda's runs are then faulty)."""
        image = host.settings.judge_image
        return cls(host, image) if image else None

    @property
    def container(self) -> str:
        """The id of this process's judge container; empty while it has none."""
        return self._container

    def lambda_judged(self, lambda_text: str) -> JudgedLambda:
        """The lambda, judged by this judge run by run."""
        return JudgedLambda(self, lambda_text)

    def verdict(self, lambda_text: str, stdout: str, stderr: str, status: int) -> Verdict:
        """The lambda's colour for one run's output, as cyber-dojo's runner gives it: faulty,
        with the reason, when it fails, loops, floods or gives no colour, or when the judge
        itself cannot judge (logged)."""
        nonce = agent.nonce()
        framed = request(nonce, lambda_text, stdout, stderr, status)
        if len(framed) > REQUEST_BYTES:
            return FAULTY, f"the lambda and the output are {len(framed)} bytes: too long to judge"
        with self._lock:
            try:
                found = self._ask(framed, nonce)
            except RunnerError as error:
                log.error("the Ruby judge failed: %s", error)
                found = FAULTY, f"the Ruby judge failed: {error}"
        metrics.LAMBDA_JUDGEMENTS.labels(found[0]).inc()
        return found

    def _ask(self, framed: bytes, nonce: str) -> Verdict:
        """The answer of this process's judge container; of a new one when that one is gone
        (ended when idle, removed by an operator)."""
        made = False
        while True:
            if not self._container:
                self._container, made = self._make(), True
            try:
                answer = self.host.engine.ask(self._container, framed, nonce.encode(), ANSWER_S)
            except ContainerGone as error:
                self.close()
                if made:
                    return FAULTY, f"the Ruby judge ended as it judged the lambda: {error}"
                continue
            found = parse_verdict(answer)
            if found is None:
                log.warning(
                    "the Ruby judge %s did not answer whole within %.1f s: removing it",
                    self._container[:12],
                    ANSWER_S,
                )
                self.close()
                return FAULTY, f"the Ruby judge did not answer within {ANSWER_S} s"
            return found

    def _make(self) -> str:
        worker = f"{socket.gethostname()}:{os.getpid()}"
        spec = ContainerSpec(
            image=self.image,
            command=["ruby", "--disable-gems", "-e", script(), str(TIME_LIMIT_S), str(IDLE_S)],
            user=USER,
            name=f"{self.host.settings.instance}-judge-{os.getpid()}-{secrets.token_hex(4)}",
            labels={
                **self.host.ours(),
                ROLE_LABEL: JUDGE_ROLE,
                VERSION_LABEL: version(),
                WORKER_LABEL: worker,
            },
            binds={},
            limits=judge_limits(),
            working_dir="/",
            open_stdin=True,
        )
        container_id = self.host.engine.start_container(spec)
        log.info("the Ruby judge of %s is container %s", worker, container_id[:12])
        return container_id

    def close(self) -> None:
        """Removes this process's judge container, if it has one."""
        container_id, self._container = self._container, ""
        if container_id:
            self.host.engine.remove_container(container_id)


@dataclass(frozen=True)
class JudgedLambda:
    """A lambda that the translator cannot translate, judged by the host's Ruby judge."""

    judge: RubyJudge
    text: str

    def verdict(self, stdout: str, stderr: str, status: int) -> Verdict:
        """The run's colour, and why it is faulty (None when it is not)."""
        return self.judge.verdict(self.text, stdout, stderr, status)
