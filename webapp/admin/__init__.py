from flask import Blueprint

bp = Blueprint("admin", __name__)

from webapp.admin import (  # noqa: E402,F401
    audit,
    batches,
    exports,
    imports,
    people,
    person,
    schools,
    settings_page,
    views,
)
