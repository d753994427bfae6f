"""Cross-field rules: every check vLLM makes on these fields, each with an id, run on a ResolvedConfig.

Sources, in the order vLLM runs them (spec §7.4): ``ParallelConfig.__post_init__``, its model validators and
``_verify_args`` (``parallel``), the binding checks of vLLM's numa_utils (``numa``), then the checks vLLM makes
later on the same fields: ``EngineArgs``, ``VllmConfig`` and ``Executor.get_class`` (``engine``); then the
checks it makes once it knows the model (``model``: ModelConfig, the attention and MoE layers, EPLB); last,
pconf's own checks of the deployment (``deploy``: nodes, devices, ports, addresses, which vLLM's ParallelConfig
does not make). pconf runs all of them and reports every failure at once. Per-field checks (types, bounds,
choices, NUMA lists) live in ``pconf.structure``. Importing a module registers its rules; the import order below
is the rules' order.
"""

# isort: off
from pconf.rules import parallel  # noqa: F401  (importing a module registers its rules: this order)
from pconf.rules import numa  # noqa: F401
from pconf.rules import engine  # noqa: F401
from pconf.rules import model  # noqa: F401  (the checks vLLM makes once it knows the model)
from pconf.rules import deploy  # noqa: F401  (last: pconf's own checks of the deployment)
# isort: on
from pconf.rules.registry import RULES, Rule, check_all, found, rule, rules_by_id

__all__ = ["RULES", "Rule", "check_all", "found", "rule", "rules_by_id"]
