"""extended_query_tags API (global, not partition-prefixed). Filled in by its issue."""
from flask import Blueprint

bp = Blueprint("extended_query_tags", __name__)
