# Multi-stage: build the single executable with Bun, ship it on a small base as a non-root user.
FROM oven/bun:1 AS build
WORKDIR /src
COPY package.json bun.lock bunfig.toml tsconfig.json ./
RUN bun install --frozen-lockfile --production --ignore-scripts
COPY src ./src
COPY scripts ./scripts
COPY sql ./sql
RUN bun build --compile --minify src/cli.ts --outfile /cdc-engine

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home /var/lib/cdc-engine cdc \
 && mkdir -p /var/lib/cdc-engine /etc/cdc-engine && chown cdc /var/lib/cdc-engine
COPY --from=build /cdc-engine /usr/local/bin/cdc-engine
USER cdc
WORKDIR /var/lib/cdc-engine
ENV CDC_API_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s CMD ["/usr/local/bin/cdc-engine", "healthcheck", "--url", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/usr/local/bin/cdc-engine"]
CMD ["serve", "--config", "/etc/cdc-engine/cdc.yaml"]
