"""Signed staff tokens and the organisation-scope rule."""

import pytest

from gridlink.runtime.auth import Principal, TokenError, bearer_token, issue_token, verify_token

SECRET = "s3cret"
NOW = 1_800_000_000


def test_a_token_carries_user_role_and_unit():
    token = issue_token(SECRET, "S0001", "grid_worker", "150302001001001", 3600, now=NOW)
    assert verify_token(SECRET, token, now=NOW + 10) == Principal("S0001", "grid_worker", "150302001001001", NOW + 3600)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: t + "x", "signature"),
        (lambda t: "e30." + t.split(".")[1], "signature"),
        (lambda t: t.replace(".", ""), "claims.signature"),
    ],
)
def test_forged_or_malformed_tokens_are_refused(mangle, message):
    token = issue_token(SECRET, "S0001", "grid_worker", "150302001001001", now=NOW)
    with pytest.raises(TokenError, match=message):
        verify_token(SECRET, mangle(token), now=NOW)


def test_expired_tokens_and_other_secrets_are_refused():
    token = issue_token(SECRET, "S0001", "grid_worker", "150302001001001", 60, now=NOW)
    with pytest.raises(TokenError, match="expired"):
        verify_token(SECRET, token, now=NOW + 61)
    with pytest.raises(TokenError, match="signature"):
        verify_token("other", token, now=NOW)


def test_units_nest_by_code_prefix():
    sub_centre = Principal("U1", "sub_centre_operator", "150302001", NOW)
    assert sub_centre.covers("150302001001001") and sub_centre.covers("150302001")
    assert not sub_centre.covers("150302002001001") and not sub_centre.covers(None)
    grid = Principal("S1", "grid_worker", "150302001001001", NOW)
    assert not grid.covers("150302001001002")
    assert Principal("A", "admin", "", NOW).covers("anything")


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer "])
def test_the_authorization_header_must_be_a_bearer_token(header):
    with pytest.raises(TokenError):
        bearer_token(header)


def test_unknown_roles_are_not_issued():
    with pytest.raises(ValueError, match="unknown role"):
        issue_token(SECRET, "x", "mayor", "150302")
