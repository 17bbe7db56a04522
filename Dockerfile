# source-postgres: PostgreSQL CDC source connector (C, Airbyte protocol).
#
#   docker build -t airbyte/source-postgres-c:dev .            (or: shared/tools/container build TAG .)
#   docker run --rm airbyte/source-postgres-c:dev spec
#   docker run --rm -v "$PWD/secrets:/secrets" airbyte/source-postgres-c:dev check --config /secrets/config.json
#
# The connector version lives only here; bump it together with project(VERSION) in CMakeLists.txt.
ARG CONNECTOR_VERSION=0.1.0

# ---------------------------------------------------------------------------------------------
# Stage 1: compile. Only the files CMake needs are copied (tests/ is not added with SP_TESTS=OFF).
FROM debian:bookworm AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libpq-dev libjansson-dev uuid-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY spec/ spec/
COPY include/ include/
COPY src/ src/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSP_TESTS=OFF -DSP_FUZZ=OFF -DSP_SANITIZE=OFF \
 && cmake --build build --parallel "$(nproc)" \
 && strip --strip-unneeded build/source-postgres \
 && ./build/source-postgres spec >/dev/null

# ---------------------------------------------------------------------------------------------
# Stage 2: runtime. Shared libraries only, and the OpenSSH client for SSH tunnels (tunnel_method);
# no compiler, no headers.
FROM debian:bookworm-slim
ARG CONNECTOR_VERSION
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 libjansson4 libuuid1 ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log \
 && useradd --uid 1000 --user-group --home-dir /airbyte --no-create-home --shell /usr/sbin/nologin airbyte \
 && install -d -o airbyte -g airbyte -m 0755 /airbyte

COPY --from=build /src/build/source-postgres /usr/local/bin/source-postgres

ENV AIRBYTE_ENTRYPOINT="/usr/local/bin/source-postgres"
LABEL io.airbyte.name="airbyte/source-postgres-c" \
      io.airbyte.version="${CONNECTOR_VERSION}"

WORKDIR /airbyte
USER airbyte
ENTRYPOINT ["/usr/local/bin/source-postgres"]
