"""gunicorn's configuration (`gunicorn -c api/gunicorn_conf.py 'api.app:create_app()'`):
where to listen and JSON logs, from the runner's settings."""

from runner.settings import Settings

_settings = Settings()

bind = [f"{_settings.host}:{_settings.port}"]
# cyber-dojo's protocol, with no token, on a listener of its own (docs/API.md).
if _settings.cyber_dojo_bind:
    bind.append(_settings.cyber_dojo_bind)
# gevent: a connection, long-polling or slow, costs a greenlet, not one of a few threads
# (api/serving.py; ARCHITECTURE.md, "Serving HTTP").
worker_class = "api.serving.Worker"
workers = _settings.api_processes
worker_connections = _settings.api_connections
# The gevent worker waits this long for a request's line and headers (and for the next request
# on a kept-alive connection), then closes; api.serving bounds the body.
keepalive = _settings.api_head_timeout_s
# API.md's limits on the request line and headers (414 and 431 beyond), gunicorn's defaults.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# One control socket per instance, or none: gunicorn's default path is shared by every
# gunicorn of the user, and a second one would take it over from the first.
control_socket_disable = not _settings.api_control_socket
if _settings.api_control_socket:
    control_socket = _settings.api_control_socket
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
