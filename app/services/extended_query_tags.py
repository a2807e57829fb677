"""Extended query tags (reference §8). Filled in by issue #7."""
from __future__ import annotations

from pydicom.dataset import Dataset

from ..dao.instances import InstanceKeys
from ..db import DbConn


def index_instance(conn: DbConn, ds: Dataset, keys: InstanceKeys) -> None:
    """Index the values of existing extended query tags for a newly stored instance."""
    return None
