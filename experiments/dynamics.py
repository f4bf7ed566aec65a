"""Moved: the survey of deep-training studies is ``python -m experiments.deep_training``.

``python -m experiments.dynamics`` still works: it says where the experiment moved and runs it with the same flags.
"""

from __future__ import annotations

import sys

from experiments import deep_training


def main(argv=None):
    print(
        "experiments.dynamics has moved to experiments.deep_training; running it with the same flags.", file=sys.stderr
    )
    return deep_training.main(argv)


if __name__ == "__main__":
    main()
