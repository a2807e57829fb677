"""WADO API (partition-aware). Filled in by its issue."""
from flask import Blueprint

from ..partitioning import scope

bp = scope(Blueprint("wado", __name__))
