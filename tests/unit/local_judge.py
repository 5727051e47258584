"""judge.rb run by this machine's `ruby` over pipes, as a StubEngine's judge containers
behave: the judge's protocol and its verdicts, tested without a docker engine. Only tests
run Ruby on the runner's machine; the runner runs it in its judge containers alone."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from runner.settings import Settings
from sandbox.engine import ContainerSpec, Image, Outcome
from sandbox.host import Host
from sandbox.ruby_judge import RubyJudge
from sandbox.stub_engine import StubEngine

needs_ruby = pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed")
JUDGE_IMAGE = "cyber-dojo-local/ruby-judge:latest"


class LocalRuby:
    """A Behaviour of StubEngine: each container's command, run here once and kept, gets
    every request written to it, and its answer is read as the engine's attach reads it."""

    def __init__(self) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def __call__(self, spec: ContainerSpec, stdin: bytes) -> Outcome:
        process = self.processes.get(spec.name)
        if process is None:
            process = subprocess.Popen(spec.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self.processes[spec.name] = process
        assert process.stdin is not None and process.stdout is not None
        started = time.monotonic()
        try:
            process.stdin.write(stdin)
            process.stdin.flush()
        except BrokenPipeError:
            return Outcome(None, b"", b"", None, killed=True, elapsed_s=0.0)
        head = process.stdout.readline()
        words = head.split()
        if len(words) != 3:
            return Outcome(None, b"", b"", None, killed=True, elapsed_s=0.0)
        body = process.stdout.read(int(words[1]) + int(words[2]))
        return Outcome(None, head + body, b"", None, False, time.monotonic() - started)

    def close(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait()
        self.processes.clear()


def local_judge(ruby: LocalRuby) -> RubyJudge:
    """A RubyJudge whose containers are judge.rb run here by `ruby`."""
    engine = StubEngine(behave=ruby, images={JUDGE_IMAGE: Image("sha256:judge", {})})
    return RubyJudge(Host(Settings(judge_image=JUDGE_IMAGE), engine), JUDGE_IMAGE)
