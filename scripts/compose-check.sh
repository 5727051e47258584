#!/usr/bin/env bash
# Runs docker-compose.yml for real on this docker host and checks it (`make compose-check`):
#  1. builds what is missing: the local base image (images/runner-base/), the pinned wheels
#     of requirements.txt, and the runner's image from the repository's Dockerfile (with no
#     network; docker's cache makes it quick when nothing changed);
#  2. brings the stack up with docker-compose.local.yml on top, under a project of its own;
#  3. waits for /readyz, then drives one kata through the HTTP API: PUT kata, PUT avatar,
#     POST run of a shell image, GET /jobs/{id}?wait=..., checks the result, DELETEs the kata;
#  4. takes the stack down with its volumes and checks that nothing of it is left: no
#     container, volume or network of the project, no kata volume or container of its
#     RUNNER_INSTANCE. It does that also when a step fails.
# Ends with PASS (exit 0) or FAIL (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."

project=runner-compose-check
instance=compose-check            # RUNNER_INSTANCE in docker-compose.local.yml
api_port=4690 redis_port=6390     # the ports docker-compose.local.yml listens on
api=http://127.0.0.1:$api_port
base_image=cyber-dojo-local/runner-base:latest
wheels_image=cyber-dojo-local/runner-wheels:latest
kata_image=cyber-dojo-local/shell:latest
wheels=.run/wheels                # ignored by git and by docker's build context
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0   # the classic builder: no registry needed

started=$SECONDS
step=""
say() { printf 'compose-check: %s\n' "$*"; }
begin() { step=$*; say "$step ..."; }
fail() { say "FAILED: $*"; return 1; }
log=$(mktemp)
quietly() {  # runs a command; shows its output only when it fails
  "$@" >"$log" 2>&1 && return 0
  tail -40 "$log" | sed 's/^/  /'
  fail "$*"
}

# Only the two compose files decide the stack: no setting of the caller's shell leaks in.
for name in $(compgen -v); do
  case $name in RUNNER_* | BASE_IMAGE | REDIS_IMAGE) unset "$name" ;; esac
done
# A bearer token of this run: the check also shows that the API requires it.
RUNNER_API_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export RUNNER_API_TOKEN

# docker compose (the plugin) if present, else docker-compose, installed when missing.
if docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
else
  if ! command -v docker-compose >/dev/null; then
    [ "$(id -u)" = 0 ] || { say "need root to install docker-compose"; exit 1; }
    say "installing docker-compose"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  fi
  compose_cmd=(docker-compose)
fi
compose() { "${compose_cmd[@]}" -p "$project" -f docker-compose.yml -f docker-compose.local.yml "$@"; }
# On the host's network a service publishes no ports, and docker-compose refuses a host-network
# service that has `ports` (docker-compose.yml's api), which an override cannot take away. So
# `up` runs the two files as compose merges them (`config`), less those ports.
merged=.run/compose-check.yml     # holds this run's token: removed at the end
mkdir -p .run
merge() {
  /usr/bin/python3 -c 'import yaml' 2>/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml >/dev/null
  (umask 077 && compose config > "$merged")
  /usr/bin/python3 - "$merged" <<'PY'
import sys

import yaml

path = sys.argv[1]
with open(path) as file:
    config = yaml.safe_load(file)
for service in config["services"].values():
    if service.get("network_mode") == "host":
        service.pop("ports", None)
with open(path, "w") as file:
    yaml.safe_dump(config, file, sort_keys=False)
PY
}

# What is left of this check on the engine, one line per object.
leftovers() {
  local project_label=com.docker.compose.project=$project instance_label=org.cyber-dojo.runner=$instance
  docker ps -aq --filter "label=$project_label" | sed 's/^/container /'
  docker volume ls -q --filter "label=$project_label" | sed 's/^/volume /'
  docker network ls -q --filter "label=$project_label" | sed 's/^/network /'
  docker ps -aq --filter "label=$instance_label" | sed 's/^/kata container /'
  docker volume ls -q --filter "label=$instance_label" | sed 's/^/kata volume /'
}

clean_up() {
  compose down -v --remove-orphans --timeout 20 >/dev/null 2>&1 || true
  # What the stack's worker made and could not remove (it labels it with its instance).
  docker ps -aq --filter "label=org.cyber-dojo.runner=$instance" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker volume ls -q --filter "label=org.cyber-dojo.runner=$instance" | xargs -r docker volume rm >/dev/null 2>&1 || true
}

finish() {
  local status=$?
  trap - EXIT INT TERM
  rm -f "$log" "$merged"
  if [ "$status" != 0 ] && [ "$up" = true ]; then
    say "the stack's logs (last lines of each service):"
    compose logs --no-color --tail 30 2>&1 | cut -c1-400 | sed 's/^/  /' || true
  fi
  say "taking the stack down with its volumes ..."
  clean_up
  local left
  left=$(leftovers)
  if [ -n "$left" ]; then
    say "left behind:"
    printf '  %s\n' "$left"
    status=1
  else
    say "nothing of project $project or instance $instance is left"
  fi
  if [ "$status" = 0 ]; then
    say "PASS in $((SECONDS - started)) s"
  else
    say "FAIL (at: ${step:-start}) after $((SECONDS - started)) s"
  fi
  exit $((status == 0 ? 0 : 1))
}
up=false
trap finish EXIT
trap 'exit 130' INT TERM

begin "removing what an interrupted check may have left"
clean_up

