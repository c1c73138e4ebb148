from flask import Blueprint

bp = Blueprint("teacher", __name__)

from webapp.teacher import views  # noqa: E402,F401
