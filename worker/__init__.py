"""The Celery app, configuration and infrastructure of the ModelsLab reload worker."""
