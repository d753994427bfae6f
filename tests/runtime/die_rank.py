"""A rank program for the failure tests: rank DIE kills itself with SIGKILL while the others rendezvous.

    python tests/runtime/die_rank.py CONFIG DIE_RANK
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pconf
import pconf.runtime as rt


def main() -> int:
    config, die = sys.argv[1], int(sys.argv[2])
    rank = int(os.environ["RANK"])
    plan = pconf.plan_files([config])
    if rank == die:
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)
    rt.init(plan, rank, timeout=120)  # the others wait here for the rank that never comes
    return 0


if __name__ == "__main__":
    sys.exit(main())
