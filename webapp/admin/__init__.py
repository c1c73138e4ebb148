from flask import Blueprint

bp = Blueprint("admin", __name__)

from webapp.admin import exports, imports, views  # noqa: E402,F401
