"""Client tools for a deployed stack (chat, smoke, the inference client). They need no Pulumi SDK."""
