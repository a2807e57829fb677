"""``make bench``: run every benchmark module in turn and print Markdown tables.

Each module under bench/ that defines ``main(argv)`` is listed in BENCHMARKS.
"""
from __future__ import annotations

import importlib
import sys

BENCHMARKS: list[str] = ["bench.floor", "bench.stow", "bench.wado", "bench.qido", "bench.delete",
                         "bench.reindex", "bench.import", "bench.workitems",
                         "bench.export", "bench.collations", "bench.partition_statistics",
                         "bench.s3", "bench.scale_out"]  # one per issue


def main(argv: list[str]) -> int:
    selected = [b for b in BENCHMARKS if not argv or b.split(".")[-1] in argv]
    for name in selected:
        print(f"\n## {name}\n", flush=True)
        importlib.import_module(name).main([])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
