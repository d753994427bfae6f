"""The Ray backend on a real local Ray (CPU only): placement from the plan, rank actors with the rank's
environment and NUMA binding, gloo groups formed inside the actors, ``pconf launch``'s Ray path, and the
errors users hit (no Ray, too few CPUs, a placement group that never becomes ready, an unknown named one).

One Ray instance (4 logical CPUs) serves the whole module and is shut down at its end. The module skips
only when Ray or torch is not installed; CI installs both. The tests that need that Ray are ci_only (starting
it alone takes seconds): the dev profile runs the placement, rule and no-Ray tests, which need none.
"""

from __future__ import annotations

import io
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("torch")

import tomli_w  # noqa: E402
from ray import cloudpickle  # noqa: E402  (Ray's own copy, the one its workers unpickle with)

import pconf  # noqa: E402
from pconf.plan import Plan  # noqa: E402
from pconf.runtime.ray_backend import (  # noqa: E402
    BundleGroup,
    RayPlacementError,
    RayUnavailable,
    import_ray,
    placement_spec,
    ray_launch,
    run_on_ranks,
)
from tests.runtime import ray_probe  # noqa: E402
from tests.runtime.conftest import free_ports, write_config  # noqa: E402

pytestmark = pytest.mark.timeout(240)
#: The mp launch tests form the same groups and run the same worker checks in processes of their own.
NEEDS_RAY = pytest.mark.ci_only("a local Ray takes seconds to start; the mp launch tests run the same rank checks")

# The actors unpickle these functions by value: Ray's workers need not find the tests package.
cloudpickle.register_pickle_by_value(ray_probe)  # type: ignore[no-untyped-call]

