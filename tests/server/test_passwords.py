"""Coder's password rules on every path that sets a password (review finding 14)."""
from __future__ import annotations

import pytest

from appliance import passwords
from appliance.sdk import types
from appliance.sdk.client import APIError

from tests.kit.coderd import FIRST_USER_PASSWORD, create_another_user, create_first_user

ADVICE_ALL = ("insecure password, try including more special characters, using uppercase "
              "letters, using numbers or using a longer password")


@pytest.mark.parametrize("password,bits", [
    ("password", 37.60), ("a", 4.70), ("MyP@ssw0rd!", 66.73),
    ("aaaaaaaa", 9.40),  # repeats past the second count for nothing
    ("qwertyuiop", 9.40), ("9876543210", 6.64),  # so do keyboard and number runs, either way
    ("Reset123!", 48.53),
])
def test_entropy_is_go_password_validators(password, bits):
    assert passwords.entropy(password) == pytest.approx(bits, abs=0.01)


def test_refusals_say_what_coder_says():
    assert passwords.problem("password") == ADVICE_ALL
    assert passwords.problem("Reset123!") == (
        "insecure password, try including more special characters or using a longer password")
    assert passwords.problem("Aa1!-#" * 11) == "password must be no more than 64 characters"
    assert passwords.problem("é" * 33) != ""  # 66 bytes: Coder counts bytes, not characters
    assert passwords.problem(FIRST_USER_PASSWORD) == ""


def _refused(call, message: str) -> None:
    with pytest.raises(APIError) as exc:
        call()
    assert exc.value.status == 400
    assert exc.value.message == message
    assert [(v.field, v.detail) for v in exc.value.validations] == [("password", ADVICE_ALL)]


def test_a_weak_password_is_refused_on_every_path(coderd):
    client = coderd.client()
    _refused(lambda: client.create_first_user(types.CreateFirstUserRequest(
        email="admin@example.com", username="admin", password="a")), "Password not strong enough!")
    assert not client.has_first_user()

    owner, _ = create_first_user(coderd)
    user_admin, _ = create_another_user(owner, ["user-admin"])
    _refused(lambda: user_admin.create_user(types.CreateUserRequest(
        email="weak@example.com", username="weak", password="a")), "Password not strong enough!")
    assert owner.users(q="weak").count == 0

    member, user = create_another_user(owner)
    _refused(lambda: member.update_user_password(
        "me", "password", old_password="AnotherSecurePassword!"), "Invalid password.")
    _refused(lambda: owner.update_user_password(user.id, "password"), "Invalid password.")
    member.user("me")  # the refused change ended no session
