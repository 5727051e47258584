"""The five operations of API.md against the real engine."""

from __future__ import annotations

import contextlib
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import sandbox.images
from runner.errors import AvatarNotFound, DockerUnavailable, ImageNotFound, KataNotFound
from runner.settings import Settings
from sandbox.host import KATA_LABEL, RUNNER_LABEL, Host
from tests.conftest import PYTHON, SHELL, new_kata_id, sdk
from tests.sandbox.conftest import Ops, Runner, kata_containers, run_containers
from traffic_lights.rules import COLOUR_RULES_LABEL

KiB = 1024


HOG = "dd if=/dev/zero of=/dev/null bs=2047M count=1"  # more memory than a run may have
NOW = datetime(2026, 11, 28, 9, 30, 15, tzinfo=UTC)


def test_new_kata_makes_a_labelled_volume_with_the_layout_and_hello_time(
    host: Host, ops: Ops
) -> None:
    kata_id = new_kata_id()
    try:
        ops.new_kata(kata_id, SHELL, now=NOW)
        ops.new_kata(kata_id, SHELL, now=NOW)  # resuming repeats it
        volume = host.engine.volume(host.volume_name(kata_id))
        assert volume is not None
        assert volume.labels[KATA_LABEL] == kata_id
        assert volume.labels[RUNNER_LABEL] == host.settings.instance
        ops.new_avatar(kata_id, "lion", SHELL, {}, now=NOW)
        result = ops.run(
            kata_id,
            "lion",
            SHELL,
            {
                "cyber-dojo.sh": (
                    "cd /sandboxes && stat -c '%a %u %g %n' . .runner .runner/* lion\n"
                    "cat /sandboxes/.runner/hello_at\n"
                )
            },
            now=NOW,
        )
        assert result["stdout"]["content"].splitlines() == [
            "755 0 0 .",
            "755 0 0 .runner",
            "644 0 0 .runner/hello_at",
            "644 0 0 .runner/run_at",
            "700 40028 5000 lion",
            "2026-11-28T09:30:15.000000Z",
        ]
    finally:
        ops.old_kata(kata_id)


def test_a_run_records_its_time_in_the_volume(ops: Ops, kata: str, run_sh: Runner) -> None:
    run_sh("true")
    script = {"cyber-dojo.sh": "cat /sandboxes/.runner/run_at"}
    stamped = ops.run(kata, "lion", SHELL, script, now=NOW)
    assert stamped["stdout"]["content"] == "2026-11-28T09:30:15.000000Z\n"


def test_a_run_not_due_to_write_its_time_leaves_the_volumes_run_time(
    ops: Ops, kata: str, run_sh: Runner
) -> None:
    run_sh("true")
    script = {"cyber-dojo.sh": "cat /sandboxes/.runner/run_at"}
    ops.run(kata, "lion", SHELL, script, now=NOW)
    later = ops.run(kata, "lion", SHELL, script, now=NOW + timedelta(minutes=5), write_run_at=False)
    assert later["stdout"]["content"] == "2026-11-28T09:30:15.000000Z\n"


def test_new_kata_of_a_missing_image_is_image_not_found_and_makes_nothing(
    host: Host, ops: Ops
) -> None:
    kata_id = new_kata_id()
    with pytest.raises(ImageNotFound):
        ops.new_kata(kata_id, "cyber-dojo-local/no-such-image:latest")
    assert host.engine.volume(host.volume_name(kata_id)) is None


def test_operations_on_a_kata_never_created_are_kata_not_found(host: Host, ops: Ops) -> None:
    kata_id = new_kata_id()
    with pytest.raises(KataNotFound):
        ops.new_avatar(kata_id, "lion", SHELL, {"cyber-dojo.sh": "true"})
    for _ in range(2):  # the first writes the run time into the volume, the next does not
        with pytest.raises(KataNotFound):
            ops.run(kata_id, "lion", SHELL, {"cyber-dojo.sh": "true"})
    with pytest.raises(ImageNotFound):
        ops.run(kata_id, "lion", "cyber-dojo-local/missing:latest", {})
    with pytest.raises(KataNotFound):
        ops.old_avatar(kata_id, "lion")
    assert ops.old_kata(kata_id) == {}  # already gone is fine
    assert (
        host.engine.volume(host.volume_name(kata_id)) is None
    )  # and nothing made the volume on the way


def test_a_run_of_an_avatar_never_created_is_avatar_not_found_and_makes_nothing(
    ops: Ops, kata: str, run_sh: Runner
) -> None:
    with pytest.raises(AvatarNotFound):
        ops.run(kata, "tiger", SHELL, {"cyber-dojo.sh": "true"})
    assert run_sh("ls -A /sandboxes")["stdout"]["content"] == ".runner\nlion\n"


