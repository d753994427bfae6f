"""ServeConfig: the ``[serve]`` table, vLLM's OpenAI-compatible API server (``vllm serve``'s own flags)."""

import attrs

from pconf.schema._field import knob
from pconf.schema.checks import ADDRESS

#: The highest TCP port.
MAX_PORT = 65535


@attrs.frozen(kw_only=True)
class ServeConfig:
    """Where the API server listens and how many API server processes a serving node runs."""

    host: str | None = knob(
        None,
        graph=False,
        scope="launch",
        check=ADDRESS,
        doc="The address the API server binds (vllm serve --host), e.g. \"0.0.0.0\" or \"::\"; unset: vLLM's "
        "default, every interface.",
    )
    port: int = knob(
        8000,
        ge=1,
        le=MAX_PORT,
        graph=False,
        scope="launch",
        doc="The API server's TCP port (vllm serve --port). It shares a host with the run's other ports on "
        "node 0 (master_port, the DP master ports, data_parallel_rpc_port), so it must differ from them. With "
        "external DP load balancing, a node's second server listens on port + 1, and so on.",
    )
    api_server_count: int | None = knob(
        None,
        ge=1,
        le=1024,
        graph=False,
        scope="launch",
        doc="API server processes of a serving node (vllm serve --api-server-count); unset: vLLM's default, "
        "data_parallel_size with internal DP load balancing, data_parallel_size_local with hybrid, 1 with "
        "external. Headless nodes run none.",
    )
