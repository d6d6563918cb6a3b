"""What the loopback fakes share."""

from __future__ import annotations

# How often a fake server's loop looks whether it should stop (serve_forever's poll_interval, an
# accept timeout). Stopping waits for the next look, and the suite stops several hundred servers:
# at 50 ms a look, about 12 s of waiting in all. A look costs microseconds.
SERVE_POLL_SECONDS = 0.005
