"""When a kata gets, keeps and loses its disk, over the stub engine: fast. A new kata is made
whole or not at all; the sweep frees a disk with no volume, under its kata's lease."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from runner import keys
from runner.errors import HostDiskFull, RunnerError, VolumeNotMountable
from runner.mailbox import Mailbox
from runner.models import Job, NewKata, OldKata
from runner.settings import MiB, Settings
from sandbox import agent, disk, operations
from sandbox.engine import ContainerSpec, Image, Outcome
from sandbox.host import Host
from sandbox.images import Images
from sandbox.scripts import Exit
from sandbox.stub_engine import Behaviour, StubEngine
from traffic_lights.rules import COLOUR_RULES_LABEL

KATA = "Kata0042"
SHELL = "cyber-dojo-local/shell:latest"
DISKS = Settings().kata_disks_dir


def step_of(spec: ContainerSpec) -> str:
    """disk.sh's step (sh -c SCRIPT disk STEP ...) or the agent's (AGENT admin STEP ..., or
    its own install)."""
    if spec.command[1] == "install":
        return "agent install"
    if spec.command[0] == agent.AGENT:
        return f"{spec.command[1]} {spec.command[2]}"
    return f"{spec.command[3]} {spec.command[4]}"


def steps(engine: StubEngine) -> list[str]:
    """The steps of disk.sh and of the agent's admin the stub ran, in order (not the agent's
    install)."""
    return [step_of(spec) for spec in engine.ran if step_of(spec) != "agent install"]


def failing(step: str) -> Behaviour:
    """Containers that succeed but for the given step of disk.sh or of the agent's admin."""

    def behave(spec: ContainerSpec, stdin: bytes) -> Outcome:
        status = 1 if step_of(spec).split()[-1] == step else 0
        return Outcome(status, b"", b"it failed", False, killed=False, elapsed_s=0.01)

    return behave


def listing(lines: list[str], then: Callable[[], object] = lambda: None) -> Behaviour:
    """Containers whose disk list step prints lines (then does `then`, as a job meanwhile)."""

    def behave(spec: ContainerSpec, stdin: bytes) -> Outcome:
        if step_of(spec) != "disk list":
            return Outcome(0, b"", b"", False, killed=False, elapsed_s=0.01)
        then()
        return Outcome(0, "".join(f"{line}\n" for line in lines).encode(), b"", False, False, 0.01)

    return behave


def disk_lines(*names: str) -> list[str]:
    """What disk.sh lists of whole disks of these names: images, links, loop devices."""
    images = [f"{DISKS}/{name}.img" for name in names]
    links = [f"{disk.LINKS}/{name}" for name in names]
    return images + links + [f"/dev/loop{n}: 0 {image}" for n, image in enumerate(images)]


def host_of(engine: StubEngine, **settings: int) -> Host:
    engine.images[SHELL] = Image("sha256:shell", {COLOUR_RULES_LABEL: "{}"})
    return Host(Settings(instance="stub", **settings), engine)  # type: ignore[arg-type]


def test_a_new_kata_gets_a_disk_then_a_volume_on_it() -> None:
    engine = StubEngine()
    host = host_of(engine)
    operations.new_kata(host, Images(engine), Job(KATA, NewKata(image_name=SHELL)))
    assert steps(engine) == ["disk make", "admin kata"]
    volume = engine.volume(host.volume_name(KATA))
    assert volume is not None and disk.has_disk(volume)
    assert volume.options["device"] == f"{disk.LINKS}/stub-{KATA}"
    make = engine.ran[0]
    assert make.command[-2:] == [str(256 * MiB), "8192"]  # 32768 inodes
    assert make.limits["cap_add"] == ["SYS_ADMIN"] and make.user == "root"


def test_without_a_bound_a_kata_is_a_plain_volume_and_its_removal_runs_no_disk_step() -> None:
    engine = StubEngine()
    host = host_of(engine, kata_disk_bytes=0)
    operations.new_kata(host, Images(engine), Job(KATA, NewKata(image_name=SHELL)))
    volume = engine.volume(host.volume_name(KATA))
    assert volume is not None and volume.options == {}
    operations.old_kata(host, Images(engine), Job(KATA, OldKata()))
    assert steps(engine) == ["admin kata"]


def test_a_kata_on_a_disk_loses_it_after_its_volume_even_with_no_bound_now() -> None:
    engine = StubEngine()
    operations.new_kata(host_of(engine), Images(engine), Job(KATA, NewKata(image_name=SHELL)))
    host = host_of(engine, kata_disk_bytes=0)
    operations.old_kata(host, Images(engine), Job(KATA, OldKata()))
    assert steps(engine)[-1] == "disk remove"
    assert list(engine.volumes_) == [agent.volume_name()]  # the agent's stays


def test_a_volume_that_would_not_mount_has_its_disk_attached_and_is_tried_once_more() -> None:
    tries: list[str] = []

    def behave(spec: ContainerSpec, stdin: bytes) -> Outcome:
        tries.append(step_of(spec).split()[-1])
        if step_of(spec) == "admin kata" and tries.count("kata") == 1:
            raise VolumeNotMountable("failed to mount local volume", f"stub-kata-{KATA}")
        return Outcome(0, b"", b"", False, killed=False, elapsed_s=0.01)

    engine = StubEngine(behave=behave)
    operations.new_kata(host_of(engine), Images(engine), Job(KATA, NewKata(image_name=SHELL)))
    assert tries == ["make", "install", "kata", "attach", "kata"]


