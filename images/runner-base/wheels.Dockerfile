# runner-base plus the pinned wheels of requirements.txt (the build context is the folder of
# wheels that scripts/compose-check.sh downloads). Given as BASE_IMAGE, it lets the repository's
# Dockerfile, unchanged, install its requirements with no index and no network: pip reads
# PIP_NO_INDEX and PIP_FIND_LINKS from the environment as --no-index --find-links.
ARG BASE=cyber-dojo-local/runner-base:latest
FROM ${BASE}
COPY *.whl /wheels/
ENV PIP_NO_INDEX=1 \
    PIP_FIND_LINKS=/wheels
