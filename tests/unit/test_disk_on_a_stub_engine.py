"""When a kata gets, keeps and loses its disk, over the stub engine: fast."""

from __future__ import annotations

import pytest

from runner.errors import HostDiskFull, VolumeNotMountable
from runner.models import Job, NewKata, OldKata
from runner.settings import MiB, Settings
from worker import disk, sandbox
from worker.colour import COLOUR_RULES_LABEL
from worker.engine import ContainerSpec, Image, Outcome
from worker.host import Host
from worker.images import Images
from worker.stub_engine import StubEngine

KATA = "Kata0042"
SHELL = "cyber-dojo-local/shell:latest"


def steps(engine: StubEngine) -> list[str]:
    """The steps of the disk and admin scripts the stub ran, in order."""
    return [f"{spec.command[3]} {spec.command[4]}" for spec in engine.ran]


def host_of(engine: StubEngine, **settings: int) -> Host:
    engine.images[SHELL] = Image("sha256:shell", {COLOUR_RULES_LABEL: "{}"})
    return Host(Settings(instance="stub", **settings), engine)  # type: ignore[arg-type]


def test_a_new_kata_gets_a_disk_then_a_volume_on_it() -> None:
    engine = StubEngine()
    host = host_of(engine)
    sandbox.new_kata(host, Images(engine), Job(KATA, NewKata(image_name=SHELL)))
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
    sandbox.new_kata(host, Images(engine), Job(KATA, NewKata(image_name=SHELL)))
    volume = engine.volume(host.volume_name(KATA))
    assert volume is not None and volume.options == {}
    sandbox.old_kata(host, Images(engine), Job(KATA, OldKata()))
    assert steps(engine) == ["admin kata"]


def test_a_kata_on_a_disk_loses_it_after_its_volume_even_with_no_bound_now() -> None:
    engine = StubEngine()
    sandbox.new_kata(host_of(engine), Images(engine), Job(KATA, NewKata(image_name=SHELL)))
    host = host_of(engine, kata_disk_bytes=0)
    sandbox.old_kata(host, Images(engine), Job(KATA, OldKata()))
    assert steps(engine)[-1] == "disk remove" and engine.volumes_ == {}


def test_a_volume_that_would_not_mount_has_its_disk_attached_and_is_tried_once_more() -> None:
    tries: list[str] = []

    def behave(spec: ContainerSpec, stdin: bytes) -> Outcome:
        tries.append(spec.command[4])
        if spec.command[3] == "admin" and tries.count("kata") == 1:
            raise VolumeNotMountable("failed to mount local volume", f"stub-kata-{KATA}")
        return Outcome(0, b"", b"", False, killed=False, elapsed_s=0.01)

    engine = StubEngine(behave=behave)
    sandbox.new_kata(host_of(engine), Images(engine), Job(KATA, NewKata(image_name=SHELL)))
    assert tries == ["make", "kata", "attach", "kata"]


def test_a_host_without_room_for_the_disk_refuses_the_kata() -> None:
    engine = StubEngine(behave=lambda spec, stdin: Outcome(97, b"", b"full", False, False, 0.01))
    with pytest.raises(HostDiskFull):
        sandbox.new_kata(host_of(engine), Images(engine), Job(KATA, NewKata(image_name=SHELL)))
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
