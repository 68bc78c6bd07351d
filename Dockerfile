# bromsync as a container: `bromsync run` (the daemon) as a non-root user, reading its
# configuration from /etc/bromsync/bromsync.toml (mount it; put the secrets in the environment:
# BROMSYNC_BROMCOM__APPLICATION_SECRET, DATABASE_URL). Run `migrate` once per release with the
# owner role: docker run --rm -e DATABASE_URL=... IMAGE migrate
#
# The production binary leaves out the Bromcom simulator (default feature `sim`).
# No container engine runs on the team's machines: CI lints this file with hadolint
# (scripts/test) and does not build it.

FROM rust:1.94-slim-bookworm AS build
# TLS is rustls with ring (built with the C toolchain the image has): no OpenSSL to link.
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features --bin bromsync \
    && install -m 0755 target/release/bromsync /usr/local/bin/bromsync

FROM debian:bookworm-slim
# Debian's security updates are what matter here, not fixed package versions.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 bromsync \
    && useradd --system --uid 10001 --gid bromsync --no-create-home --shell /usr/sbin/nologin bromsync \
    && mkdir -p /etc/bromsync
COPY --from=build /usr/local/bin/bromsync /usr/local/bin/bromsync
ENV BROMSYNC_CONFIG=/etc/bromsync/bromsync.toml \
    RUST_LOG=info
USER 10001:10001
# SIGTERM stops the daemon within daemon.grace_period_secs (default 30 s): give `docker stop`
# a longer --time (e.g. 40).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/bromsync"]
CMD ["run"]
