"""The one error type the client tools report: what failed, what it means, what to do."""

from __future__ import annotations


class EndpointError(Exception):
    """A failed call, explained for someone operating the endpoint on AzureML."""

    def __init__(
        self,
        summary: str,
        meaning: str = "",
        advice: list[str] | None = None,
        status: int | None = None,
        detail: str = "",
        request_id: str = "",
    ):
        self.summary = summary
        self.meaning = meaning
        self.advice = advice or []
        self.status = status
        self.detail = detail
        self.request_id = request_id
        super().__init__(summary)

    def __str__(self) -> str:
        lines = [self.summary]
        if self.meaning:
            lines.append(f"  What it means on AzureML: {self.meaning}")
        if self.advice:
            lines.append("  What to do:")
            lines += [f"    - {item}" for item in self.advice]
        if self.detail:
            lines.append(f"  Server said: {self.detail}")
        if self.request_id:
            lines.append(
                f"  Request id: {self.request_id} (x-request-id; quote it to Azure support)"
            )
        return "\n".join(lines)
