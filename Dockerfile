# claude-bus in a container: the HTTP front (bus-shim --http), which starts busd itself, with
# the bus (database, socket, log) in the volume /data. See README "Container".
#
#   docker build -t claude-bus .             # compiles in rust:1.89 (needs an image registry)
#   docs/container/binaries.sh && podman build --target prebuilt \
#       --build-arg BASE=localhost/claude-bus-base:bookworm -t claude-bus .
#                                            # no registry: the host's release build and a base
#                                            # made by docs/container/base.sh
#
# The last stage, `image` (the default), copies the binaries from the `builder` stage, which compiles the
# workspace; `--target prebuilt` instead takes target/container/{busd,bus-shim,bus} from the
# build context, built and stripped on the host by docs/container/binaries.sh against the same
# glibc (Debian 12), and never builds `builder`. Debian 12's own rustc (1.63) is too old for
# this workspace (rust-version 1.89, edition 2024), so no builder comes from the OS packages.
ARG RUST=docker.io/library/rust:1.89-slim-bookworm
ARG BASE=docker.io/library/debian:bookworm-slim

FROM ${BASE} AS runtime
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin bus \
 && mkdir -p /data && chown bus:bus /data && chmod 700 /data
USER bus
ENV BUS_DB=/data/bus.db HOME=/data
VOLUME /data
EXPOSE 8765
# Plain HTTP inside the container: the port is meant to be published on loopback or put behind
# a TLS proxy. For TLS in the container, mount a certificate and key and run with
# `--http 0.0.0.0:8765 --tls-cert /tls/cert.pem --tls-key /tls/key.pem` instead.
ENTRYPOINT ["bus-shim"]
CMD ["--http", "0.0.0.0:8765", "--insecure-http"]

FROM runtime AS prebuilt
COPY target/container/busd target/container/bus-shim target/container/bus /usr/local/bin/

FROM ${RUST} AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p busd -p bus-shim -p bus-cli \
 && mkdir -p /out \
 && for bin in busd bus-shim bus; do strip -o /out/$bin target/release/$bin; done

FROM runtime AS image
COPY --from=builder /out/busd /out/bus-shim /out/bus /usr/local/bin/