CPUS = 4
ALLOWED = sorted(os.sched_getaffinity(0))
FIRST, SECOND = ALLOWED[0], ALLOWED[-1]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A local Ray with 4 logical CPUs for the module, shut down afterwards."""
    ray.init(num_cpus=CPUS, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def ray_plan(tmp_path: Path, parallel: dict[str, Any], cluster: dict[str, Any] | None = None,
             name: str = "c.toml") -> tuple[Path, Plan]:
    """A CPU config on the ray backend (free ports) and its plan."""
    master, dp, rpc = free_ports(3)
    document = {"parallel": {"master_port": master, "data_parallel_master_port": dp, "data_parallel_rpc_port": rpc,
                             "distributed_executor_backend": "ray", **parallel},
                "cluster": {"device": "cpu", "devices_per_node": 4, "ray_installed": True, **(cluster or {})}}
    config = tmp_path / name
    config.write_text(tomli_w.dumps(document))
    return config, pconf.plan_files([str(config)])


class TestPlacementSpec:
    """The bundles and strategies from a plan (no Ray calls)."""

    def test_one_host_one_strict_pack_group(self, tmp_path: Path) -> None:
        _, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2, "data_parallel_size": 2})
        spec = placement_spec(plan)
        assert spec.groups == (BundleGroup((0, 1, 2, 3), ({"CPU": 1.0},) * 4, "STRICT_PACK"),)
        assert (spec.existing, spec.runtime_env, spec.resource, spec.world_size) == (None, None, "CPU", 4)
        assert spec.needed() == {"CPU": 4.0}

    def test_hosts_of_devices_per_node_each_packed(self, tmp_path: Path) -> None:
        _, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2, "pipeline_parallel_size": 3},
                           {"devices_per_node": 2})
        assert [(g.ranks, g.strategy) for g in placement_spec(plan).groups] == [
            ((0, 1), "STRICT_PACK"), ((2, 3), "STRICT_PACK"), ((4, 5), "STRICT_PACK")]

    def test_one_rank_per_host_spreads(self, tmp_path: Path) -> None:
        _, plan = ray_plan(tmp_path, {"pipeline_parallel_size": 3}, {"devices_per_node": 1})
        assert placement_spec(plan).as_dict() == {
            "groups": [{"ranks": [0, 1, 2], "bundles": [{"CPU": 1.0}] * 3, "strategy": "STRICT_SPREAD"}],
            "existing_placement_group": None, "runtime_env": None}

    def test_gpu_bundles_named_group_and_runtime_env(self, tmp_path: Path) -> None:
        config = tmp_path / "g.toml"
        config.write_text('[parallel]\ntensor_parallel_size = 8\nplacement_group = "serving"\n'
                          '[parallel.ray_runtime_env]\nenv_vars = {HF_HOME = "/models"}\n'
                          '[cluster]\ndevice = "cuda"\ndevices_per_node = 8\nray_installed = true\n')
        compiled = pconf.compile_files([str(config)])
        # Ray installed and a placement group named: the backend is ray without saying so, as in vLLM.
        assert compiled.resolved.parallel.distributed_executor_backend == "ray"
        spec = placement_spec(compiled.plan())
        assert spec.groups == (BundleGroup(tuple(range(8)), ({"GPU": 1.0},) * 8, "STRICT_PACK"),)
        assert (spec.existing, spec.runtime_env, spec.needed()) == (
            "serving", {"env_vars": {"HF_HOME": "/models"}}, {"GPU": 8.0})


class TestRayRules:
    """The resolution rules that involve Ray, as vLLM applies them."""

    def test_placement_group_without_ray_stays_mp(self, tmp_path: Path) -> None:
        config = write_config(tmp_path / "c.toml", {"tensor_parallel_size": 2, "placement_group": "pg"})
        assert pconf.compile_files([str(config)]).resolved.parallel.distributed_executor_backend == "mp"

    def test_inside_a_placement_group_selects_ray(self, tmp_path: Path) -> None:
        config = write_config(tmp_path / "c.toml", {"tensor_parallel_size": 2},
                              {"ray_installed": True, "ray_initialized": True, "ray_placement_group": True})
        assert pconf.compile_files([str(config)]).resolved.parallel.distributed_executor_backend == "ray"

    @pytest.mark.parametrize(("parallel", "cluster", "where", "message"), [
        pytest.param({"tensor_parallel_size": 2, "distributed_executor_backend": "ray"}, {},
                     "parallel.distributed_executor_backend", "the ray backend needs Ray installed", id="no-ray"),
        pytest.param({"tensor_parallel_size": 2, "ray_workers_use_nsight": True}, {},
                     "parallel.ray_workers_use_nsight", "nsight profiling needs the ray executor backend",
                     id="nsight-needs-ray"),
    ])
    def test_refused(self, tmp_path: Path, parallel: dict[str, Any], cluster: dict[str, Any], where: str,
                     message: str) -> None:
        config = write_config(tmp_path / "c.toml", parallel, cluster)
        with pytest.raises(pconf.ConfigError) as caught:
            pconf.compile_files([str(config)])
        assert f"{where}: {message}" in str(caught.value)

    @pytest.mark.parametrize(("backend_field", "where", "message"), [
        pytest.param("distributed_executor_backend", "parallel.nnodes",
                     "nnodes > 1 needs the mp, uni or external_launcher backend, not ray", id="executor"),
        pytest.param("data_parallel_backend", "parallel.data_parallel_backend",
                     'nnodes > 1 needs data_parallel_backend = "mp"', id="dp-backend"),
    ])
    def test_nnodes_with_ray_refused(self, tmp_path: Path, backend_field: str, where: str, message: str) -> None:
        config = write_config(tmp_path / "c.toml", {"tensor_parallel_size": 2, "nnodes": 2, backend_field: "ray"},
                              {"ray_installed": True, "devices_per_node": 1})
        with pytest.raises(pconf.ConfigError) as caught:
            pconf.compile_files([str(config)])
        assert f"{where}: {message}" in str(caught.value)


@NEEDS_RAY
@pytest.mark.usefixtures("local_ray")
class TestRankActors:
    """Rank actors on the module's local Ray."""

    def test_gloo_groups_formed_in_the_actors(self, tmp_path: Path) -> None:
        """Four actors form the plan's groups; each sees exactly the spec's members and their all-reduce sum."""
        # GIVEN a TP2 x DP2 MoE plan with EP on the ray backend
        config, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2, "data_parallel_size": 2,
                                           "enable_expert_parallel": True, "is_moe_model": True})
        # WHEN every rank actor forms the groups (rank 0's actor hosts the store)
        reports = run_on_ranks(plan, ray_probe.probe_groups, [str(config)], timeout=60)
        # THEN the groups are the layout of spec §11.3, each in its own process
        expected = {"tp": [[0, 1], [2, 3]], "pp": [[0], [1], [2], [3]], "dp": [[0, 2], [1, 3]],
                    "ep": [[0, 1, 2, 3]], "dcp": [[0], [1], [2], [3]], "pcp": [[0], [1], [2], [3]]}
        assert [r["rank"] for r in reports] == [0, 1, 2, 3]
        assert len({r["pid"] for r in reports} | {os.getpid()}) == 5
        for report in reports:
            rank = report["rank"]
            assert report["backend"] == "gloo"
            for kind, layout in expected.items():
                mine = next(g for g in layout if rank in g)
                assert report["members"][kind] == mine, (rank, kind)
                assert report["sums"][kind] == sum(mine), (rank, kind)

    def test_each_actor_has_its_ranks_environment(self, tmp_path: Path) -> None:
        """The plan's variables for each rank, plus ray_runtime_env's env_vars, are set in its actor."""
        _, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2, "data_parallel_size": 2,
                                      "ray_runtime_env": {"env_vars": {"PCONF_TEST_FROM_RUNTIME_ENV": "yes"}}})
        names = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT", "PCONF_TEST_FROM_RUNTIME_ENV"]
        reports = run_on_ranks(plan, ray_probe.environment, names)
        for rank, report in enumerate(reports):
            plan_env = plan.env(rank)
            assert report["env"] == {"RANK": str(rank), "LOCAL_RANK": plan_env["LOCAL_RANK"],
                                     "WORLD_SIZE": "4", "MASTER_PORT": plan_env["MASTER_PORT"],
                                     "PCONF_TEST_FROM_RUNTIME_ENV": "yes"}

    def test_numa_binding_applied_in_the_actors(self, tmp_path: Path) -> None:
        """With the DP engines on Ray and vLLM's mp workers (which vLLM binds), numa_bind_cpus pins each rank
        actor to its CPU, read back from the actor process's affinity."""
        _, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2, "numa_bind": True, "numa_bind_nodes": [0, 0],
                                      "numa_bind_cpus": [str(FIRST), str(SECOND)], "distributed_executor_backend": "mp",
                                      "data_parallel_backend": "ray"}, {"devices_per_node": 2})
        reports = run_on_ranks(plan, ray_probe.environment, ["PCONF_CPUS"])
        assert [r["cpus"] for r in reports] == [[FIRST], [SECOND]]
        assert [r["env"]["PCONF_CPUS"] for r in reports] == [str(FIRST), str(SECOND)]

    def test_ray_workers_are_not_bound(self, tmp_path: Path) -> None:
        """vLLM binds no worker of its ray executor (they are Ray actors): the plan binds none either, and the
        actors keep the affinity Ray gave them."""
        _, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2, "numa_bind": True, "numa_bind_nodes": [0, 0],
                                      "numa_bind_cpus": [str(FIRST), str(SECOND)]}, {"devices_per_node": 2})
        reports = run_on_ranks(plan, ray_probe.environment, ["PCONF_NUMA_BIND"])
        assert [r["env"]["PCONF_NUMA_BIND"] for r in reports] == ["none", "none"]
        assert reports[0]["cpus"] == reports[1]["cpus"]
        assert len(reports[0]["cpus"]) > 1

    def test_existing_named_placement_group(self, tmp_path: Path) -> None:
        """A placement group named in the config is used (bundle i for rank i) and left in place afterwards."""
        from ray.util.placement_group import placement_group, remove_placement_group

        pg = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="PACK", name="pconf-test-pg")
        ray.get(pg.ready(), timeout=60)
        try:
            config = write_config(tmp_path / "c.toml", {"tensor_parallel_size": 2, "placement_group": "pconf-test-pg"},
                                  {"ray_installed": True, "devices_per_node": 2})
            plan = pconf.plan_files([str(config)])
            assert plan.resolved.parallel.distributed_executor_backend == "ray"
            reports = run_on_ranks(plan, ray_probe.placement)
            assert [r["placement_group"] for r in reports] == [pg.id.hex(), pg.id.hex()]
            # still there: the actors are gone, the user's group is not
            assert ray.util.placement_group_table(pg)["state"] == "CREATED"
        finally:
            remove_placement_group(pg)

    def test_own_placement_groups_removed_afterwards(self, tmp_path: Path) -> None:
        _, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2})
        before = {k for k, v in ray.util.placement_group_table().items() if v["state"] != "REMOVED"}
        run_on_ranks(plan, ray_probe.environment, [])
        after = {k for k, v in ray.util.placement_group_table().items() if v["state"] != "REMOVED"}
        assert after == before


