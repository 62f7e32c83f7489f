"""gunicorn settings: its own log lines go out as JSON too, through relabel.backend.logs.JsonFormatter."""

accesslog = "-"
# Path only (%(U)s), never the query string: nothing secret travels in it today, and it stays that way.
access_log_format = '%(m)s %(U)s %(s)s %(B)s bytes %(D)sus'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "relabel.backend.logs.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
# gunicorn >= 24 opens a control socket at one fixed path in $HOME; several backends on one machine
# (tests, demo) would fight over it, and nothing here uses it.
control_socket_disable = True


def on_starting(server):
    """gunicorn started any other way than `python -m relabel.backend` gets the same refusal to serve a
    network address without authentication."""
    import sys

    from relabel.backend.auth import exposure_problem
    from relabel.backend.config import Settings

    hosts = [address[0] for address in server.address if isinstance(address, tuple)]
    problem = exposure_problem(hosts, Settings.from_env())
    if problem:
        server.log.error(problem)
        sys.exit(1)
