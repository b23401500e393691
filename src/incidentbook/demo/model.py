"""What every demo step shares: its options and the report it adds lines to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from incidentbook.services import Services


@dataclass(frozen=True)
class DemoOptions:
    accounts: int = 20_000
    days: int = 30
    seed: int = 7


@dataclass
class DemoReport:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


DemoStep = Callable[[Services, DemoOptions, DemoReport], None]
