# driftwatch container image: docker build -t driftwatch:0.1.0 .
#
# Stage 1 builds with the project's own scripts (the same steps as CI and scripts/demo.sh) and
# runs the unit tests, so an image is never produced from a build whose tests fail.
# Stage 2 holds the binary and its runtime libraries only, runs as UID 10001 and writes nothing
# outside /var/lib/driftwatch (works with `docker run --read-only`).
#
# Run:
#   docker run -d -p 9731:9731 -v /etc/driftwatch:/etc/driftwatch:ro \
#     -v driftwatch-state:/var/lib/driftwatch -e PROD_DATABASE_URL driftwatch:0.1.0
# The config must listen on 0.0.0.0:9731 (or [::]:9731) to be reachable from outside the
# container; the HEALTHCHECK probes 127.0.0.1:9731/healthz.
ARG DEBIAN_IMAGE=debian:12

FROM ${DEBIAN_IMAGE} AS build
WORKDIR /src
# Only the dependency script first: this layer is reused until the package list changes.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# CI=true makes scripts/build.sh build with -Werror, as CI does.
RUN BUILD_DIR=/build BUILD_TYPE=Release CI=true scripts/build.sh \
 && ctest --test-dir /build -L unit --output-on-failure \
 && strip /build/daemon/app/driftwatch

FROM ${DEBIAN_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="driftwatch" \
      org.opencontainers.image.description="PostgreSQL schema drift monitor for Alembic migrations" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.documentation="docs/runbook.md" \
      org.opencontainers.image.base.name="debian:12"
# Runtime libraries of the binary (libpq5 and libfmt9 come as their dependencies); Asio/Beast
# are header-only, only boost_system is linked. curl is for the HEALTHCHECK.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libpqxx-6.4 libprometheus-cpp-core1.0 libspdlog1.10 libcurl4 libssl3 libboost-system1.74.0 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 driftwatch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/driftwatch --no-create-home \
      --shell /usr/sbin/nologin driftwatch \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/driftwatch \
 && install -d -m 0755 /etc/driftwatch
COPY --from=build /build/daemon/app/driftwatch /usr/bin/driftwatch
COPY config/driftwatch.example.toml config/minimal.toml /usr/share/doc/driftwatch/
COPY docs/runbook.md /usr/share/doc/driftwatch/runbook.md
USER 10001:10001
WORKDIR /var/lib/driftwatch
VOLUME ["/var/lib/driftwatch"]
EXPOSE 9731
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9731/healthz"]
ENTRYPOINT ["driftwatch", "serve"]
CMD ["--config", "/etc/driftwatch/driftwatch.toml"]
