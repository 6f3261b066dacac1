# The image of every service in docker-compose.yml: worker, beat, flower and the simulator.
FROM python:3.11-slim

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
RUN pip install . --constraint requirements.lock \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data

# Never root at run time. /data holds beat's schedule file (a volume in compose).
USER app
WORKDIR /data

CMD ["celery", "-A", "worker", "worker", "--loglevel=INFO"]
