"""Who may see what: roles, the rules that give them, and the check every firm-level read makes.

Two roles, lowest first:

- ``viewer``: aggregates only (city, district, zone, segment). No firm name, credit code or
  per-firm figure anywhere, no Enterprises page, no firm-level export.
- ``analyst``: everything, the register explorer and its exports included.

Without sign-in configured the dashboard serves one person on their own machine (``open``),
with an analyst's rights.

The rules come from ``[aidash.roles]`` in ``.streamlit/secrets.toml``::

    [aidash.roles]
    analyst = ["group:analysts", "wang.li@example.gov.cn"]
    viewer = ["@example.gov.cn"]

A rule is an exact e-mail, ``@domain`` for everyone of a domain, or ``group:NAME`` for a value
of the ID token's ``groups`` claim. The highest role with a matching rule wins; no match, no
access (deny by default). E-mails and domains compare case-insensitively, groups exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

VIEWER = "viewer"
ANALYST = "analyst"
OPEN = "open"
# Lowest first: a later role wins over an earlier one.
ROLES = (VIEWER, ANALYST)
# The roles that may read firm-level rows.
FIRM_ROLES = frozenset({ANALYST, OPEN})


class AccessDenied(PermissionError):
    """A firm-level read asked for by a role that sees aggregates only."""


class RolesConfigError(ValueError):
    """``[aidash.roles]`` in the secrets file cannot be read; the message says how to fix it."""


def can_see_firms(role: str) -> bool:
    """True if ``role`` may see firm names, credit codes and per-firm figures."""
    return role in FIRM_ROLES


def require_firm_rows(role: str, what: str) -> None:
    """Raise :class:`AccessDenied` unless ``role`` may read firm-level rows.

    Every function that returns firm rows calls this first, so a page that forgets to hide
    itself still cannot show them.
    """
    if not can_see_firms(role):
        raise AccessDenied(f"{what} is firm-level data; the {role} role sees aggregates only "
                           f"(it needs the {ANALYST} role)")


@dataclass(frozen=True)
class Rule:
    """One line of a role's list: ``kind`` is ``email``, ``domain`` or ``group``."""

    kind: str
    value: str

    @classmethod
    def parse(cls, role: str, text: object) -> Rule:
        if not isinstance(text, str) or not text.strip():
            raise RolesConfigError(
                f"[aidash.roles] {role}: {text!r} is not a rule; write an e-mail "
                "(\"wang.li@example.gov.cn\"), a domain (\"@example.gov.cn\") or a group "
                "(\"group:analysts\")")
        rule = text.strip()
        if rule.startswith("group:") and rule[6:].strip():
            return cls("group", rule[6:].strip())
        if rule.startswith("@") and "@" not in rule[1:] and "." in rule[1:]:
            return cls("domain", rule[1:].lower())
        local, at, domain = rule.partition("@")
        if local and at and "." in domain and "@" not in domain:
            return cls("email", rule.lower())
        raise RolesConfigError(
            f"[aidash.roles] {role}: {rule!r} is not a rule; write an e-mail "
            "(\"wang.li@example.gov.cn\"), a domain (\"@example.gov.cn\") or a group "
            "(\"group:analysts\")")

    def matches(self, email: str, groups: Iterable[str]) -> bool:
        if self.kind == "group":
            return self.value in groups
        if self.kind == "domain":
            return email.rpartition("@")[2] == self.value
        return email == self.value


RoleRules = dict[str, tuple[Rule, ...]]


def parse_rules(table: Mapping[str, object] | None) -> RoleRules:
    """The rules of ``[aidash.roles]``: each known role with its parsed rules (a role may be
    left out). An unknown role name or a malformed rule is a :class:`RolesConfigError`."""
    rules: RoleRules = {}
    for role, items in (table or {}).items():
        if role not in ROLES:
            raise RolesConfigError(f"[aidash.roles] has an unknown role {role!r}; the roles are "
                                   f"{', '.join(ROLES)}")
        if isinstance(items, str) or not isinstance(items, Iterable):
            raise RolesConfigError(f"[aidash.roles] {role} must be a list of rules, like "
                                   f"{role} = [\"@example.gov.cn\"]")
        rules[role] = tuple(Rule.parse(role, item) for item in items)
    return rules


def role_for(email: str | None, groups: Iterable[str] | None, rules: RoleRules) -> str | None:
    """The highest role whose rules match this person, or None (no access)."""
    address = (email or "").strip().lower()
    if isinstance(groups, str):  # some providers send a single group as a string
        groups = [groups]
    claimed = {str(g) for g in (groups or ()) if g is not None}
    for role in reversed(ROLES):
        if any(rule.matches(address, claimed) for rule in rules.get(role, ())):
            return role
    return None
