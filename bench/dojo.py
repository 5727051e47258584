"""Measurement 6: a class presses "test" within the same second; when is the last light?"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping, Sequence

from bench import session

Target = tuple[str, str]  # kata id, avatar


def press_together(
    url: str, targets: Sequence[Target], image: str, files: Mapping[str, str]
) -> list[float]:
    """Seconds from the common start to each traffic light, sorted."""
    barrier = threading.Barrier(len(targets) + 1)
    lights: list[float] = [0.0] * len(targets)
    errors: list[BaseException] = []

    def press(i: int, kata_id: str, avatar: str) -> None:
        runner = session.connect(url)
        try:
            runner.healthz()  # the connection is open before the press
            barrier.wait()
            session.done(runner, runner.run(kata_id, avatar, image, files)["job_id"])
            lights[i] = time.perf_counter()
        except BaseException as error:
            errors.append(error)
            barrier.abort()
        finally:
            runner.close()

    threads = [
        threading.Thread(target=press, args=(i, kata_id, avatar), daemon=True)
        for i, (kata_id, avatar) in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a press failed: its error is raised
        barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sorted(light - started for light in lights)
