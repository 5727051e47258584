"""The limits every container of the runner gets, from the settings."""

from __future__ import annotations

from typing import Any

from runner.settings import Settings


def run_limits(settings: Settings) -> dict[str, Any]:
    """The host config of a run container (ARCHITECTURE.md), as the engine's keywords. Its
    process is the agent, as root: it keeps only what it needs to become an avatar's uid."""
    return {**_limits(settings), "cap_add": ["SETUID", "SETGID"]}


def _limits(settings: Settings) -> dict[str, Any]:
    return {
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {
            "/tmp": f"rw,nosuid,nodev,size={settings.tmpfs_bytes},mode=1777",
        },
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,
        "pids_limit": settings.pids_limit,
        "mem_limit": settings.memory_bytes,
        "memswap_limit": settings.memory_bytes,  # equal to mem_limit: no swap
        "nano_cpus": settings.nano_cpus,
        # Not nproc: it counts a uid's processes across every container on the host, and an
        # avatar's uid repeats across katas; pids_limit is the per-container bound.
        "ulimits": [
            {"name": "core", "soft": 0, "hard": 0},
            {"name": "fsize", "soft": settings.fsize_bytes, "hard": settings.fsize_bytes},
            {"name": "nofile", "soft": settings.nofile, "hard": settings.nofile},
            {"name": "stack", "soft": settings.stack_bytes, "hard": settings.stack_bytes},
        ],
        # Output reaches the worker through the attach stream only: no log file on the host.
        "log_config": {"type": "none"},
    }


def admin_limits(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for the short root containers that prepare volumes and sandboxes.

    The same limits, but root keeps CAP_CHOWN to hand a new sandbox to its avatar's uid.
    """
    return {**_limits(settings), "cap_add": ["CHOWN"]}


# The block devices of loops (major 7) and /dev/loop-control (10:237).
LOOP_DEVICES = ["b 7:* rwm", "c 10:237 rwm"]


def disk_limits(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for the short root containers that make, attach and remove disks.

    No capability but SYS_ADMIN (to attach and detach loop devices), no device but the loops,
    and no file-size limit: a disk image is larger than any file a run may write.
    """
    limits = _limits(settings)
    return {
        **limits,
        "cap_add": ["SYS_ADMIN"],
        "device_cgroup_rules": LOOP_DEVICES,
        "ulimits": [u for u in limits["ulimits"] if u["name"] != "fsize"],
    }
