"""Command-line tools around the Pulumi program: offline preview, chat client, smoke test."""
