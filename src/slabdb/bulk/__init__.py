"""Bulk import from Parquet (Pinecone's import API), slabs built straight from the files.

* :mod:`slabdb.bulk.source` - the import directory (S3 or local) and ranged reads;
* :mod:`slabdb.bulk.plan` - which row groups become which slab, fixed at start;
* :mod:`slabdb.bulk.rows` - one chunk of rows, checked, as slab columns;
* :mod:`slabdb.bulk.progress` - the durable state ``describe_import`` reports;
* :mod:`slabdb.bulk.runner` - building, publishing and resuming one import;
* :mod:`slabdb.bulk.imports` - start / describe / list / cancel / resume.

Needs ``pyarrow`` (the ``bulk`` extra).  Ranked between engine and client.
"""

from slabdb.bulk.imports import BulkImports
from slabdb.bulk.progress import ImportList, ImportModel, ImportRecords, StartImportResponse
from slabdb.bulk.runner import ImportTarget

__all__ = [
    "BulkImports",
    "ImportList",
    "ImportModel",
    "ImportRecords",
    "ImportTarget",
    "StartImportResponse",
]
