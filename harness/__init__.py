"""Real services on loopback (Redis, Celery, gunicorn, a registry) for the tests and the bench."""
