"""Reading a class list: a CSV of `email,display_name` rows, checked whole before anything is
made from it, so that a bad row is reported with its line number and nothing is created."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

MAX_ROWS = 200
"""Each account costs an argon2 hash (tens of milliseconds): a class, not a whole school."""
EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+")
HEADER = ["email", "display_name"]


def valid_email(value: str) -> bool:
    return len(value) <= 320 and EMAIL.fullmatch(value) is not None


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str


@dataclass(frozen=True)
class Roster:
    accounts: list[tuple[str, str]]
    """(email, display name) in the file's order."""
    lines: dict[str, int]
    """Each email's line, for reporting emails that already have an account."""


class RosterError(Exception):
    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems
        shown = "; ".join(f"line {p.line}: {p.message}" for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"nothing was imported: {shown}{more}")


def read_roster(data: bytes) -> Roster:
    """The rows of a class list; RosterError naming every bad line. A first line reading
    `email,display_name` is a header; blank lines are skipped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterError([RowProblem(1, "the file must be UTF-8 text")]) from None
    problems: list[RowProblem] = []
    accounts: list[tuple[str, str]] = []
    lines: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            line = reader.line_num
            cells = [c.strip() for c in row]
            if not any(cells) or (not accounts and [c.lower() for c in cells] == HEADER):
                continue
            if len(cells) != 2:
                problems.append(RowProblem(line, "expected two columns: email,display_name"))
                continue
            email, name = cells
            if not valid_email(email):
                problems.append(RowProblem(line, f"{email!r} is not an email address"))
            elif email.lower() in lines:
                problems.append(
                    RowProblem(line, f"{email} is already on line {lines[email.lower()]}")
                )
            if not name or len(name) > 120:
                problems.append(RowProblem(line, "the display name must be 1 to 120 characters"))
            lines.setdefault(email.lower(), line)
            accounts.append((email, name))
    except csv.Error as exc:
        problems.append(RowProblem(reader.line_num, f"not valid CSV: {exc}"))
    if not accounts and not problems:
        problems.append(RowProblem(1, "the file has no rows"))
    if len(accounts) > MAX_ROWS:
        problems.append(RowProblem(reader.line_num, f"at most {MAX_ROWS} rows at a time"))
    if problems:
        raise RosterError(problems)
    return Roster(accounts, lines)
