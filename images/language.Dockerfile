# A language image that is its family's base (images/build.sh) and its folder's files in
# /usr/local/bin: its traffic-light lambda, red_amber_green.rb, where cyber-dojo's images keep
# theirs, and any command of its own.
ARG BASE
FROM ${BASE}
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8
COPY . /usr/local/bin/
