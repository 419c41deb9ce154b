# syntax=docker/dockerfile:1
# One image for every ClassPulse service: compose.yaml runs it as `classpulse db upgrade`,
# `classpulse produce`, `classpulse consume` and `classpulse dashboard`.
#
# Base: python:3.11-slim rather than nvidia/cuda. The torch wheels on PyPI for Linux x86_64 bring
# the CUDA runtime, cuDNN and NCCL with them (the nvidia-* wheels), so the image needs only the
# host's NVIDIA driver, which the NVIDIA Container Toolkit mounts in at run time. An nvidia/cuda
# base would add a second copy of the CUDA libraries and no Python 3.11; this one also runs on a
# machine without a GPU (producers, dashboard, migrations).
#
# Only the package is copied in: no tests, no data, no training runs (see also .dockerignore).
# The emotion weights in model/weights/ are package data and install with the package.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, in its own layer: it is the bulk of the image and changes rarely. Pinned like the
# Makefile's TORCH_SPEC (a build known to work with facenet-pytorch 2.5.3). Its default wheel is
# built for CUDA 13.0, which needs NVIDIA driver 580 or newer on the host and a GPU of compute
# capability 7.5 or higher; for an older driver set TORCH_SPEC in .env (compose passes it on) to
# a build for CUDA 12, e.g. "torch==... torchvision==... --index-url ..." (README.md, "GPUs and
# drivers"), or pass --build-arg TORCH_SPEC=... to `docker compose build`.
ARG TORCH_SPEC="torch==2.14.1 torchvision==0.29.1"
RUN pip install ${TORCH_SPEC}
WORKDIR /src
COPY pyproject.toml README.md ./
COPY classpulse ./classpulse
COPY producers ./producers
COPY consumers ./consumers
COPY model ./model
COPY dashboard ./dashboard
COPY pipeline_bench ./pipeline_bench
RUN pip install . \
    && python -c "from classpulse.cli import build_parser; build_parser()"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    HOME=/home/classpulse
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/classpulse \
        --shell /usr/sbin/nologin classpulse
COPY --from=build /opt/venv /opt/venv
WORKDIR /home/classpulse
USER 10001:10001
EXPOSE 8501 9100
CMD ["classpulse", "--help"]
