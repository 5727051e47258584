"""A disk per kata: its volume is an ext2 filesystem of bounded size and inodes.

The filesystem lives in a sparse image file in the docker host's `kata_disks_dir`, attached to
a loop device; the volume (local driver) mounts a link to that device in /dev, which a reboot
empties. sandbox/disk.sh makes, attaches and removes disks in a short root container of the
helper image that has SYS_ADMIN, the loop devices, /dev and the disks folder, and nothing
else: everything goes through the engine's API, so the engine may be remote.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from typing import TypeVar

from runner.errors import HostDiskFull, KataNotFound, RunnerError, VolumeNotMountable
from runner.identifiers import KATA_ID
from sandbox.bookkeeping import Leases, LeaseT
from sandbox.engine import ContainerSpec, Outcome, Volume
from sandbox.host import Host
from sandbox.limits import disk_limits
from sandbox.scripts import DISK_SCRIPT, Exit

log = logging.getLogger(__name__)

LINKS = "/dev/cyber-dojo-runner"  # the links to the loop devices, one per kata's disk
FILESYSTEM = "ext2"  # the helper image's (busybox) mke2fs makes no other
MOUNT_OPTIONS = "nosuid,nodev,discard"  # discard: a deleted file's space goes back to the host
BLOCK_BYTES = 4096
DEADLINE_S = 60.0
ORPHANS_EVERY_S = 60.0  # how often each worker looks for disks that have no volume

T = TypeVar("T")


def name(host: Host, kata_id: str) -> str:
    """The name of a kata's disk: its image file (with .img) and its link."""
    return f"{host.settings.instance}-{kata_id}"


def volume_options(host: Host, kata_id: str) -> dict[str, str]:
    """The local driver's options of a kata's volume on its disk."""
    return {"type": FILESYSTEM, "device": f"{LINKS}/{name(host, kata_id)}", "o": MOUNT_OPTIONS}


def has_disk(volume: Volume | None) -> bool:
    """True when the volume is on a disk of its own (not a plain volume of an older runner,
    or of kata_disk_bytes 0)."""
    return volume is not None and volume.options.get("device", "").startswith(f"{LINKS}/")


