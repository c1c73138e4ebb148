from flask import Blueprint

bp = Blueprint("self_service", __name__)

from webapp.self_service import views  # noqa: E402,F401
