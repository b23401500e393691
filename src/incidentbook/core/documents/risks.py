"""A pre-mortem's risk register: ``### Risk N: title`` headings under "Failure modes".

Each risk may carry bullet fields (``- Likelihood: medium``, ``- Impact: high``,
``- Services: payments, ledger``, ``- Tags: ...``, ``- Detection: ...``, ``- Response: ...``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from incidentbook.core.documents.actions import sections
from incidentbook.text import as_str_list

RISK_RE = re.compile(r"^risk\s+(?P<number>\d+)\s*[:.\-–—]\s*(?P<title>.+)$", re.IGNORECASE)
FIELD_RE = re.compile(r"^\s*[-*+]\s+\**(?P<name>[A-Za-z /-]+?)\**\s*:\s*\**\s*(?P<value>.*)$")


@dataclass
class Risk:
    number: int
    title: str
    likelihood: str = ""
    impact: str = ""
    services: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    detection: str = ""
    response: str = ""
    text: str = ""
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Risk:
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**known)


def parse_risks(body: str, offset: int = 1) -> list[Risk]:
    risks: list[Risk] = []
    for section in sections(body, offset):
        match = RISK_RE.match(section.title.strip())
        if not match:
            continue
        risk = Risk(int(match.group("number")), match.group("title").strip(), line=section.line)
        prose: list[str] = []
        for _number, line in section.body:
            field_match = FIELD_RE.match(line)
            if field_match:
                name = field_match.group("name").strip().lower()
                value = field_match.group("value").strip().strip("*").strip()
                if name == "likelihood":
                    risk.likelihood = value
                elif name == "impact":
                    risk.impact = value
                elif name in ("service", "services"):
                    risk.services = as_str_list(value)
                elif name in ("tag", "tags"):
                    risk.tags = as_str_list(value)
                elif name == "detection":
                    risk.detection = value
                elif name == "response":
                    risk.response = value
                else:
                    prose.append(value)
            elif line.strip() and not line.strip().startswith("<!--"):
                prose.append(line.strip())
        risk.text = " ".join(prose)
        risks.append(risk)
    return risks
