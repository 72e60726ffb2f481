# Gatehouse: one binary and its site folder, on a slim image, as a non-root user.
#
#   docker build -t gatehouse .
#   docker run -p 8080:8080 -v gatehouse-data:/data \
#     -e GATEHOUSE_PUBLIC_URL=https://id.example.com gatehouse
#
# The build stage installs what scripts/tools.sh installs (the wasm target,
# cargo-leptos, wasm-bindgen-cli at Cargo.lock's version, wasm-opt from npm's
# binaryen) and builds the release site, precompressed.

FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The tools first, in a layer of their own: it outlives most source changes.
COPY Cargo.toml Cargo.lock ./
COPY scripts/tools.sh scripts/tools.sh
COPY end2end/package.json end2end/package-lock.json end2end/
RUN ./scripts/tools.sh
COPY . .
RUN bash -c 'source scripts/tools.sh && cargo leptos build --release --precompress'

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin gatehouse \
 && mkdir -p /data \
 && chown gatehouse:gatehouse /data
WORKDIR /app
COPY --from=build /src/target/release/gatehouse /app/gatehouse
COPY --from=build /src/target/site /app/site
ENV LEPTOS_SITE_ADDR=0.0.0.0:8080 LEPTOS_SITE_ROOT=/app/site DATABASE_URL=sqlite:///data/gatehouse.db?mode=rwc
VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/app/gatehouse", "healthcheck"]
ENTRYPOINT ["/app/gatehouse"]
CMD ["serve"]
