"""Roles (app/access.py): which rule gives which role, and the check every firm-level read makes."""

from __future__ import annotations

import pytest

from app.access import (
    ANALYST,
    OPEN,
    VIEWER,
    AccessDenied,
    RolesConfigError,
    Rule,
    can_see_firms,
    parse_rules,
    require_firm_rows,
    role_for,
)
from app.filters import EnterpriseFilters
from app.queries import register

pytest_plugins = ["dashboard_fixtures"]

RULES = parse_rules({"analyst": ["group:analysts", "wang.li@example.gov.cn"],
                     "viewer": ["@example.gov.cn"]})


@pytest.mark.parametrize(("email", "groups", "role"), [
    ("wang.li@example.gov.cn", [], ANALYST),       # an exact address
    ("Wang.Li@Example.GOV.cn", None, ANALYST),     # addresses compare without case
    ("zhao@example.gov.cn", [], VIEWER),           # the whole domain
    ("zhao@example.gov.cn", ["analysts"], ANALYST),  # the highest matching role wins
    ("ext@partner.org", ["analysts"], ANALYST),    # a group alone is enough
    ("ext@partner.org", "analysts", ANALYST),      # a provider sending one group as a string
    ("ext@partner.org", ["Analysts"], None),       # groups compare exactly
    ("ext@partner.org", [], None),                 # no rule: no access
    ("zhao@sub.example.gov.cn", [], None),         # a subdomain is another domain
    ("example.gov.cn@evil.org", [], None),         # the domain is what follows the last @
    (None, [], None),                              # no e-mail claim at all
])
def test_the_highest_matching_role_wins_and_nothing_matches_by_default(
        email: str | None, groups: list[str] | str | None, role: str | None) -> None:
    assert role_for(email, groups, RULES) == role


def test_rules_are_parsed_by_kind() -> None:
    assert RULES == {"analyst": (Rule("group", "analysts"), Rule("email", "wang.li@example.gov.cn")),
                     "viewer": (Rule("domain", "example.gov.cn"),)}
    assert parse_rules(None) == {}


@pytest.mark.parametrize(("table", "message"), [
    ({"admin": ["@example.gov.cn"]},
     "[aidash.roles] has an unknown role 'admin'; the roles are viewer, analyst"),
    ({"viewer": "@example.gov.cn"},
     "[aidash.roles] viewer must be a list of rules, like viewer = [\"@example.gov.cn\"]"),
    ({"viewer": ["example.gov.cn"]},
     ("[aidash.roles] viewer: 'example.gov.cn' is not a rule; write an e-mail "
     "(\"wang.li@example.gov.cn\"), a domain (\"@example.gov.cn\") or a group "
     "(\"group:analysts\")")),
    ({"analyst": ["group:"]},
     ("[aidash.roles] analyst: 'group:' is not a rule; write an e-mail "
     "(\"wang.li@example.gov.cn\"), a domain (\"@example.gov.cn\") or a group "
     "(\"group:analysts\")")),
    ({"analyst": [3]},
     ("[aidash.roles] analyst: 3 is not a rule; write an e-mail "
     "(\"wang.li@example.gov.cn\"), a domain (\"@example.gov.cn\") or a group "
     "(\"group:analysts\")")),
])
def test_a_malformed_roles_table_says_what_to_write(table: dict, message: str) -> None:
    with pytest.raises(RolesConfigError) as caught:
        parse_rules(table)
    assert str(caught.value) == message


def test_only_analysts_and_open_mode_see_firms() -> None:
    assert [can_see_firms(r) for r in (VIEWER, ANALYST, OPEN, "none")] == [False, True, True,
                                                                           False]
    require_firm_rows(ANALYST, "the register")  # no exception
    with pytest.raises(AccessDenied) as caught:
        require_firm_rows(VIEWER, "the register")
    assert str(caught.value) == ("the register is firm-level data; the viewer role sees "
                                 "aggregates only (it needs the analyst role)")


@pytest.mark.parametrize("call", [
    lambda db, role: register.enterprise_page(db, EnterpriseFilters(), role=role),
    lambda db, role: register.enterprise_total(db, EnterpriseFilters(search="有限公司"), role=role),
    lambda db, role: register.enterprise_count(db, EnterpriseFilters(), role=role),
    lambda db, role: register.enterprise_search_codes(db, EnterpriseFilters(search="有限"),
                                                      role=role),
], ids=["page", "total", "count", "search"])
def test_the_register_refuses_a_viewer_whatever_page_asks(ro_engine, call) -> None:  # type: ignore[no-untyped-def]
    """Enforced where the data is read: the function itself refuses, not only the page."""
    found = call(ro_engine, ANALYST)
    size = found if isinstance(found, int) else getattr(found, "total", None)
    assert (size if size is not None else len(found)) > 0
    with pytest.raises(AccessDenied) as caught:
        call(ro_engine, VIEWER)
    assert str(caught.value).startswith("the register is firm-level data; the viewer role")


def test_the_example_secrets_file_is_complete_and_its_rules_parse() -> None:
    import tomllib

    from tests.conftest import ROOT

    example = tomllib.loads((ROOT / ".streamlit" / "secrets.toml.example").read_text("utf-8"))
    assert {"redirect_uri", "cookie_secret", "client_id", "client_secret",
            "server_metadata_url"} <= set(example["auth"])
    rules = parse_rules(example["aidash"]["roles"])
    assert role_for("wang.li@example.gov.cn", [], rules) == ANALYST
    assert role_for("someone@example.gov.cn", [], rules) == VIEWER
    assert ".streamlit/secrets.toml" in (ROOT / ".gitignore").read_text("utf-8").splitlines()
