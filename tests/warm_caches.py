"""Make every synthesis the suite reads, in one process, before the test workers start (``make test``).

Each worker that found a synthesis missing would start a jsii runtime of its own and wait on the others'
locks; here one runtime makes them all, beside the linters. The workers then read them from the caches
(:mod:`tests.infra.synth_cache`, :func:`sandbox.deploy.synthesized_template`).
"""

from __future__ import annotations

from sandbox.core import deployed_context
from sandbox.deploy import synthesized_template
from tests.infra import syntheses


def main() -> None:
    synthesized_template(deployed_context())
    for name in syntheses.NAMES:
        syntheses.synthesis(name)


if __name__ == "__main__":
    main()
