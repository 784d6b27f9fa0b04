"""batchpredict's domain: settings, the Redis store, templating, states.

Imports neither Flask nor Celery, so the API and the workers share one model
of connectors, models and tasks.
"""
