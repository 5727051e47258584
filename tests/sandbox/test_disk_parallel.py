"""Katas made at once, a kata whose making fails, a disk a crash left: every disk on the
docker host is one kata's, whole, or gone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import redis

from runner.errors import RunnerError
from runner.mailbox import Mailbox
from runner.settings import MiB, Settings
from sandbox import disk, operations
from sandbox.host import Host
from sandbox.images import Images
from tests.conftest import PYTHON, SHELL, new_kata_id
from tests.sandbox.conftest import Ops, run_with_loop_devices

AT_ONCE = 12
BOUND = 16 * MiB

# Another user of the host's loop devices, as fast as it can: asks the kernel for a free
# one, binds a file to it, frees it, again, until SIGTERM.
TAKER = """
import fcntl, os, signal
LOOP_SET_FD, LOOP_CLR_FD, LOOP_CTL_GET_FREE = 0x4C00, 0x4C01, 0x4C82
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
with open("/tmp/taken.img", "wb") as made:
    made.truncate(1 << 20)
backing = os.open("/tmp/taken.img", os.O_RDWR)
control = os.open("/dev/loop-control", os.O_RDWR)
print("taking", flush=True)
while not stop:
    try:
        loop = os.open(f"/dev/loop{fcntl.ioctl(control, LOOP_CTL_GET_FREE)}", os.O_RDWR)
    except OSError:
        continue
    try:
        fcntl.ioctl(loop, LOOP_SET_FD, backing)
        fcntl.ioctl(loop, LOOP_CLR_FD)
    except OSError:
        pass
    os.close(loop)
