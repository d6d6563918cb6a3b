"""Small apps that call a deployed stack; `tests/examples/` runs each against the loopback fake."""