class TestRayErrors:
    @NEEDS_RAY
    @pytest.mark.usefixtures("local_ray")
    def test_too_few_cpus(self, tmp_path: Path) -> None:
        _, plan = ray_plan(tmp_path, {"tensor_parallel_size": 8}, {"devices_per_node": 8})
        with pytest.raises(RayPlacementError) as caught:
            run_on_ranks(plan, ray_probe.environment, [])
        assert str(caught.value) == ("the plan needs 8 CPU (one per rank), the Ray cluster has 4; add nodes or "
                                     "lower the parallel sizes")

    @NEEDS_RAY
    @pytest.mark.usefixtures("local_ray")
    def test_placement_group_never_ready(self, tmp_path: Path) -> None:
        """One rank per host on a one-node Ray: STRICT_SPREAD cannot be placed; the wait ends and says so."""
        _, plan = ray_plan(tmp_path, {"pipeline_parallel_size": 2, "is_moe_model": False}, {"devices_per_node": 1})
        before = {k for k, v in ray.util.placement_group_table().items() if v["state"] != "REMOVED"}
        with pytest.raises(RayPlacementError) as caught:
            run_on_ranks(plan, ray_probe.environment, [], timeout=2)
        assert str(caught.value) == (
            "the placement groups (1 x STRICT_SPREAD, 2 CPU bundles) were not ready within 2 s; check `ray status` "
            "for free resources (and, with one rank per host, the number of nodes)")
        after = {k for k, v in ray.util.placement_group_table().items() if v["state"] != "REMOVED"}
        assert after == before

    @NEEDS_RAY
    @pytest.mark.usefixtures("local_ray")
    def test_unknown_named_placement_group(self, tmp_path: Path) -> None:
        config = write_config(tmp_path / "c.toml", {"tensor_parallel_size": 2, "placement_group": "nope"},
                              {"ray_installed": True, "devices_per_node": 2})
        with pytest.raises(RayPlacementError) as caught:
            run_on_ranks(pconf.plan_files([str(config)]), ray_probe.environment, [])
        assert str(caught.value).startswith("no Ray placement group named 'nope' in namespace ")
        assert str(caught.value).endswith("create it first (ray.util.placement_group(..., name=...)) or remove "
                                          "parallel.placement_group")

    @NEEDS_RAY
    @pytest.mark.usefixtures("local_ray")
    def test_named_placement_group_too_small(self, tmp_path: Path) -> None:
        from ray.util.placement_group import placement_group, remove_placement_group

        pg = placement_group([{"CPU": 1}], name="pconf-test-small")
        ray.get(pg.ready(), timeout=60)
        try:
            config = write_config(tmp_path / "c.toml", {"tensor_parallel_size": 2,
                                                        "placement_group": "pconf-test-small"},
                                  {"ray_installed": True, "devices_per_node": 2})
            with pytest.raises(RayPlacementError) as caught:
                run_on_ranks(pconf.plan_files([str(config)]), ray_probe.environment, [])
            assert str(caught.value) == ("placement group 'pconf-test-small' has 1 bundles, the plan needs 2 "
                                         "(one per rank)")
        finally:
            remove_placement_group(pg)

    def test_ray_not_installed(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """Without Ray the import says which extra to install, and pconf launch exits 2 with that line."""
        monkeypatch.setitem(sys.modules, "ray", None)
        with pytest.raises(RayUnavailable, match=r"^the ray backend needs Ray: pip install 'pconf-vllm\[ray\]'$"):
            import_ray()
        _, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2})
        out = io.StringIO()
        assert ray_launch(plan, [], [], 10, quiet=False, out=out) == 2
        assert out.getvalue() == "pconf launch: the ray backend needs Ray: pip install 'pconf-vllm[ray]'\n"


