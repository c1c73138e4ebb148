"""Forms shared by every part of the site."""

from __future__ import annotations

from flask_wtf import FlaskForm


class CsrfOnlyForm(FlaskForm):
    """A form with nothing but the CSRF token (fields are read from an allow-list)."""
