"""What a reaper pass works with: one docker host, its images and live kata containers, and
the mailbox (the kata's lease, the index, the hosts' placements)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from runner.mailbox import Mailbox, host_mailbox
from runner.settings import Settings
from sandbox.host import Host
from sandbox.images import Images
from sandbox.kata_containers import KataContainers


@dataclass
class Context:
    """The docker host and the mailbox a reaper pass uses."""

    host: Host
    images: Images
    mailbox: Mailbox
    wake: Callable[[str], None]
    live: KataContainers | None = None  # None: a fresh container for every run

    @classmethod
    def connect(cls, settings: Settings, wake: Callable[[str], None]) -> Context:
        """A context on the docker engine and the Redis that the settings name."""
        mailbox = host_mailbox(settings)
        host = Host.connect(settings)
        live = KataContainers.of(host, mailbox, wake)
        return cls(host=host, images=Images.of(host), mailbox=mailbox, wake=wake, live=live)
