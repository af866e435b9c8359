"""partitioned: the signals of a partitioned build (broadsheet/partitioned.py).

In the driver, once every generator has its context, the partitions are rendered; in a
partition, the driver's slice is given to its articles before any page is written. A single
build (no BUILD_ROLE) is left alone. Listed last in PLUGINS: it reads what the others computed.
"""

from __future__ import annotations

from pelican import signals
from pelican.generators import ArticlesGenerator

from broadsheet import partitioned


def _on_generators_finalized(generators) -> None:
    found = next((g for g in generators if isinstance(g, ArticlesGenerator)), None)
    if found is None:
        return
    if partitioned.is_driver(found.settings):
        partitioned.run_partitions(generators)
    elif partitioned.is_partition(found.settings):
        partitioned.apply_slices(generators)


def _on_finalized(pelican) -> None:
    if partitioned.is_driver(pelican.settings):
        partitioned.forget_facts(pelican.settings)


def register():
    signals.all_generators_finalized.connect(_on_generators_finalized)
    signals.finalized.connect(_on_finalized)  # after the other plugins' (listed last)
