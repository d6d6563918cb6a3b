"""Where the program runs: a real `pulumi up`, a real `pulumi preview`, or the offline mocks.

Code that calls Azure itself (the registry token, the endpoint keys, the preflight checks) needs to
know: a preview must not need rights a read-only preview identity lacks, and the offline mocks
(tools/offline.py) must never reach Azure at all.

The only signal is the engine the program talks to. Pulumi's mocks replace the resource monitor
with a ``MockMonitor`` (pulumi.runtime.mocks.set_mocks), and nothing else does. An environment
variable would be a second signal that can lie: left set in a real shell, it would make a real
`pulumi up` push with the offline placeholder password and a real preview call listKeys.
"""

from __future__ import annotations

import pulumi

from lib.pulumi_api import is_mock_monitor


def under_mocks() -> bool:
    """Whether the engine is Pulumi's mock monitor (tests and the offline preview)."""
    return is_mock_monitor()


def deploying_for_real() -> bool:
    """Whether this run deploys: not a preview, and not the offline mocks."""
    return not pulumi.runtime.is_dry_run() and not under_mocks()


def previewing_for_real() -> bool:
    """Whether this is a `pulumi preview` (or the preview phase of `pulumi up`) against Azure."""
    return pulumi.runtime.is_dry_run() and not under_mocks()
