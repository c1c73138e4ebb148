"""gunicorn settings for production: `gunicorn -c python:webapp.gunicorn_conf 'wsgi:app'`.

The access log goes through RedactingGunicornLogger, so no set-password token is written to
it. Bind address, workers and log files can still be given on the command line.
"""

logger_class = "webapp.web.access_log.RedactingGunicornLogger"
accesslog = "-"
errorlog = "-"
workers = 4
bind = "127.0.0.1:8000"
