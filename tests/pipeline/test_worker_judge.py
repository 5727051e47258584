"""A worker's Ruby judge, from the worker's side: made at the first lambda the translator
cannot translate, used by that worker process alone, and removed when the worker ends."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from api.app import create_app
from harness.services import RedisServer, celery_worker, wait_for
from runner.identifiers import cyber_dojo_sandbox
from runner.settings import Settings
from sandbox.host import ROLE_LABEL, Host
from sandbox.ruby_judge import JUDGE_ROLE, WORKER_LABEL
from tests.conftest import SHELL
from tests.hosts.conftest import clear, leftovers
from tests.pipeline.test_cyber_dojo import UNTRANSLATED
from tests.stack import stack_env


def test_a_worker_that_ends_removes_its_ruby_judge(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    log_dir: Path = tmp_path_factory.mktemp("worker-judge")
    server = RedisServer(log_dir)
    instance = f"{settings.instance}j"  # an instance of its own: its containers are its own
    worker = celery_worker(
        "judging", {**stack_env(settings, server.url), "RUNNER_INSTANCE": instance}, log_dir
    )
    api = create_app(Settings(redis_url=server.url, instance=instance)).test_client()
    host = Host.connect(Settings(instance=instance))
    judges = {**host.ours(), ROLE_LABEL: JUDGE_ROLE}
    try:
        wait_for(lambda: api.get("/readyz").status_code == 200, 60, "the worker ready")
        cyber_dojo_id = secrets.token_hex(3) + "-0"
        for status in (0, 1):
            answer = api.get(
                "/run_cyber_dojo_sh",
                json={
                    "id": cyber_dojo_id,
                    "files": {"cyber-dojo.sh": f"exit {status}"},
                    "manifest": {"image_name": SHELL, "max_seconds": 5, "rag_lambda": UNTRANSLATED},
                },
            )
            assert answer.status_code == 200, answer.text
            outcome = answer.get_json()["run_cyber_dojo_sh"]["outcome"]
            assert outcome == ("green" if status == 0 else "red")
        [judge] = host.engine.containers(judges)  # one, made once, used twice
        assert judge.labels[WORKER_LABEL].rsplit(":", 1)[1].isdigit()  # its host and pid
        kata_id = cyber_dojo_sandbox(cyber_dojo_id)[0]
        assert api.delete(f"/katas/{kata_id}").status_code == 202
        wait_for(lambda: leftovers(host)["volumes"] == [], 60, "the kata deleted")
        worker.stop()  # a warm shutdown: each worker process ends, and its judge with it
        assert host.engine.containers(judges) == []
        assert leftovers(host) == {"containers": [], "volumes": [], "disks": []}
    finally:
        worker.stop()
        clear(host)
        server.stop()
