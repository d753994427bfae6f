"""DeployConfig: the ``[deploy]`` table, what a cluster manager needs beyond the plan (``pconf plan --format lws``,
``slurm``, ``skypilot``): the name, the image, the model, the replicas, the accelerator, extra environment and
extra ``vllm serve`` arguments."""

from typing import Any

import attrs

from pconf.schema._field import knob
from pconf.schema.checks import ACCELERATOR, DEPLOY_ENV, DEPLOY_NAME, EXTRA_ARGS


@attrs.frozen(kw_only=True)
class DeployConfig:
    """How the deployment targets start the plan: every node runs the plan's ``vllm serve`` line for it, wrapped."""

    name: str = knob(
        "vllm",
        graph=False,
        scope="launch",
        check=DEPLOY_NAME,
        doc="The deployment's name: the LeaderWorkerSet's (and its Service's, with \"-leader\"), the Slurm job's, "
        "the SkyPilot task's. Lower-case letters, digits and \"-\", starting with a letter, at most 40 characters "
        "(Kubernetes names pods after it).",
    )
    image: str | None = knob(
        None,
        graph=False,
        scope="launch",
        doc="The container image the LeaderWorkerSet's pods run (and SkyPilot's nodes, as its docker image_id); "
        "unset: vLLM's own image of the file's release, vllm/vllm-openai:v<release> (v0.23.0 for vllm_version "
        "0.23). The Slurm script runs the vllm on the nodes' PATH.",
    )
    model: str | None = knob(
        None,
        graph=False,
        scope="launch",
        doc="The model every vllm serve line serves (its positional argument), e.g. a Hugging Face id or a path; "
        "pconf plan --model overrides it. Unset: the lines say $MODEL, and the deployment targets refuse to "
        "write a manifest without a model.",
    )
    replicas: int = knob(
        1,
        ge=1,
        le=10000,
        graph=False,
        scope="launch",
        doc="Independent copies of the whole deployment: the LeaderWorkerSet's replicas (groups of nodes), a Slurm "
        "job array of that many jobs. SkyPilot runs one task per cluster, so its target takes 1 only.",
    )
    accelerator: str | None = knob(
        None,
        graph=False,
        scope="host",
        check=ACCELERATOR,
        doc="The accelerator SkyPilot asks its clouds for, as SkyPilot names it: \"H100:8\" (type and count per "
        "node) or \"H100\" (the count is cluster.devices_per_node). A count must equal devices_per_node. "
        "Required for --format skypilot with GPUs; the other targets ask for devices_per_node GPUs of any type.",
    )
    env: dict[str, Any] | None = knob(
        None,
        graph=False,
        scope="launch",
        check=DEPLOY_ENV,
        doc="Extra environment of every node's vllm (a table of NAME = \"value\"), e.g. HF_HOME: the pods' env, "
        "the Slurm script's exports, SkyPilot's envs. [cluster.network]'s variables reach the nodes through the "
        "serve lines themselves.",
    )
    extra_args: tuple[str, ...] = knob(
        (),
        graph=False,
        scope="launch",
        check=EXTRA_ARGS,
        doc="Further vllm serve arguments, appended verbatim to every serve line (pconf plan --format vllm too), "
        "e.g. [\"--max-model-len\", \"8192\"]. A flag pconf writes from the file (parallel sizes, the layout, "
        "the addresses, ports, [serve]) is refused: set its key instead.",
    )
