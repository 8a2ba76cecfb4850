# The attribution service: one image for the API (`serve`), the scheduler, migrations (`db upgrade`),
# one-off commands (collect, attribute, period close) and the live simulator (`sim serve`).
#
#   docker build -t attribution:0.1.0 .          (or podman; scripts/image-smoke.sh builds and tests it)
#   docker run --rm attribution:0.1.0 --help
#
# No `# syntax=` line: BuildKit would fetch that frontend from a registry, and an offline build fails.
# Two stages on the same pinned base: the build stage installs the package (a regular, not editable,
# install: the wheel carries the migrations as attribution/_migrations, see setup.py) and its dependencies
# into a virtual environment at /opt/venv; the runtime stage copies only /opt/venv, without compilers,
# pip caches, the source tree or the tests, and runs as an unprivileged user.
# Pin the base by digest in your registry mirror (python:3.11.11-slim-bookworm@sha256:...) for builds
# that are reproducible byte for byte; the tag below pins the Python and Debian releases.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /app
# the dependency layer first: it is rebuilt only when pyproject.toml changes
COPY pyproject.toml README.md ./
RUN mkdir attribution && touch attribution/__init__.py \
    && /opt/venv/bin/pip install --upgrade pip \
    && /opt/venv/bin/pip install . \
    && /opt/venv/bin/pip uninstall --yes attribution \
    && rm -rf attribution build ./*.egg-info
COPY setup.py MANIFEST.in ./
COPY migrations ./migrations
COPY attribution ./attribution
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/attribution --help >/dev/null

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 attribution \
    && useradd --system --uid 10001 --gid attribution --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin attribution
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ATTRIBUTION_LOG_FORMAT=json
WORKDIR /app
USER 10001:10001
# 8000: the API (`serve --host 0.0.0.0`); 9464: the scheduler's /metrics (scheduler.metrics_port)
EXPOSE 8000 9464
ENTRYPOINT ["attribution"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
