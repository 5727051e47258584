"""Every Redis key of the runner, named here and nowhere else.

Keys (all under `runner:`):
  job:{id}                  hash: the job record (API.md's job), its request payload until it
                            ends, the host it was queued for; an image pull's also `pending`
                            and `ended:<host>` of its children (one job per host, `parent`)
  job:{id}:done             list: one element once the job ended; waiters rotate it (BLMOVE)
  kata:{kata}               hash: hello_at, run_at, host (the host the kata is placed on)
  kata:{kata}:queue         list: queued job ids, FIFO
  kata:{kata}:inflight      list: the job id the lease holder is running
  kata:{kata}:lease         string, with a TTL: the drain lease's token `worker:pid:random`
  kata:{kata}:fence         counter: incremented at each lease, labels the kata's containers
  kata:{kata}:clean         string: the fence of the last lease released clean (its jobs all
                            ended and left no container), for a job's TTL
  kata:{kata}:woken         string, with a TTL: a drain message was sent for the kata and no
                            drain has started since; while it is set, a submission sends no
                            other ("handed back": the kata's continuation waits, queueing.py)
  kata:{kata}:run_at_written  string, with a TTL: the run time went into the kata's volume
                            within the last run_at_every_s; no other worker writes it meanwhile
  katas:active              set: katas with queued or in-flight jobs (the sweep's worklist)
  katas:seen                sorted set: katas by their latest hello or run time (the reaper's
                            index)
  jobs:queued               counter: jobs queued over all katas
  images:pulled             counter: image pulls done; a worker that sees it change looks every
                            image name up again
  worker:{name}             string, with a TTL: a consuming worker's presence record (JSON)
  hosts:seen                sorted set: host names by the Redis time of their workers' latest
                            heartbeat (a host is live while recent, lost past host_lost_s)
  hosts:katas               sorted set: host names by how many katas are placed on them
  hosts:draining            set: hosts that get no new kata
  host:{host}:queued        counter: jobs queued for the host's workers
  host:{host}:live_katas    sorted set: katas with a live container on the host's engine, by
                            the time of their last run in it
  host:{host}:sweep:due     string, with a TTL: a worker of the host removed its idle kata
                            containers within the sweep interval
  beat                      string, with a TTL: beat's presence record (JSON), while it runs
  sweep:due                 string, with a TTL: a worker has swept within the sweep interval;
                            no other worker sweeps meanwhile
  cyber_dojo:pull:{image}   string, with a TTL: the id of the pull_image job that cyber-dojo's
                            protocol started for the image; its calls follow it

The Lua scripts (runner/lua/) get every key they touch as KEYS, except a job's record and done
list, which they may build from the job's id and JOB_PREFIX: the runner uses a single Redis,
not a cluster.
"""

from __future__ import annotations

PREFIX = "runner:"
JOB_PREFIX = PREFIX + "job:"

ACTIVE = PREFIX + "katas:active"
SEEN = PREFIX + "katas:seen"
QUEUED = PREFIX + "jobs:queued"
IMAGES_PULLED = PREFIX + "images:pulled"
WORKERS = PREFIX + "worker:*"  # the pattern that matches every presence key
BEAT = PREFIX + "beat"
SWEEP_DUE = PREFIX + "sweep:due"
HOSTS_SEEN = PREFIX + "hosts:seen"
HOSTS_KATAS = PREFIX + "hosts:katas"
HOSTS_DRAINING = PREFIX + "hosts:draining"
HOST_PREFIX = PREFIX + "host:"

# Jobs that belong to no kata (image pulls) queue in a queue of each host's, as if of a kata
# named `_images@<host>` placed on that host, one at a time: not a legal kata id.
IMAGES_QUEUE = "_images"


def images_queue(host: str) -> str:
    """The kata-like name of the host's queue of image pulls."""
    return f"{IMAGES_QUEUE}@{host}"


def is_images_queue(kata_id: str) -> bool:
    return kata_id.startswith(IMAGES_QUEUE)


def job(job_id: str) -> str:
    """The job's record."""
    return JOB_PREFIX + job_id


def done(job_id: str) -> str:
    """The list a job's waiters block on."""
    return f"{JOB_PREFIX}{job_id}:done"


def kata(kata_id: str) -> str:
    """The kata's record: hello_at, run_at."""
    return f"{PREFIX}kata:{kata_id}"


def queue(kata_id: str) -> str:
    return kata(kata_id) + ":queue"


def inflight(kata_id: str) -> str:
    return kata(kata_id) + ":inflight"


def lease(kata_id: str) -> str:
    return kata(kata_id) + ":lease"


def fence(kata_id: str) -> str:
    return kata(kata_id) + ":fence"


def clean(kata_id: str) -> str:
    return kata(kata_id) + ":clean"


def woken(kata_id: str) -> str:
    return kata(kata_id) + ":woken"


def run_at_written(kata_id: str) -> str:
    return kata(kata_id) + ":run_at_written"


def worker(name: str) -> str:
    """The presence key a worker keeps alive while it consumes."""
    return f"{PREFIX}worker:{name}"


def cyber_dojo_pull(image_name: str) -> str:
    """The pull job cyber-dojo's protocol started for the image."""
    return f"{PREFIX}cyber_dojo:pull:{image_name}"


def host_queued(host: str) -> str:
    """The count of jobs queued for the host."""
    return f"{HOST_PREFIX}{host}:queued"


def live_katas(host: str) -> str:
    """The katas with a live container on the host's engine."""
    return f"{HOST_PREFIX}{host}:live_katas"


def host_sweep_due(host: str) -> str:
    """The gate of the host's idle-container sweep."""
    return f"{HOST_PREFIX}{host}:sweep:due"
