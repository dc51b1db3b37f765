"""The immutable slab: one object holding a batch of record versions.

* :class:`SlabBuilder` encodes ids, LSNs, tombstones, vectors, sparse vectors and
  metadata into bytes (:mod:`slabdb.slab.builder` lists the sections);
* :class:`SlabReader` opens those bytes (checking every checksum), reconstructs rows,
  evaluates filters to bitmaps and runs exact top-k search (:mod:`slabdb.slab.search`);
* :class:`SlabStats` is the summary a namespace manifest keeps about a slab.
"""

from slabdb.slab.builder import SlabBuilder
from slabdb.slab.format import FORMAT_VERSION, SlabStats
from slabdb.slab.reader import SlabReader
from slabdb.slab.search import PREFILTER_FRACTION

__all__ = ["FORMAT_VERSION", "PREFILTER_FRACTION", "SlabBuilder", "SlabReader", "SlabStats"]
