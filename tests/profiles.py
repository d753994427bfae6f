"""The two test profiles, chosen with the environment variable ``PCONF_TEST_PROFILE``.

- ``dev`` (the default): quick. Every hypothesis suite runs a tenth of its examples; the runtime tests marked
  ``ci_only`` (slow multi-process runs whose code paths a cheaper runtime test also takes, each saying which)
  are deselected; and ``pconf launch`` and the rank programs the runtime tests write start from a fork server
  with torch imported (``tests/runtime/zygote.py``) instead of as fresh interpreters.
- ``ci`` (``.ci/run``): thorough, as the suite was before the profiles. Every hypothesis suite runs its full
  count -- hypothesis's 100 where a test names none, the count a test passes to ``examples()`` where it does --
  every test runs, and every process is a fresh interpreter.

``tests/conftest.py`` registers both hypothesis profiles and loads the chosen one before any test module is
imported, so ``examples()`` sees it when the decorators run.
"""

from __future__ import annotations

import os

from hypothesis import settings

ENV = "PCONF_TEST_PROFILE"
PROFILES = ("dev", "ci")
#: max_examples of the ci profile: hypothesis's own default, which every undecorated suite ran before profiles.
CI_EXAMPLES = 100
#: dev runs this fraction of every suite's ci count.
DEV_EXAMPLES = 10


def chosen() -> str:
    """The profile named by PCONF_TEST_PROFILE (dev when unset); anything else is an error, not a silent dev."""
    name = os.environ.get(ENV, "") or "dev"
    if name not in PROFILES:
        raise ValueError(f"{ENV}={name!r}: the test profiles are {', '.join(PROFILES)}")
    return name


def register() -> None:
    """Register both hypothesis profiles and load the chosen one."""
    settings.register_profile("ci", max_examples=CI_EXAMPLES, print_blob=True)
    settings.register_profile("dev", max_examples=DEV_EXAMPLES)
    settings.load_profile(chosen())


def examples(ci_count: int) -> int:
    """A suite's example count under the active hypothesis profile: ``ci_count`` in ci, scaled down with the
    profile's max_examples elsewhere (dev: a tenth), never below 1.

    It reads the loaded hypothesis profile, so ``pytest --hypothesis-profile=ci`` scales these counts too."""
    max_examples: int = settings().max_examples
    return max(1, ci_count * max_examples // CI_EXAMPLES)