"""


@pytest.fixture
def small(host: Host, images: Images) -> Iterator[Ops]:
    """The operations of a runner instance of this module's own, with a small disk per kata:
    the session's stack runs a worker of the session's instance on another Redis, whose sweep
    would take the disks these tests leave without a volume for a while (one Redis an
    instance, in any real deployment)."""
    settings = Settings(
        instance=f"{host.settings.instance}d", kata_disk_bytes=BOUND, kata_disk_inodes=1024
    )
    own = Host(settings, host.engine)
    yield Ops(own, images)
    containers = own.engine.containers(own.ours())
    volumes = own.engine.volumes(prefix=f"{settings.instance}-")
    left = disk.leftovers(own)
    for container in containers:
        own.engine.remove_container(container.id)
    for volume in volumes:
        own.engine.remove_volume(volume.name)
    disk.remove_all(own)
    assert (containers, volumes, left) == ([], [], [])


@pytest.fixture
def mailbox(redis_client: redis.Redis) -> Mailbox:
    return Mailbox(redis_client, lease_ttl_s=30, job_ttl_s=60)


@contextmanager
def loops_taken_and_freed(host: Host) -> Iterator[None]:
    """While the block runs, another program on the docker host takes and frees loop devices
    (another runner's helpers, anything else that attaches loops)."""
    taker = run_with_loop_devices(host, PYTHON, ["python3", "-c", TAKER], detach=True, user="root")
    try:
        for line in taker.logs(stream=True):
            assert line == b"taking\n"
            break
        yield
    finally:
        taker.kill(signal="SIGTERM")  # it frees the loop it holds, then ends
        try:
            taker.wait(timeout=10)
        finally:
            taker.remove(force=True)


def disk_of(host: Host, kata_id: str) -> list[str]:
    """The kata's image, link and loop device, as the host lists them."""
    return [line for line in disk.leftovers(host) if disk.name(host, kata_id) in line]


def loop_of(host: Host, kata_id: str) -> str:
    """The one loop device the kata's disk is attached to."""
    (loop,) = [
        line.split(":")[0] for line in disk_of(host, kata_id) if line.startswith("/dev/loop")
    ]
    return loop


@pytest.mark.slow
def test_katas_made_at_once_each_get_a_disk_of_their_own_while_loops_are_taken(
    small: Ops,
) -> None:
    kata_ids = [new_kata_id() for _ in range(AT_ONCE)]

    def make(kata_id: str) -> str:
        try:
            small.new_kata(kata_id)
            return ""
        except RunnerError as error:
            return str(error)

    def use(kata_id: str) -> str:
        small.new_avatar(kata_id, "lion", SHELL, {"cyber-dojo.sh": f"echo {kata_id} > mine; ls"})
        return str(small.run(kata_id, "lion", SHELL)["stdout"]["content"])

    try:
        with loops_taken_and_freed(small.host), ThreadPoolExecutor(AT_ONCE) as pool:
            failed = [error for error in pool.map(make, kata_ids) if error]
        assert failed == []
        with ThreadPoolExecutor(AT_ONCE) as pool:
            assert list(pool.map(use, kata_ids)) == ["cyber-dojo.sh\nmine\n"] * AT_ONCE
        assert len({loop_of(small.host, kata_id) for kata_id in kata_ids}) == AT_ONCE
    finally:
        with ThreadPoolExecutor(AT_ONCE) as pool:
            list(pool.map(small.old_kata, kata_ids))


def test_a_new_kata_whose_layout_fails_leaves_no_volume_and_no_disk_then_is_made_again(
    small: Ops, monkeypatch: pytest.MonkeyPatch
) -> None:
    kata_id = new_kata_id()
    with monkeypatch.context() as patched:
        patched.setattr(operations, "kata_step", lambda now: ["no-such-step"])
        with pytest.raises(RunnerError, match="admin step no-such-step"):
            small.new_kata(kata_id)
    assert small.host.engine.volume(small.host.volume_name(kata_id)) is None
    assert disk_of(small.host, kata_id) == []
    small.new_kata(kata_id)  # PUT again: a whole kata
    small.new_avatar(kata_id, "lion", SHELL, {"cyber-dojo.sh": "echo whole"})
    assert small.run(kata_id, "lion", SHELL)["stdout"]["content"] == "whole\n"
    small.old_kata(kata_id)


def test_a_disk_whose_making_fails_halfway_leaves_no_image_loop_or_link(small: Ops) -> None:
    kata_id = new_kata_id()
    image = f"{small.host.settings.kata_disks_dir}/{disk.name(small.host, kata_id)}.img"
    # An inode ratio that mke2fs refuses: the image file is made, its filesystem is not.
    with pytest.raises(RunnerError, match="-i is bad"):
        disk._disk(small.host, kata_id, "make", str(BOUND), "1")
    assert disk_of(small.host, kata_id) == []
    assert not os.path.exists(image) and not os.path.exists(f"{image}.part")


def test_the_sweep_frees_a_disk_with_no_volume_but_not_one_whose_kata_is_being_made(
    small: Ops, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = small.host
    orphan, being_made, whole = new_kata_id(), new_kata_id(), new_kata_id()
    disk.make(host, orphan)  # as a worker that died before the volume leaves it
    disk.make(host, being_made)  # as new_kata has it before its volume, under its lease
    small.new_kata(whole)
    woken: list[str] = []
    # Young, no disk is an orphan yet: its kata may be being made by a holder of the lease
    # in another Redis.
    assert disk.remove_orphans(host, mailbox, woken.append) == []
    monkeypatch.setattr(disk, "ORPHAN_MINUTES", 0)  # every disk is old enough now
    lease = mailbox.acquire(being_made, "a worker")
    assert lease is not None
    try:
        assert disk.remove_orphans(host, mailbox, woken.append) == [orphan]
        assert disk_of(host, orphan) == []
        assert len(disk_of(host, being_made)) == 3 and len(disk_of(host, whole)) == 3
    finally:
        mailbox.release(lease)
    try:
        # Its worker died before making the volume: its lease has gone, its disk goes.
        assert disk.remove_orphans(host, mailbox, woken.append) == [being_made]
        assert disk_of(host, being_made) == [] and len(disk_of(host, whole)) == 3
        assert woken == []  # no job of theirs waited for the lease
    finally:
        disk.remove(host, being_made)
        small.old_kata(whole)
