"""gunicorn's configuration (`gunicorn -c api/gunicorn_conf.py 'api.app:create_app()'`):
where to listen and JSON logs, from the runner's settings."""

from runner.settings import Settings

_settings = Settings()

bind = f"{_settings.host}:{_settings.port}"
worker_class = "gthread"
workers = _settings.api_processes
# ?wait= holds a thread (not a CPU) while it blocks on Redis: threads, not processes, wait.
threads = 16
accesslog = None  # the app logs each request itself: at debug when it succeeds
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "runner.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
    },
    "root": {"level": _settings.log_level.upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}
