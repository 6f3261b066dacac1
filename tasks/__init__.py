"""Celery task definitions: thin wrappers over the plain functions in ``worker``."""
