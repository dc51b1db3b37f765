"""What a store check found: one :class:`Finding` per problem, gathered in a :class:`Report`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem with one object (``key`` is its full key in the store)."""

    severity: Severity
    key: str
    problem: str


@dataclass
class Report:
    """Every finding of one check, and how many objects of each kind were checked."""

    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    def error(self, key: str, problem: str) -> None:
        self.findings.append(Finding("error", key, problem))

    def warning(self, key: str, problem: str) -> None:
        self.findings.append(Finding("warning", key, problem))

    def count(self, kind: str, n: int = 1) -> None:
        self.checked[kind] = self.checked.get(kind, 0) + n

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors (warnings, such as orphaned objects, lose nothing)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "checked": dict(sorted(self.checked.items())),
            "findings": [asdict(f) for f in self.findings],
        }
