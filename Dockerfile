# syntax=docker/dockerfile:1
#
# Boxoffice image: one binary, `boxoffice`, whose subcommand is the command
# (`serve` by default; `api`, `worker`, `migrate`, `dlq ...`).
#
#   docker build -t boxoffice .
#   docker run --rm -e DATABASE_URL=... -e JWT_SECRET=... -p 8080:8080 boxoffice api
#
# Stages: chef (toolchain + cargo-chef) -> planner (dependency recipe) ->
# builder (dependencies cooked in their own layer, then the project) -> runtime.
# A change to the project's code rebuilds only the last part of `builder`; the
# dependencies are rebuilt only when Cargo.toml or Cargo.lock change.
# No settings or secrets are baked in: everything comes from the environment.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Same flags as the final build below, so the cooked layer is reused.
RUN cargo chef cook --release --locked -p boxoffice --bin boxoffice --recipe-path recipe.json
# The whole context (less .dockerignore): works for a single crate and for a
# workspace with other members (loadgen/); only the server binary is built.
# Migrations are embedded in the binary; queries are checked at run time, so
# no database is needed here.
COPY . .
RUN cargo build --release --locked -p boxoffice --bin boxoffice \
 && mkdir -p /out \
 && strip --strip-debug -o /out/boxoffice target/release/boxoffice
# (--strip-debug: the release profile keeps line tables, most of the binary's
# size; symbol names stay, so backtraces still name functions.)

FROM debian:bookworm-slim AS runtime
# curl for the HEALTHCHECK; ca-certificates for it and for debugging from inside
# (the binary's own TLS, SMTP over rustls, carries its root certificates).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 boxoffice \
 && useradd --system --uid 10001 --gid boxoffice --home-dir /var/lib/boxoffice --create-home \
      --shell /usr/sbin/nologin boxoffice
COPY --from=builder /out/boxoffice /usr/local/bin/boxoffice
# The working directory is the user's own, so MAIL_DIR's default (var/mail,
# used when SMTP_URL is unset) is writable.
WORKDIR /var/lib/boxoffice
USER boxoffice:boxoffice
# Listen on every interface of the container (the binary's default is 127.0.0.1).
ENV BIND_ADDR=0.0.0.0:8080
EXPOSE 8080
# For the processes that serve HTTP (serve, api); compose turns it off for the
# worker and the one-shot migrate. The port follows BIND_ADDR.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${BIND_ADDR##*:}/healthz" || exit 1
ENTRYPOINT ["boxoffice"]
CMD ["serve"]
