# syntax=docker/dockerfile:1
# One image per service and the gateway, chosen by a build argument:
#   docker build --build-arg SERVICE=identity -t o2o/identity .     (make images builds them all)
# The final stage holds the base interpreter and the service's locked environment only: no
# compiler, no uv, no pip, no sources; it runs as an unprivileged user and writes nowhere but /tmp.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.8
ENV UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv==${UV_VERSION}
WORKDIR /src
# Stubs first: generated from protos/ with the locked `protos` group only, cached until they change.
COPY pyproject.toml uv.lock ./
COPY libs/contracts/pyproject.toml libs/contracts/pyproject.toml
RUN UV_PROJECT_ENVIRONMENT=/opt/protos uv sync --frozen --only-group protos --no-install-project
COPY protos protos
COPY tools/gen_protos.py tools/gen_protos.py
RUN mkdir -p libs/contracts/src/o2o && PATH="/opt/protos/bin:${PATH}" /opt/protos/bin/python tools/gen_protos.py
# Then the one package asked for, with its workspace libraries, built as wheels (not editable).
COPY libs libs
COPY services services
COPY gateway gateway
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<service or gateway>"; exit 1; }
RUN UV_PROJECT_ENVIRONMENT=/app uv sync --frozen --no-dev --no-editable --package "o2o-${SERVICE}" \
    && /app/bin/o2o --help >/dev/null
# What the container runs: `o2o serve <service>`, or `o2o gateway`.
RUN if [ "${SERVICE}" = "gateway" ]; then command="o2o gateway"; else command="o2o serve ${SERVICE}"; fi \
    && printf '#!/bin/sh\nexec %s "$@"\n' "${command}" > /app/bin/o2o-start \
    && chmod 0755 /app/bin/o2o-start

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="o2o-${SERVICE}" \
      org.opencontainers.image.description="O2O retail platform: ${SERVICE}" \
      org.opencontainers.image.source="https://github.com/o2o-platform/o2o"
# The base image's pip and setuptools are not needed to run: removed, so nothing installs at run time.
RUN python -m pip uninstall --yes --no-cache-dir pip setuptools wheel >/dev/null 2>&1 || true \
    && groupadd --system --gid 10001 o2o \
    && useradd --system --uid 10001 --gid o2o --no-create-home --home-dir /tmp --shell /usr/sbin/nologin o2o
COPY --from=build --chown=root:root /app /app
ENV PATH="/app/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    O2O_DATA_DIR=/tmp/o2o \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
CMD ["/app/bin/o2o-start"]