def test_new_avatar_sets_the_sandbox_to_exactly_the_starting_files(ops: Ops, kata: str) -> None:
    ops.new_avatar(kata, "lion", SHELL, {"old.txt": "old", "cyber-dojo.sh": "x"})
    ops.new_avatar(kata, "lion", SHELL, {"cyber-dojo.sh": "find . -type f | sort; cat a/b.txt"})
    result = ops.run(kata, "lion", SHELL, {"a/b.txt": "new"})
    assert result["stdout"]["content"] == "./a/b.txt\n./cyber-dojo.sh\nnew"


def test_old_avatar_removes_the_sandbox_and_is_idempotent(
    ops: Ops, kata: str, run_sh: Runner
) -> None:
    run_sh("mkdir -p deep/er; chmod 000 deep; echo x > y", avatar="tiger")
    assert ops.old_avatar(kata, "tiger") == {}
    assert ops.old_avatar(kata, "tiger") == {}
    with pytest.raises(AvatarNotFound):
        ops.run(kata, "tiger", SHELL, {"cyber-dojo.sh": "true"})
    assert run_sh("ls -A /sandboxes")["stdout"]["content"] == ".runner\nlion\n"


def test_old_kata_right_after_a_run_removes_the_volume(host: Host, ops: Ops) -> None:
    kata_id = new_kata_id()
    ops.new_kata(kata_id, SHELL)
    ops.new_avatar(kata_id, "lion", SHELL, {"cyber-dojo.sh": "sleep 1 & echo hi"})
    ops.run(kata_id, "lion", SHELL, {})
    assert ops.old_kata(kata_id) == {}
    assert host.engine.volume(host.volume_name(kata_id)) is None


def test_old_kata_removes_a_leftover_container_before_the_volume(host: Host, ops: Ops) -> None:
    kata_id = new_kata_id()
    ops.new_kata(kata_id, SHELL)
    api = sdk(host).api
    api.start(
        api.create_container(
            SHELL,
            ["sleep", "600"],
            labels=host.labels(kata_id, "run"),
            volumes=["/sandboxes"],
            host_config=api.create_host_config(
                binds={host.volume_name(kata_id): {"bind": "/sandboxes", "mode": "rw"}}
            ),
        )["Id"]
    )
    assert ops.old_kata(kata_id) == {}
    assert kata_containers(host, kata_id) == []
    assert host.engine.volume(host.volume_name(kata_id)) is None


def test_created_changed_and_deleted_compare_the_sandbox_around_the_run(run_sh: Runner) -> None:
    run_sh("true", changed={"keep.txt": "same", "edit.txt": "before", "gone.txt": "bye"})
    result = run_sh(
        "echo after > edit.txt; rm gone.txt; mkdir -p new; echo made > new/made.txt;"
        "printf 'bin\\000ary' > binary.dat; echo stdout; exit 1"
    )
    assert result["created"] == {"new/made.txt": {"content": "made\n", "truncated": False}}
    assert result["changed"] == {"edit.txt": {"content": "after\n", "truncated": False}}
    assert result["deleted"] == ["gone.txt"]
    assert result["stdout"] == {"content": "stdout\n", "truncated": False}
    assert (result["status"], result["colour"], result["timed_out"], result["oom_killed"]) == (
        1,
        "red",
        False,
        False,
    )
    assert isinstance(result["duration_ms"], int)


@pytest.mark.parametrize("image", [SHELL, PYTHON])
def test_a_request_deletes_then_writes(ops: Ops, kata: str, image: str) -> None:
    many = {f"many/{i:03}-{'x' * 250}": "" for i in range(260)}
    odd = {
        f"odd/{name}": "" for name in ("it's", "new\nline", "-dash", "$(id)", ".h", "..h", "b\\s")
    }
    listing = "find . -type f | cut -c 1-14 | sort"  # under the 50 KiB output cap
    ops.new_avatar(
        kata,
        "lion",
        image,
        {"cyber-dojo.sh": listing, "a.txt": "a", "-b.txt": "b", **many, **odd},
    )

    def run(changed: dict[str, str], deleted: list[str]) -> list[str]:
        result = ops.run(kata, "lion", image, changed, deleted)
        assert (result["created"], result["changed"], result["deleted"]) == ({}, {}, [])
        lines: list[str] = result["stdout"]["content"].splitlines()
        return lines

    def cut(*names: str) -> list[str]:
        return sorted(line[:14] for name in names for line in f"./{name}".split("\n"))

    assert run({}, ["a.txt", "-b.txt", "never.txt"]) == cut("cyber-dojo.sh", *many, *odd)
    assert run({"c.txt": "c", "many/new/d.txt": "d"}, [min(many)]) == cut(
        "c.txt", "cyber-dojo.sh", *sorted(many)[1:], "many/new/d.txt", *odd
    )
    assert run({"c.txt": "again"}, [*sorted(many), "many/new/d.txt", *odd, "a.txt/no"]) == cut(
        "c.txt", "cyber-dojo.sh"
    )