begin "checking that ports $redis_port and $api_port on 127.0.0.1 are free"
for port in $redis_port $api_port; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "something already listens on 127.0.0.1:$port"
  fi
done

begin "building the images that are missing"
bash images/build.sh --if-missing shell runner-base 2>"$log" || { tail -40 "$log"; fail "images/build.sh"; }
# Downloaded again when requirements.txt or the base image changes.
stamp=$( (cat requirements.txt; docker image inspect -f '{{.Id}}' "$base_image") | sha256sum | cut -c1-16)
if [ "$(cat "$wheels/.stamp" 2>/dev/null)" != "$stamp" ]; then
  say "downloading the pinned wheels of requirements.txt into $wheels"
  rm -rf "$wheels"
  # For the image's python, not this one: pip evaluates the requirements' markers (e.g.
  # python_full_version < "3.11.3") with the interpreter it runs on, so it is given the
  # image's marker environment.
  target=$(docker run --rm --network none "$base_image" python3 -c \
    'import json; from pip._vendor.packaging import markers; print(json.dumps(markers.default_environment()))')
  quietly .venv/bin/python - "$target" "$wheels" <<'PY'
import json
import sys

from pip._vendor.packaging import markers

target, folder = json.loads(sys.argv[1]), sys.argv[2]
markers.default_environment = lambda: dict(target)
from pip._internal.cli.main import main  # noqa: E402

sys.exit(main(["download", "--disable-pip-version-check", "--only-binary=:all:",
               "--python-version", target["python_full_version"],
               "-r", "requirements.txt", "-d", folder]))
PY
  echo "$stamp" > "$wheels/.stamp"
fi
say "the base with the wheels, $wheels_image"
quietly docker build --force-rm --build-arg "BASE=$base_image" -t "$wheels_image" \
  -f images/runner-base/wheels.Dockerfile "$wheels"
say "the runner's image, from the Dockerfile, with no network (cached when nothing changed)"
quietly compose build --force-rm
docker image inspect cyber-dojo-local/runner:latest >/dev/null 2>&1 ||
  fail "the runner's image cyber-dojo-local/runner:latest was not built"

begin "starting the stack (project $project)"
up=true
merge
"${compose_cmd[@]}" -p "$project" -f "$merged" up -d --no-build 2>&1 | sed 's/^/  /'
compose ps | sed 's/^/  /'

begin "waiting for $api/readyz"
ready=false
for _ in $(seq 90); do
  if curl -fsS --max-time 2 "$api/readyz" >/dev/null 2>&1; then ready=true; break; fi
  sleep 1
done
$ready || fail "$api/readyz did not answer 200 within 90 s"
say "ready: $(curl -sS --max-time 2 "$api/readyz")"

begin "driving one kata through the HTTP API"
.venv/bin/python - "$api" "$kata_image" <<'PY'
"""One kata from hello to goodbye, as the web server drives it."""

import json
import os
import secrets
import sys
import urllib.error
import urllib.request

api, image = sys.argv[1], sys.argv[2]
token = os.environ["RUNNER_API_TOKEN"]
kata = "CC" + secrets.token_hex(4).upper()


def call(method, path, body=None, auth=True):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(api + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if auth:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=40) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def check(condition, message):
    if not condition:
        sys.exit(f"compose-check: FAILED: {message}")


def job(method, path, body=None):
    """Submits a job, waits until it ends, and returns it; it must end done."""
    status, accepted = call(method, path, body)
    check(status == 202, f"{method} {path}: {status} {accepted}")
    for _ in range(6):
        status, record = call("GET", f"/jobs/{accepted['job_id']}?wait=10")
        check(status == 200, f"GET /jobs/{accepted['job_id']}: {status} {record}")
        if record["state"] in ("done", "failed"):
            break
    check(record["state"] == "done", f"{method} {path}: job {record}")
    print(f"compose-check:   {method} {path}: {record['kind']} {record['state']}")
    return record


status, body = call("GET", f"/katas/{kata}", auth=False)
check(status == 401, f"a call without the token: {status} {body}")
print("compose-check:   a call without the bearer token: 401")

job("PUT", f"/katas/{kata}", {"image_name": image})
script = 'echo "hello from compose"; echo "to stderr" >&2; exit 1'
job(
    "PUT",
    f"/katas/{kata}/avatars/lion",
    {"image_name": image, "starting_files": {"cyber-dojo.sh": script}},
)
run = job(
    "POST",
    f"/katas/{kata}/avatars/lion/runs",
    {"image_name": image, "changed_files": {"hiker.txt": "42\n"}, "max_seconds": 5},
)
result = run["result"]
print(
    f"compose-check:   the run: status {result['status']}, colour {result['colour']}, "
    f"stdout {result['stdout']['content']!r}, {result['duration_ms']} ms"
)
check(result["stdout"]["content"] == "hello from compose\n", f"stdout: {result['stdout']}")
check(result["stderr"]["content"] == "to stderr\n", f"stderr: {result['stderr']}")
check(result["status"] == 1 and result["colour"] == "red", f"status and colour: {result}")
check(result["timed_out"] is False, f"timed out: {result}")

job("DELETE", f"/katas/{kata}")
PY
volumes=$(docker volume ls -q --filter "label=org.cyber-dojo.runner=$instance")
[ -z "$volumes" ] || fail "kata volumes left after DELETE: $volumes"
say "the kata's volume is gone"
step=""
