"""``slabdb check``: find damage in a store without changing anything (fsck).

:func:`check_store` walks every database in a store and returns a :class:`Report` of
:class:`Finding` s: errors (damage that loses or hides acknowledged data) and warnings
(orphaned objects, objects written before sealing).
"""

from slabdb.check.findings import Finding, Report
from slabdb.check.namespace_check import check_namespace
from slabdb.check.store_check import check_database, check_store

__all__ = ["Finding", "Report", "check_database", "check_namespace", "check_store"]