@NEEDS_RAY
@pytest.mark.usefixtures("local_ray")
class TestRayLaunch:
    def test_launch_on_an_initialised_ray(self, tmp_path: Path) -> None:
        """ray_launch runs the worker checks in every actor, reports, and leaves the caller's Ray running."""
        config, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2, "data_parallel_size": 2,
                                           "enable_expert_parallel": True, "is_moe_model": True})
        out = io.StringIO()
        assert ray_launch(plan, [str(config)], [], 90, quiet=False, out=out) == 0, out.getvalue()
        lines = out.getvalue().splitlines()
        assert lines[0] == "pconf launch: placed 4 rank actors (STRICT_PACK x 4 CPU)"
        assert any(line.startswith("pconf launch: all 4 ranks passed on Ray in ") for line in lines)
        for kind in ("tp", "pp", "dp", "ep", "dcp", "pcp"):
            assert any(line.startswith(f"pconf launch: {kind:<4} formed in ") for line in lines), kind
        assert ray.is_initialized()

    def test_a_failing_rank_is_reported(self, tmp_path: Path) -> None:
        """Ranks whose actors cannot compile the files fail with the config-error code; the first is reported."""
        _, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2})
        out = io.StringIO()
        code = ray_launch(plan, [str(tmp_path / "missing.toml")], [], 30, quiet=True, out=out)
        assert code == 2
        first, *rest = out.getvalue().splitlines()
        assert re.fullmatch(r"pconf launch: rank [01] \(Ray actor\) failed with code 2: config error:", first)
        assert f"{tmp_path / 'missing.toml'}" in rest[0]

    def test_command_runs_in_every_actor(self, tmp_path: Path) -> None:
        """`pconf launch FILE -- CMD` on Ray: each rank's command runs with its environment; output is prefixed."""
        config, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2})
        out = io.StringIO()
        argv = [sys.executable, "-c", "import os; print('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'])"]
        assert ray_launch(plan, [str(config)], [], 60, quiet=True, out=out, command=argv) == 0, out.getvalue()
        assert sorted(out.getvalue().splitlines()) == ["[rank 0] rank 0 of 2", "[rank 1] rank 1 of 2"]

    def test_command_forms_groups_through_the_driver_store(self, tmp_path: Path) -> None:
        """The probe program from the mp tests, run as each actor's command against the store ray_launch hosts."""
        from tests.runtime.conftest import PROBE, probe_reports

        config, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2, "data_parallel_size": 2,
                                           "enable_expert_parallel": True, "is_moe_model": True})
        out = io.StringIO()
        assert ray_launch(plan, [str(config)], [], 90, quiet=True, out=out,
                          command=[sys.executable, str(PROBE), str(config)]) == 0, out.getvalue()
        reports = probe_reports(out.getvalue())
        assert {rank: report["members"]["tp"] for rank, report in reports.items()} == {
            0: [0, 1], 1: [0, 1], 2: [2, 3], 3: [2, 3]}
        assert {rank: report["sums"]["dp"] for rank, report in reports.items()} == {0: 2, 1: 4, 2: 2, 3: 4}

    def test_failing_command(self, tmp_path: Path) -> None:
        """The first rank to fail sets the exit code; its output comes first."""
        config, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2})
        out = io.StringIO()
        argv = ["sh", "-c", 'if [ "$RANK" = 1 ]; then echo bad >&2; exit 7; fi; sleep 20']
        started = time.monotonic()
        assert ray_launch(plan, [str(config)], [], 60, quiet=True, out=out, command=argv) == 7
        assert time.monotonic() - started < 15  # rank 0's sleep was cut short
        assert out.getvalue() == ("[rank 1] bad\n"
                                  "pconf launch: rank 1 (Ray actor) failed with code 7; stopped the other ranks\n")

    def test_command_outlives_the_timeout(self, tmp_path: Path) -> None:
        """--timeout bounds the placement and pconf's checks, not a command (a server runs as long as it runs)."""
        config, plan = ray_plan(tmp_path, {"tensor_parallel_size": 2})
        out = io.StringIO()
        started = time.monotonic()
        assert ray_launch(plan, [str(config)], [], 2, quiet=True, out=out, command=["sleep", "4"]) == 0
        assert time.monotonic() - started >= 4
        assert out.getvalue() == ""
