"""QIDO API (partition-aware). Filled in by its issue."""
from flask import Blueprint

from ..partitioning import scope

bp = scope(Blueprint("qido", __name__))
