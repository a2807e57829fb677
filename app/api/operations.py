"""operations API (global, not partition-prefixed). Filled in by its issue."""
from flask import Blueprint

bp = Blueprint("operations", __name__)
