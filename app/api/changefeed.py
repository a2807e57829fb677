"""Change feed API: global, plus partition-scoped routes. Filled in by its issue."""
from flask import Blueprint

from ..partitioning import scope

bp = scope(Blueprint("changefeed", __name__), optional=True)
