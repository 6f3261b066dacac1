# The image of every service in docker-compose.yml: worker, beat, flower and the simulator.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY tasks ./tasks
RUN pip install . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data

# Never root at run time. /data holds beat's schedule file (a volume in compose).
USER app
WORKDIR /data

CMD ["celery", "-A", "worker", "worker", "--loglevel=INFO"]
