# sluice runner image: builds sluice and the example plugins on Debian 12 and runs
# the supervisor. Used by docker-compose.yml.
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      gcc make cmake pkg-config libhiredis-dev libevent-dev libcjson-dev libpcre2-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Release \
    && cmake --build build -j"$(nproc)"

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libhiredis0.14 libevent-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7 libcjson1 libpcre2-8-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /srv/sluice sluice \
    && mkdir -p /srv/sluice/.sluice && chown -R sluice /srv/sluice
COPY --from=build /src/build/sluice /src/build/sluice-worker /usr/local/bin/
COPY --from=build /src/build/plugins/ /usr/local/lib/sluice/plugins/
COPY config/ /etc/sluice/
# Plugins must not be group/world-writable; the loader refuses them otherwise.
RUN chmod 0755 /usr/local/lib/sluice/plugins/*.so
USER sluice
WORKDIR /srv/sluice
ENV SLUICE_PLUGIN_DIR=/usr/local/lib/sluice/plugins \
    SLUICE_WORKER_PATH=/usr/local/bin/sluice-worker
ENTRYPOINT ["sluice"]
CMD ["run", "-c", "/etc/sluice/sluice.json"]
