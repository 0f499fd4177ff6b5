"""Login: password, second factor, lockout, sessions, password reset."""

import re
import threading

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken

from accounts import lockout, services
from accounts.actor import Actor
from accounts.models import AuditEvent, LoginFailures
from tests.conftest import login
from tests.factories import PASSWORD, add_totp, totp_code

pytestmark = pytest.mark.django_db


def post_login(client, email, password=PASSWORD):
    return client.post("/login/", {"email": email, "password": password})


def test_login_writes_audit_events_for_success_and_failure(client, owner_a):
    assert post_login(client, owner_a.email, "nope").status_code == 200
    failed = AuditEvent.objects.get(action="login.failed")
    assert failed.target == owner_a.email and failed.ip == "127.0.0.1"
    assert post_login(client, owner_a.email.upper()).status_code == 302
    assert AuditEvent.objects.filter(action="login.succeeded", actor=owner_a).exists()


def test_wrong_password_message_is_translated(client, owner_a):
    response = post_login(client, owner_a.email, "nope")
    assert "E-mailadressen eller adgangskoden er forkert" in response.content.decode()
    client.cookies["django_language"] = "en"
    response = post_login(client, owner_a.email, "nope")
    assert "The e-mail address or the password is wrong." in response.content.decode()


def test_login_gives_a_new_session_key(client, owner_a):
    client.get("/login/")
    client.session.save()
    before = client.session.session_key
    post_login(client, owner_a.email)
    assert client.session.session_key != before
    assert client.session["_auth_user_id"] == str(owner_a.pk)


def test_second_factor_is_asked_and_a_totp_code_works_only_once(client, owner_a):
    device = add_totp(owner_a)
    response = post_login(client, owner_a.email)
    assert response["Location"] == "/login/2fa/"
    assert "_auth_user_id" not in client.session  # not logged in before the second factor
    code = totp_code(device)
    assert client.post("/login/2fa/", {"token": code}).status_code == 302
    assert client.get("/profile/").status_code == 200

    other = Client()
    post_login(other, owner_a.email)
    response = other.post("/login/2fa/", {"token": code})
    assert response.status_code == 200
    assert "_auth_user_id" not in other.session
    assert AuditEvent.objects.filter(action="login.2fa_failed", target=owner_a.email).exists()


def test_a_recovery_code_works_once(owner_a):
    device = services.start_totp_enrollment(Actor(owner_a))
    codes = services.confirm_totp(Actor(owner_a), device, totp_code(device))
    assert services.verify_second_factor(owner_a, codes[0]).name == "Recovery codes"
    assert services.verify_second_factor(owner_a, codes[1]).name == "Recovery codes"
    assert services.verify_second_factor(owner_a, codes[0]) is None


def test_enrolment_confirms_with_a_code_and_returns_ten_recovery_codes(owner_a, time_machine):
    time_machine.move_to(timezone.now(), tick=True)
    actor = Actor(owner_a)
    device = services.start_totp_enrollment(actor)
    assert not services.has_second_factor(owner_a)
    with pytest.raises(ValidationError):
        services.confirm_totp(actor, device, "000000")
    time_machine.shift(2)  # django-otp throttles verification for a second after a failure
    codes = services.confirm_totp(actor, device, totp_code(device))
    assert len(set(codes)) == 10
    assert StaticToken.objects.filter(device__user=owner_a).count() == 10
    assert services.has_second_factor(owner_a)


def test_staff_cannot_reach_pages_before_the_second_factor(staff_support):
    client = Client()
    response = post_login(client, staff_support.email)
    assert response["Location"] == "/profile/2fa/"
    assert client.get("/staff/customers/")["Location"] == "/profile/2fa/"
    assert client.get("/api/v1/customers").status_code == 403


def test_staff_cannot_turn_off_2fa(logged_in, staff_support):
    client = logged_in(staff_support)
    client.post("/profile/2fa/disable/")
    assert services.has_second_factor(staff_support)
    assert AuditEvent.objects.filter(action="authz.denied", target="2fa.disable").exists()


def test_customer_can_turn_off_2fa(logged_in, owner_a):
    add_totp(owner_a)
    client = logged_in(owner_a)
    client.post("/profile/2fa/disable/")
    assert not services.has_second_factor(owner_a)


