"""The CrossGuard policy pack that `pulumi preview` and `pulumi up` run in CI.

    pulumi preview --stack dev --policy-pack policy

The rules live in ``rules.py`` (plain functions, unit-tested in tests/test_policy.py); this file
only assembles them, because constructing ``PolicyPack`` starts the analyzer's gRPC server and
blocks until the engine is done with it. The engine runs this directory with ``runpy``, which puts
it on ``sys.path``: hence the top-level ``import rules``.
"""

import rules
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=rules.PACK_NAME,
    policies=rules.policies(),
    # Rules are mandatory unless they say otherwise (public network access is advisory).
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Guardrails for vLLM on Azure ML: auth, secrets, TLS, pinned images, serving limits, tags.",
)
