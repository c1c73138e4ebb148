from flask import Blueprint

bp = Blueprint("admin", __name__)

from webapp.admin import audit, batches, exports, imports, people, person, schools, views  # noqa: E402,F401
