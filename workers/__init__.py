"""Celery workers: submit, refresh and cancel provider jobs; beat's sweep."""
