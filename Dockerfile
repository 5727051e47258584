# The runner's own image: API, worker and beat all run from it (docker-compose.yml).
# BASE_IMAGE: a Python 3.11 image; a public one by default, or one built locally.
# A base image may carry the pinned wheels and the pip settings that use them (PIP_NO_INDEX,
# PIP_FIND_LINKS): cyber-dojo-local/runner-wheels does (images/runner-base/wheels.Dockerfile),
# so that `make compose-check` builds this file as it is, with no network in the build.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
WORKDIR /app
COPY requirements.txt ./
RUN python3 -m pip install --no-cache-dir -r requirements.txt
COPY traffic_lights ./traffic_lights
COPY runner ./runner
COPY api ./api
COPY sandbox ./sandbox
# The agent, built by `make bootstrap` (static: it runs in every kata container as it is).
COPY agent/bin/agent ./agent/bin/agent
COPY worker ./worker
COPY reaper ./reaper
# The commit cyber-dojo's GET /sha answers (the image has no .git): --build-arg COMMIT_SHA=...
ARG COMMIT_SHA=""
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 RUNNER_COMMIT_SHA=${COMMIT_SHA}
EXPOSE 4597