def test_files_and_output_are_capped_at_50_KiB_and_created_at_16_sorted(run_sh: Runner) -> None:
    result = run_sh(
        "i=0; while [ $i -lt 20 ]; do echo $i > f$(printf %02d $i).txt; i=$((i+1)); done\n"
        "head -c 60000 /dev/zero | tr '\\0' a > big.txt\n"
        "head -c 60000 /dev/zero | tr '\\0' e >&2\n"
    )
    names = list(result["created"])
    assert names == sorted(names) and len(names) == 16
    assert names[0] == "big.txt" and names[1:] == [f"f{i:02d}.txt" for i in range(15)]
    assert result["created"]["big.txt"] == {"content": "a" * 50 * KiB, "truncated": True}
    assert result["stderr"] == {"content": "e" * 50 * KiB, "truncated": True}


def test_an_image_without_usable_colour_rules_gives_faulty(
    settings: Settings, kata: str, tmp_path: Path, run_sh: Runner
) -> None:
    run_sh("true")
    overrides = tmp_path / "rules.json"
    overrides.write_text(json.dumps({SHELL: {"rules": [{"colour": "purple"}]}}))
    broken = Ops.of(Host.connect(settings.model_copy(update={"colour_rules_file": str(overrides)})))
    result = broken.run(kata, "lion", SHELL, {"cyber-dojo.sh": "exit 0"})
    assert result["colour"] == "faulty"
    assert result["status"] == 0


def test_a_run_asks_the_engine_nothing_once_the_agents_answer_is_whole(
    settings: Settings, kata: str, run_sh: Runner
) -> None:
    run_sh("true")
    counted_ops = Ops.of(Host.connect(settings))
    counted_ops.run(kata, "lion", SHELL, {})  # the image's id is looked up once
    calls: list[str] = []
    api = sdk(counted_ops.host).api
    send = api.send

    def counted(request: Any, **kwargs: Any) -> Any:
        path = re.sub(r"^/v[0-9.]+", "", request.path_url.split("?")[0])
        calls.append(f"{request.method} {re.sub(r'/containers/[0-9a-f]{64}', '/{id}', path)}")
        return send(request, **kwargs)

    api.send = counted
    # Not due to write the run time: the pipeline's gate says so at most once an hour.
    ran = counted_ops.run(
        kata, "lion", SHELL, {"cyber-dojo.sh": "echo hi; exit 3"}, write_run_at=False
    )
    hog = counted_ops.run(kata, "lion", SHELL, {"cyber-dojo.sh": HOG}, write_run_at=False)
    assert (ran["status"], ran["stdout"]["content"], ran["oom_killed"]) == (3, "hi\n", False)
    assert (hog["status"], hog["oom_killed"]) == (137, True)
    whole = ["POST /containers/create", "POST /{id}/attach", "POST /{id}/start", "DELETE /{id}"]
    assert calls == whole * 2


def test_a_run_uses_the_image_its_name_stands_for_with_that_images_rules(
    settings: Settings, kata: str, run_sh: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_sh("true")
    monkeypatch.setattr(sandbox.images, "IMAGE_RECHECK_S", 3600.0)  # the id looked up is kept
    host = Host.connect(settings)
    own = Ops.of(host)
    name = f"cyber-dojo-local/renamed-{kata.lower()}"
    api = sdk(host).api

    def build(rules: str) -> str:
        dockerfile = f"FROM {SHELL}\nLABEL {COLOUR_RULES_LABEL}='{rules}'\n"
        image, _ = sdk(host).images.build(
            fileobj=io.BytesIO(dockerfile.encode()), tag=name, rm=True, forcerm=True
        )
        return str(image.id)

    try:
        first = build('{"rules": [], "otherwise": "green"}')
        assert own.run(kata, "lion", name, {})["colour"] == "green"
        # The name moves to another image and the first goes: the id the host had looked
        # up fails the create, so it looks the name up again.
        build('{"rules": [], "otherwise": "amber"}')
        api.remove_image(first, force=True)
        assert own.run(kata, "lion", name, {})["colour"] == "amber"
        api.remove_image(name, force=True)
        own.images.forget(name)
        with pytest.raises(ImageNotFound):
            own.run(kata, "lion", name, {})
        assert run_containers(host, kata) == []
    finally:
        with contextlib.suppress(Exception):  # removed already
            api.remove_image(name, force=True)


def test_a_missing_engine_is_docker_unavailable() -> None:
    with pytest.raises(DockerUnavailable):
        Host.connect(Settings(docker_host="unix:///nonexistent/docker.sock"))


def test_the_python_image_runs_for_any_avatar_uid(ops: Ops, kata: str) -> None:
    for avatar in ("alligator", "zebra"):
        ops.new_avatar(
            kata, avatar, PYTHON, {"cyber-dojo.sh": "id -u; id -g; python3 -c 'print(6*7)'"}
        )
        result = ops.run(kata, avatar, PYTHON, {})
        uid = 40000 + (0 if avatar == "alligator" else 63)
        assert result["stdout"]["content"] == f"{uid}\n5000\n42\n"
