"""Document: one whole cluster file after layering — ``parallel``, ``scheduler``, ``cluster``, ``model``,
``serve`` and ``deploy``."""

import attrs

from pconf.schema._field import knob
from pconf.schema.cluster import ClusterFacts
from pconf.schema.deploy import DeployConfig
from pconf.schema.model import ModelSection
from pconf.schema.parallel import ParallelConfig
from pconf.schema.scheduler import SchedulerConfig
from pconf.schema.serve import ServeConfig

#: Top-level keys a file may hold besides the sections: handled while loading, never structured.
LAYER_KEYS = {
    "extends": "files this file builds on, applied in order before it (paths relative to this file)",
    "reset": "dotted keys this file puts back to their defaults before applying its own values",
}


@attrs.frozen(kw_only=True)
class Document:
    """A complete, structured cluster document."""

    vllm_version: str = knob(
        "0.23",
        graph=False,
        scope="graph",
        doc="The vLLM release the file targets (\"0.28\" or \"0.28.0\"): its fields, defaults, rules, serve flags "
        "and graph hash. Unset: 0.23, the release pconf first modelled, so older files keep their meaning.",
    )
    parallel: ParallelConfig = knob(
        factory=ParallelConfig, graph=True, scope="graph", doc="vLLM's ParallelConfig fields."
    )
    scheduler: SchedulerConfig = knob(
        factory=SchedulerConfig, graph=False, scope="graph", doc="Scheduling facts resolution depends on."
    )
    cluster: ClusterFacts = knob(
        factory=ClusterFacts, graph=False, scope="host", doc="Host facts resolution depends on."
    )
    model: ModelSection = knob(
        factory=ModelSection, graph=False, scope="graph",
        doc="The model the layout is checked against (its config.json); unset: no model checks.",
    )
    serve: ServeConfig = knob(
        factory=ServeConfig, graph=False, scope="launch", doc="vllm serve's API server: host, port, processes."
    )
    deploy: DeployConfig = knob(
        factory=DeployConfig, graph=False, scope="launch",
        doc="What the deployment targets (pconf plan --format lws, slurm, skypilot) write beyond the plan: name, "
        "image, model, replicas, accelerator, environment, extra vllm serve arguments.",
    )
