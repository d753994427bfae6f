"""The attrs classes of the file format; field facts live in each field's ``metadata["pconf"]``."""

from pconf.schema._field import FieldInfo, info, knob
from pconf.schema.cluster import ClusterFacts, NumaNode, Topology
from pconf.schema.document import LAYER_KEYS, Document
from pconf.schema.eplb import EPLBConfig
from pconf.schema.parallel import DERIVED_FIELDS, INTERNAL_FIELDS, ParallelConfig
from pconf.schema.scheduler import SchedulerConfig

__all__ = [
    "DERIVED_FIELDS",
    "INTERNAL_FIELDS",
    "LAYER_KEYS",
    "ClusterFacts",
    "Document",
    "EPLBConfig",
    "FieldInfo",
    "NumaNode",
    "ParallelConfig",
    "SchedulerConfig",
    "Topology",
    "info",
    "knob",
]