def test_lockout_after_the_limit_with_a_clear_message(client, owner_a):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        post_login(client, owner_a.email, "wrong")
    response = post_login(client, owner_a.email)  # the right password, too late
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    client.cookies["django_language"] = "en"
    response = post_login(client, owner_a.email)
    assert "Too many failed logins" in response.content.decode()
    assert AuditEvent.objects.filter(action="login.locked").count() == 2


def test_lockout_ends_after_the_lockout_period(client, owner_a, time_machine):
    time_machine.move_to(timezone.now(), tick=True)
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        post_login(client, owner_a.email, "wrong")
    assert lockout.locked_until(owner_a.email)
    time_machine.shift(settings.LOGIN_LOCKOUT.total_seconds() + 1)
    assert lockout.locked_until(owner_a.email) is None
    assert post_login(client, owner_a.email).status_code == 302
    assert not LoginFailures.objects.filter(email=owner_a.email).exists()


@pytest.mark.django_db(transaction=True)
def test_failure_counter_holds_under_concurrent_attempts():
    email, attempts = "target@example.dk", 24
    barrier = threading.Barrier(8)

    def attack(n):
        try:
            barrier.wait()
            for _ in range(n):
                lockout.register_failure(email)
        finally:
            connection.close()

    threads = [threading.Thread(target=attack, args=(attempts // 8,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    row = LoginFailures.objects.get(email=email)
    assert row.failures == attempts
    assert row.locked_until is not None


def test_disabling_a_user_ends_all_their_sessions(logged_in, owner_a, staff_admin):
    first, second = logged_in(owner_a), logged_in(owner_a)
    assert first.get("/profile/").status_code == 200
    keys = {first.session.session_key, second.session.session_key}
    services.set_user_active(Actor(staff_admin), owner_a, False)
    assert not Session.objects.filter(session_key__in=keys).exists()
    assert first.get("/profile/").status_code == 302
    assert second.get("/profile/").status_code == 302
    event = AuditEvent.objects.get(action="user.disabled")
    assert event.details["sessions_ended"] == 2


def test_only_staff_admins_disable_users(owner_a, owner_b):
    with pytest.raises(PermissionDenied):
        services.set_user_active(Actor(owner_b), owner_a, False)
    owner_a.refresh_from_db()
    assert owner_a.is_active
    assert AuditEvent.objects.filter(action="authz.denied", actor=owner_b).exists()


def test_password_reset_by_email(client, owner_a):
    response = client.post("/password-reset/", {"email": owner_a.email})
    assert response.status_code == 200
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    response = client.post(
        link, {"new_password1": "ny-kode-2026!x", "new_password2": "ny-kode-2026!x"}
    )
    assert response.status_code == 302
    owner_a.refresh_from_db()
    assert owner_a.check_password("ny-kode-2026!x")
    # The link is single-use: the token depends on the password hash.
    assert client.get(link).context["invalid"] is True


def test_password_reset_for_an_unknown_address_says_the_same(client):
    response = client.post("/password-reset/", {"email": "nobody@example.dk"})
    assert response.status_code == 200
    assert mail.outbox == []


def test_a_weak_password_is_refused_with_a_message(client, owner_a):
    client.post("/password-reset/", {"email": owner_a.email})
    link = re.search(r"http://testserver(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    response = client.post(link, {"new_password1": "12345678", "new_password2": "12345678"})
    assert response.status_code == 200
    owner_a.refresh_from_db()
    assert owner_a.check_password(PASSWORD)


def test_login_redirects_only_to_safe_next(client, owner_a):
    response = client.post(
        "/login/?next=https://evil.example/", {"email": owner_a.email, "password": PASSWORD}
    )
    assert response["Location"] == "/"


def test_staff_with_a_verified_second_factor_reach_the_staff_area(staff_admin):
    add_totp(staff_admin)
    client = login(Client(), staff_admin)
    assert client.get("/staff/customers/").status_code == 200


def test_login_switches_the_panel_to_the_users_language(client, owner_a):
    owner_a.language = "en"
    owner_a.save()
    post_login(client, owner_a.email)
    assert client.cookies["django_language"].value == "en"
    assert '<html lang="en">' in client.get("/profile/").content.decode()
