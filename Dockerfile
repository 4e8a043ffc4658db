# syntax=docker/dockerfile:1
# Multi-stage: build the single executable with Bun, ship it alone on distroless (glibc, CA
# certificates, tzdata; no shell, no package manager) as a non-root user.
# Not built here: the development machines have no Docker engine (see docs "Docker").
#   docker build --build-arg GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t cdc-engine .

ARG BUN_VERSION=1.4.5

FROM oven/bun:${BUN_VERSION} AS build
WORKDIR /src
COPY package.json bun.lock bunfig.toml tsconfig.json ./
# package.json's patchedDependencies: bun install fails without the patch file.
COPY patches ./patches
# Only runtime dependencies: the compiler bundles them into the executable.
RUN bun install --frozen-lockfile --production --ignore-scripts
COPY src ./src
COPY scripts ./scripts
# Embedded in the binary by `with { type: "text" }` imports: the datasets' schemas (src/generator)
# and the demo's category map (src/demo/run-demo.ts). test/cli/docker-build.test.ts builds from
# exactly these COPY lines.
COPY sql ./sql
COPY examples/category_groups.csv ./examples/
ARG GIT_COMMIT=unknown
# The state dir is created here because the final image has no shell to mkdir/chown with.
RUN CDC_GIT_COMMIT="${GIT_COMMIT}" CDC_BUILD_OUTFILE=/out/cdc-engine bun scripts/build.ts \
 && /out/cdc-engine --version \
 && mkdir -p /out/state /out/config

FROM gcr.io/distroless/base-debian12:nonroot
# uid/gid 65532 "nonroot" comes with the image.
COPY --from=build /out/cdc-engine /usr/local/bin/cdc-engine
COPY --from=build --chown=65532:65532 /out/state /var/lib/cdc-engine
COPY --from=build /out/config /etc/cdc-engine
USER 65532:65532
WORKDIR /var/lib/cdc-engine
# Inside a container the API must listen on all interfaces for -p to reach it; publish it on
# 127.0.0.1 only (compose.yaml does) unless a token and a network policy protect it.
# BUN_JSC_useWarmUpMarkedBlocks=0 and BUN_JSC_forceRAMSize: as in deploy/cdc-engine.service
# (~17 % less CPU under load; the JS heap sized as on a 1 GiB host, ~25 MiB lower peak RSS).
ENV CDC_API_LISTEN=0.0.0.0:8080 \
    CDC_LOG_FORMAT=json \
    BUN_JSC_useWarmUpMarkedBlocks=0 \
    BUN_JSC_forceRAMSize=1073741824
EXPOSE 8080
VOLUME ["/var/lib/cdc-engine"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/cdc-engine", "healthcheck", "--url", "http://127.0.0.1:8080/health", "--timeout", "4"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/cdc-engine"]
CMD ["serve", "--config", "/etc/cdc-engine/cdc.yaml"]
