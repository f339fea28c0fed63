# resource-watcher container image. See README.md, "Container image".
#
# Stages, in this order:
#   runtime-base  Debian 12 slim + the runtime libraries + the resource-watcher user and directories
#   prebuilt      runtime-base + a release binary built on the host and passed in the build context
#                 (ARG BINARY). THIS is the stage tested here, by scripts/test-image.sh
#                 (`make image-test`): the test machine reaches no container registry, so it
#                 builds the binary with the host's Swift toolchain and imports a debootstrapped
#                 Debian 12 as debian:bookworm-slim.
#   build         swift:6.3-bookworm compiling the binary from source. Needs a registry and
#                 network access for the package dependencies; not tested here.
#   runtime       runtime-base + the binary from `build`. The last stage, so the default target:
#                 `docker build -t resource-watcher .` with registry access. Not tested here.
#
# prebuilt comes before build and runtime because Docker 20.10's legacy builder
# (DOCKER_BUILDKIT=0) builds every stage up to --target: `--target prebuilt` never touches
# swift:6.3-bookworm. BuildKit builds only the stages the target needs, in any order.
#
#   prebuilt: swift build -c release --static-swift-stdlib --product resource-watcher --scratch-path .build-image
#             docker build --target prebuilt -t resource-watcher .
#   runtime:  docker build -t resource-watcher .

FROM debian:bookworm-slim AS runtime-base
# The binary links the Swift runtime and Foundation statically; it still needs glibc, libcurl,
# libzstd, libsnappy, and libstdc++/libgcc_s (which the Swift runtime, written in C++, uses). The registry's
# bookworm-slim lacks them and installs them; the base image made by scripts/test-image.sh
# already holds them, so this step runs without network there (docker build --network none).
RUN dpkg -s libcurl4 libzstd1 libsnappy1v5 libstdc++6 ca-certificates >/dev/null 2>&1 \
    || (apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
           libcurl4 libzstd1 libsnappy1v5 libstdc++6 ca-certificates \
        && rm -rf /var/lib/apt/lists/*)
# A fixed uid/gid so host-side ownership (a bind-mounted spool, --user, --group-add) is
# predictable. The spool directory is private to the agent (DESIGN §4: 0700); a named volume
# mounted on it starts as a copy of it, owner and mode included.
RUN groupadd --system --gid 10001 resource-watcher \
    && useradd --system -K SYS_UID_MAX=10001 --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/resource-watcher \
       --shell /usr/sbin/nologin resource-watcher \
    && install -d -o root -g root -m 0755 /etc/resource-watcher /var/lib/resource-watcher \
    && install -d -o resource-watcher -g resource-watcher -m 0700 /var/lib/resource-watcher/spool
VOLUME ["/var/lib/resource-watcher/spool"]
# No HEALTHCHECK: `resource-watcher status` exits 1 whenever a watched component is degraded
# (the agent is fine) and needs RESOURCE_WATCHER_TOKEN once API tokens are configured. Add one
# at `docker run` time if it fits your setup (see README).

# Tested here: the host's release binary in an image, no registry needed beyond the base image.
FROM runtime-base AS prebuilt
ARG BINARY=.build-image/x86_64-unknown-linux-gnu/release/resource-watcher
COPY --chown=root:root ${BINARY} /usr/local/bin/resource-watcher
USER resource-watcher
ENTRYPOINT ["/usr/local/bin/resource-watcher"]
CMD ["run", "--config", "/etc/resource-watcher/config.json"]

# Not tested here (needs a registry and the package dependencies from GitHub).
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       libzstd-dev libsnappy-dev libcurl4-openssl-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Package.resolved is not committed; the glob copies it when the context has one.
COPY Package.* ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product resource-watcher \
    && install -m 0755 "$(swift build -c release --show-bin-path)/resource-watcher" /resource-watcher

# Default target for users with registry access. Not tested here.
FROM runtime-base AS runtime
COPY --from=build /resource-watcher /usr/local/bin/resource-watcher
USER resource-watcher
ENTRYPOINT ["/usr/local/bin/resource-watcher"]
CMD ["run", "--config", "/etc/resource-watcher/config.json"]