def test_a_host_without_room_for_the_disk_refuses_the_kata() -> None:
    engine = StubEngine(
        behave=lambda spec, stdin: Outcome(Exit.HOST_FULL, b"", b"full", False, False, 0.01)
    )
    with pytest.raises(HostDiskFull):
        operations.new_kata(host_of(engine), Images(engine), Job(KATA, NewKata(image_name=SHELL)))
    assert engine.volume(host_of(engine).volume_name(KATA)) is None


@pytest.mark.parametrize(
    "settings",
    [
        {"kata_disk_bytes": 1 * MiB},
        {"kata_disk_inodes": 10},
        {"instance": "a-long-instance-name-for-a-loop-device"},
    ],
)
def test_disk_settings_a_loop_device_cannot_hold_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Settings(**settings)  # type: ignore[arg-type]


def test_a_new_kata_whose_layout_fails_loses_its_volume_and_its_disk() -> None:
    engine = StubEngine(behave=failing("kata"))
    with pytest.raises(RunnerError, match="admin step kata"):
        operations.new_kata(host_of(engine), Images(engine), Job(KATA, NewKata(image_name=SHELL)))
    assert steps(engine) == ["disk make", "admin kata", "disk remove"]
    assert list(engine.volumes_) == [agent.volume_name()]


def test_a_new_kata_whose_disk_fails_has_no_volume_and_no_disk() -> None:
    engine = StubEngine(behave=failing("make"))
    with pytest.raises(RunnerError, match="disk step make"):
        operations.new_kata(host_of(engine), Images(engine), Job(KATA, NewKata(image_name=SHELL)))
    assert steps(engine) == ["disk make", "disk remove"]
    assert engine.volumes_ == {}  # the disk failed before the agent was needed


def test_a_kata_laid_out_again_keeps_its_volume_when_that_fails() -> None:
    engine = StubEngine()
    host = host_of(engine)
    operations.new_kata(host, Images(engine), Job(KATA, NewKata(image_name=SHELL)))
    engine.behave = failing("kata")
    with pytest.raises(RunnerError):
        operations.new_kata(host, Images(engine), Job(KATA, NewKata(image_name=SHELL)))
    assert steps(engine) == ["disk make", "admin kata", "admin kata"]
    assert engine.volume(host.volume_name(KATA)) is not None


@pytest.mark.parametrize(
    ("line", "kata_id"),
    [
        (f"{DISKS}/stub-Kata0042.img", "Kata0042"),
        (f"{DISKS}/stub-Kata0042.img.part", "Kata0042"),  # mke2fs had not finished
        (f"{disk.LINKS}/stub-Kata0042", "Kata0042"),
        (f"{disk.LINKS}/stub-Kata0042.new", "Kata0042"),
        (f"/dev/loop7: 0 {DISKS}/stub-Kata0042.img", "Kata0042"),
        (f"{DISKS}/stub-b-Kata0042.img", None),  # instance stub-b's
        (f"{DISKS}/stub-Kata0042-x.img", None),
        (f"{DISKS}/stubby-Kata0042.img", None),
    ],
)
def test_a_disk_names_its_kata_and_never_another_instances(line: str, kata_id: str | None) -> None:
    assert disk.kata_ids(host_of(StubEngine()), [line]) == ([kata_id] if kata_id else [])


def test_the_sweep_frees_disks_with_no_volume_but_not_those_whose_kata_is_leased(
    redis_client: redis.Redis,
) -> None:
    engine = StubEngine()
    host = host_of(engine)
    engine.create_volume(host.volume_name("Whole0001"), {})
    engine.behave = listing(disk_lines("stub-Whole0001", "stub-Orphan001", "stub-Leased01"))
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)
    lease = mailbox.acquire("Leased01", "a worker making it")
    assert disk.remove_orphans(host, mailbox, lambda kata_id: None) == ["Orphan001"]
    assert "disk remove" in steps(engine)
    assert engine.ran[-1].command[-1] == "stub-Orphan001"
    assert lease is not None and mailbox.holder("Leased01") == lease.token  # still its own
    assert mailbox.holder("Orphan001") is None


def test_the_sweep_keeps_a_disk_whose_volume_was_made_while_it_looked(
    redis_client: redis.Redis,
) -> None:
    engine = StubEngine()
    host = host_of(engine)

    def made_meanwhile() -> None:
        engine.create_volume(host.volume_name("Kata0042"), {})

    engine.behave = listing(disk_lines("stub-Kata0042"), made_meanwhile)
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)
    assert disk.remove_orphans(host, mailbox, lambda kata_id: None) == []
    assert steps(engine) == ["disk list", "disk young"]


def test_the_sweep_keeps_a_young_disk_with_no_volume(redis_client: redis.Redis) -> None:
    engine = StubEngine()
    host = host_of(engine)
    lines = disk_lines("stub-Kata0042")

    def behave(spec: ContainerSpec, stdin: bytes) -> Outcome:
        young = lines[:1] if step_of(spec) == "disk young" else []
        shown = lines if step_of(spec) == "disk list" else young
        return Outcome(0, "".join(f"{line}\n" for line in shown).encode(), b"", False, False, 0.01)

    engine.behave = behave
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)
    assert disk.remove_orphans(host, mailbox, lambda kata_id: None) == []
    assert steps(engine) == ["disk list", "disk young"]


def test_the_sweep_wakes_a_kata_whose_job_came_while_it_held_the_lease(
    redis_client: redis.Redis,
) -> None:
    engine = StubEngine()
    redis_client.rpush(keys.queue("Kata0042"), "job1")  # its drain found the lease taken
    engine.behave = listing(disk_lines("stub-Kata0042"))
    mailbox = Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)
    woken: list[str] = []
    assert disk.remove_orphans(host_of(engine), mailbox, woken.append) == ["Kata0042"]
    assert woken == ["Kata0042"]
