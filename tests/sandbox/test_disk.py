"""A kata's disk bounds what its runs may write: bytes and files, the learner's own ENOSPC."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from runner.errors import KataDiskFull, KataNotFound
from runner.settings import Settings
from sandbox import disk
from sandbox.host import Host
from sandbox.images import Images
from tests.conftest import SHELL, new_kata_id
from tests.sandbox.conftest import Ops, Runner, detach_as_a_reboot_does

MiB = 1024 * 1024
BOUND = 32 * MiB
INODES = 2048


@pytest.fixture
def small(host: Host, images: Images) -> Ops:
    """The operations of the session's runner instance with a small disk per kata."""
    settings = Settings(
        instance=host.settings.instance, kata_disk_bytes=BOUND, kata_disk_inodes=INODES
    )
    return Ops(Host(settings, host.engine), images)


@pytest.fixture
def small_kata(small: Ops) -> Iterator[str]:
    kata_id = new_kata_id()
    small.new_kata(kata_id)
    small.new_avatar(kata_id, "lion", SHELL, {})
    yield kata_id
    small.old_kata(kata_id)


@pytest.fixture
def run_small(small: Ops, small_kata: str) -> Runner:
    def run(script: str, max_seconds: int = 10) -> dict[str, object]:
        return dict(
            small.run(small_kata, "lion", SHELL, {"cyber-dojo.sh": script}, [], max_seconds)
        )

    return run  # type: ignore[return-value]


def image_file(host: Host, kata_id: str) -> str:
    return f"{host.settings.kata_disks_dir}/{disk.name(host, kata_id)}.img"


def allocated_bytes(path: str) -> int:
    """The bytes of the host's disk that a (sparse) file takes."""
    return os.stat(path).st_blocks * 512


def disk_of(host: Host, kata_id: str) -> list[str]:
    """The kata's image, link and loop device, as the host lists them."""
    return [line for line in disk.leftovers(host) if disk.name(host, kata_id) in line]


def test_writing_past_the_kata_disk_is_the_learners_no_space_and_the_host_keeps_its_space(
    run_small: Runner, small: Ops, small_kata: str
) -> None:
    # Files under the file-size limit, together past the kata's bound.
    result = run_small(
        "for i in 1 2 3 4; do dd if=/dev/zero of=big$i bs=1M count=15 2>&1 || exit 1; done"
    )
    assert result["status"] != 0
    assert "No space left on device" in result["stdout"]["content"], result
    image = image_file(small.host, small_kata)
    assert allocated_bytes(image) <= BOUND
    # The next run works, and the space of deleted files goes back to the host.
    after = run_small("rm -f big*; echo still works")
    assert (after["stdout"]["content"], after["colour"]) == ("still works\n", "green")
    assert allocated_bytes(image) < 4 * MiB


def test_too_many_files_hit_the_kata_inode_bound(run_small: Runner) -> None:
    result = run_small("mkdir many; cd many; i=0; while true > f$i; do i=$((i+1)); done; echo $i")
    assert result["timed_out"] is False
    assert "No space left on device" in result["stderr"]["content"], result
    assert 0 < int(result["stdout"]["content"]) < INODES
    after = run_small("rm -rf many; : > one; echo still works")
    assert (after["stdout"]["content"], after["colour"]) == ("still works\n", "green")


def test_a_full_kata_disk_refuses_a_new_avatar_until_files_go(
    run_small: Runner, small: Ops, small_kata: str
) -> None:
    # Up to its last block: megabytes first, then blocks of 4 KiB.
    full = run_small(
        "for i in 1 2 3; do dd if=/dev/zero of=big$i bs=1M count=15; done\n"
        "dd if=/dev/zero of=big4 bs=4k count=1000"
    )
    assert "No space left on device" in full["stderr"]["content"]
    assert run_small("echo runs")["stdout"]["content"] == "runs\n"  # still reports
    with pytest.raises(KataDiskFull):
        small.new_avatar(small_kata, "tiger", SHELL, {"cyber-dojo.sh": "echo tiger"})
    run_small("rm big*")
    small.new_avatar(small_kata, "tiger", SHELL, {"cyber-dojo.sh": "echo tiger"})
    assert small.run(small_kata, "tiger", SHELL)["stdout"]["content"] == "tiger\n"


def test_removing_a_kata_leaves_no_disk_image_link_or_loop_device(small: Ops) -> None:
    kata_id = new_kata_id()
    small.new_kata(kata_id)
    assert len(disk_of(small.host, kata_id)) == 3  # the image, its link, its loop device
    small.old_kata(kata_id)
    assert disk_of(small.host, kata_id) == []
    assert not os.path.exists(image_file(small.host, kata_id))
    small.old_kata(kata_id)  # again: nothing to do, no error


def test_a_kata_whose_disk_a_reboot_detached_runs_again_with_its_files(
    run_small: Runner, small: Ops, small_kata: str
) -> None:
    run_small("echo kept > kept.txt")
    detach_as_a_reboot_does(small.host, small_kata)
    result = run_small("cat kept.txt")
    assert result["stdout"]["content"] == "kept\n"
    detach_as_a_reboot_does(small.host, small_kata)
    small.new_avatar(small_kata, "tiger", SHELL, {"cyber-dojo.sh": "cat /sandboxes/lion/kept.txt"})
    assert len(disk_of(small.host, small_kata)) == 3  # attached once


def test_a_volume_with_no_disk_keeps_working_and_is_removed(host: Host, images: Images) -> None:
    unbounded = Ops(
        Host(Settings(instance=host.settings.instance, kata_disk_bytes=0), host.engine), images
    )
    kata_id = new_kata_id()
    unbounded.new_kata(kata_id)
    volume = host.engine.volume(host.volume_name(kata_id))
    assert volume is not None and not disk.has_disk(volume)
    unbounded.new_avatar(kata_id, "lion", SHELL, {})
    # A runner with a bound runs and removes a kata made without one.
    bounded = Ops(host, images)
    result = bounded.run(kata_id, "lion", SHELL, {"cyber-dojo.sh": "echo plain"})
    assert result["stdout"]["content"] == "plain\n"
    bounded.old_kata(kata_id)
    assert host.engine.volume(host.volume_name(kata_id)) is None


def test_attaching_a_disk_never_made_says_the_kata_is_not_found(small: Ops) -> None:
    with pytest.raises(KataNotFound, match="has no disk image"):
        disk.attach(small.host, new_kata_id())
