"""What the SDK raises when coderd refuses a request, and the header it authenticates with.

A module of its own, importing nothing heavy, so that ``sdk.rawstream`` (and
``coder ssh --stdio`` on it) can use them without loading requests.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import ValidationError

SESSION_HEADER = "Coder-Session-Token"


class APIError(Exception):
    def __init__(self, status: int, message: str, detail: str = "",
                 validations: list[ValidationError] | None = None, method: str = "",
                 url: str = ""):
        self.status = status
        self.message = message
        self.detail = detail
        self.validations = validations or []
        self.method = method
        self.url = url
        super().__init__(self.describe())

    @classmethod
    def from_response(cls, status: int, body: bytes, method: str, url: str) -> "APIError":
        """The error a response with Coder's ``{message, detail, validations}`` body describes
        (or, if the body is not that, its start as the detail)."""
        import json

        message, detail, validations = f"{method} {url}: {status}", "", []
        try:
            data = json.loads(body)
            message = data.get("message") or message
            detail = data.get("detail") or ""
            if data.get("validations"):
                from .types import ValidationError

                validations = [ValidationError(v.get("field", ""), v.get("detail", ""))
                               for v in data["validations"]]
        except (ValueError, AttributeError):
            detail = body[:200].decode(errors="replace")
        return cls(status, message, detail, validations, method, url)

    def describe(self) -> str:
        text = self.message
        if self.detail:
            text += f" {self.detail}"
        for v in self.validations:
            text += f"\n  {v.field}: {v.detail}"
        return text

    @property
    def hint(self) -> str:
        if self.status == 401:
            return "Try logging in using 'coder login <url>'."
        return ""
