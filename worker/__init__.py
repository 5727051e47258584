"""The Celery workers: every job that touches Docker runs here."""
