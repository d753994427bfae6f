"""The attrs classes of the file format; field facts live in each field's ``metadata["pconf"]``."""

from pconf.schema._field import Deprecated, FieldInfo, FieldShape, ValueCheck, field_info, info, knob, shape
from pconf.schema.cluster import ClusterFacts, NumaNode, Topology
from pconf.schema.deploy import DeployConfig
from pconf.schema.document import LAYER_KEYS, Document
from pconf.schema.eplb import EPLBConfig
from pconf.schema.model import ModelSection
from pconf.schema.network import NetworkFacts
from pconf.schema.parallel import DERIVED_FIELDS, INTERNAL_FIELDS, DerivedField, ParallelConfig
from pconf.schema.scheduler import SchedulerConfig
from pconf.schema.serve import ServeConfig

__all__ = [
    "DERIVED_FIELDS",
    "INTERNAL_FIELDS",
    "LAYER_KEYS",
    "ClusterFacts",
    "DeployConfig",
    "Deprecated",
    "DerivedField",
    "Document",
    "EPLBConfig",
    "FieldInfo",
    "FieldShape",
    "ModelSection",
    "NetworkFacts",
    "NumaNode",
    "ParallelConfig",
    "SchedulerConfig",
    "ServeConfig",
    "Topology",
    "ValueCheck",
    "field_info",
    "info",
    "knob",
    "shape",
]