def make(host: Host, kata_id: str) -> dict[str, str]:
    """A new, empty disk for the kata, attached; the options of a volume on it ({}: a plain
    volume, when kata_disk_bytes is 0). HostDiskFull when the host has less room than it."""
    settings = host.settings
    if not settings.kata_disk_bytes:
        return {}
    bytes_per_inode = max(BLOCK_BYTES, settings.kata_disk_bytes // settings.kata_disk_inodes)
    _disk(host, kata_id, "make", str(settings.kata_disk_bytes), str(bytes_per_inode))
    return volume_options(host, kata_id)


def attach(host: Host, kata_id: str, *, make_missing: bool = False) -> None:
    """Attaches the kata's disk again, as it was (a reboot detached it); a new empty one when
    its image is gone and make_missing, else KataNotFound."""
    try:
        _disk(host, kata_id, "attach")
    except KataNotFound:
        if not make_missing:
            raise
        log.warning("kata %s: its disk image is gone: a new, empty one", kata_id)
        make(host, kata_id)


def remove(host: Host, kata_id: str) -> None:
    """Detaches the kata's disk and removes its link and image; nothing when they are gone."""
    _disk(host, kata_id, "remove")


def remounting(host: Host, kata_id: str, call: Callable[[], T], *, make_missing: bool = False) -> T:
    """call(), and once more after the kata's disk is attached again when its volume would
    not mount (the host rebooted since its last job)."""
    try:
        return call()
    except VolumeNotMountable as error:
        if error.volume != host.volume_name(kata_id) or not has_disk(
            host.engine.volume(error.volume)
        ):
            raise
        log.warning("kata %s: its volume would not mount: attaching its disk", kata_id)
        attach(host, kata_id, make_missing=make_missing)
        return call()


# A disk with no volume is an orphan only once it is this old: a kata's volume is made within
# seconds of its disk.
ORPHAN_MINUTES = 2


def leftovers(host: Host) -> list[str]:
    """This runner instance's disk images (whole or part made), links and attached loops, one
    a line (a check of a test session or a bench, which remove every kata they made)."""
    outcome = _helper(host, "", ["list", f"{host.settings.instance}-"])
    return outcome.stdout.decode().splitlines()


def kata_ids(host: Host, lines: list[str]) -> list[str]:
    """The katas whose disks the lines of leftovers name (another instance's whose name
    starts with this one's and a dash are not: a kata id has no dash)."""
    named = re.compile(
        rf"{re.escape(host.settings.instance)}-({KATA_ID.pattern})(?:\.img|\.img\.part|\.new)?"
    )
    found = (named.fullmatch(line.rsplit("/", 1)[-1]) for line in lines)
    return sorted({match[1] for match in found if match})


def remove_all(host: Host) -> int:
    """Removes every disk of this runner instance (whose volumes are gone); how many."""
    found = kata_ids(host, leftovers(host))
    for kata_id in found:
        remove(host, kata_id)
    return len(found)


def remove_orphans(host: Host, mailbox: Leases[LeaseT], wake: Callable[[str], None]) -> list[str]:
    """Removes this instance's disks that have no volume (a worker or the engine died while
    it made or removed a kata), each under its kata's lease, as every job of the kata runs,
    and only once the disk is ORPHAN_MINUTES old: never the disk of a kata being made now,
    even by a holder of the lease in another Redis (a test's operations, a second deployment
    of one instance name). The katas whose disks it removed."""
    volumes = {v.name for v in host.engine.volumes(prefix=host.volume_name(""))}
    found = [k for k in kata_ids(host, leftovers(host)) if host.volume_name(k) not in volumes]
    if not found:
        return []
    young = _helper(host, "", ["young", f"{host.settings.instance}-", str(ORPHAN_MINUTES)])
    recent = set(kata_ids(host, young.stdout.decode().splitlines()))
    removed = []
    for kata_id in found:
        if kata_id in recent:
            continue
        lease = mailbox.acquire(kata_id, "disk-sweep")
        if lease is None:
            continue  # its job may be making it: a later sweep looks again
        try:
            # Again under the lease: its job may have made the volume since the listing.
            if host.engine.volume(host.volume_name(kata_id)) is None:
                log.warning("kata %s: its disk has no volume: removing it", kata_id)
                remove(host, kata_id)
                removed.append(kata_id)
        except RunnerError as error:
            log.warning("kata %s: its disk with no volume was not removed: %s", kata_id, error)
        finally:
            # As clean as the lease before: the sweep started no container of the kata.
            if mailbox.release(lease, clean=lease.after_clean):
                wake(kata_id)  # a job came meanwhile: its drain found the lease taken
    return removed


def _disk(host: Host, kata_id: str, step: str, *args: str) -> Outcome:
    outcome = _helper(host, kata_id, [step, name(host, kata_id), *args])
    stderr = outcome.stderr.decode(errors="replace").strip()
    if outcome.exit_code == Exit.NO_DISK_IMAGE:
        raise KataNotFound(f"kata {kata_id} has no disk image: PUT the kata ({stderr})")
    if outcome.exit_code == Exit.HOST_FULL:
        raise HostDiskFull(f"no room on the docker host for the disk of kata {kata_id}: {stderr}")
    if outcome.exit_code != 0 or outcome.killed:
        raise RunnerError(
            f"disk step {step} of kata {kata_id} failed with status {outcome.exit_code}: {stderr}"
        )
    return outcome


def _helper(host: Host, kata_id: str, args: list[str]) -> Outcome:
    """Runs one step of disk.sh in a root container with the loops, /dev and the disks."""
    settings = host.settings
    disks = settings.kata_disks_dir
    step, rest = args[0], args[1:]
    spec = ContainerSpec(
        image=settings.helper_image,
        command=["sh", "-c", DISK_SCRIPT, "disk", step, disks, LINKS, *rest],
        user="root",
        name=f"{settings.instance}-{kata_id or 'host'}-disk-{secrets.token_hex(4)}",
        labels=host.labels(kata_id, "disk") if kata_id else {**host.ours()},
        # The disks folder at the same path, so that the loop devices name the host's files.
        binds={
            "/dev": {"bind": "/dev", "mode": "rw"},
            disks: {"bind": disks, "mode": "rw"},
        },
        limits=disk_limits(settings),
    )
    return host.engine.run_container(spec, b"", DEADLINE_S, 64 * 1024)
