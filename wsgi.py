"""WSGI entry point: gunicorn 'wsgi:app'."""

import gc

from webapp import create_app

app = create_app()
# What start-up made lives as long as the process: later collections need not walk it.
gc.freeze()
