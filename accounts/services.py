"""Every business operation on accounts, one function each.

A service takes the acting ``Actor``, checks permission (auditing a denial), runs in one
transaction, writes its audit event and fires side effects on commit. Views, the API, tasks and
commands call these; none of them writes account models itself.
"""

import hashlib
import ipaddress
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth import login as django_login
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from accounts import audit, lockout
from accounts.actor import Actor
from accounts.models import ApiKey, Customer, Membership, Role, User, UserSession
from accounts.permissions import require, role_of

CUSTOMER_FIELDS = (
    "kind",
    "name",
    "cvr",
    "address",
    "postal_code",
    "city",
    "country",
    "billing_address",
    "phone",
    "email",
    "language",
)
PROFILE_FIELDS = ("full_name", "language")


class LoginRefused(Exception):
    """A login that cannot go on; the message is safe to show to the person logging in."""


# --- Login ----------------------------------------------------------------------------------------


def check_password_login(actor: Actor, email: str, password: str) -> User:
    """First login step: the e-mail and password, behind the brute-force lockout.

    Returns the user; the caller then asks for the second factor when the user has one, and ends
    with ``complete_login``.
    """
    email = email.strip().lower()
    until = lockout.locked_until(email)
    if until:
        audit.record(actor, "login.locked", target=email, actor_label=email)
        raise LoginRefused(
            _(
                "Too many failed logins. This account is locked until %(time)s; try again then or "
                "reset your password."
            )
            % {"time": timezone.localtime(until).strftime("%H:%M")}
        )
    user = authenticate(username=email, password=password)
    if user is None:
        failures = lockout.register_failure(email)
        audit.record(actor, "login.failed", target=email, actor_label=email, failures=failures)
        raise LoginRefused(_("The e-mail address or the password is wrong."))
    return user


def complete_login(request, user: User, *, second_factor=None) -> None:
    """Log the user in (a new session key) and remember the session so it can be ended later."""
    lockout.reset(user.email)
    django_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if second_factor is not None:
        from django_otp import login as otp_login

        otp_login(request, second_factor)
    request.session.save()
    UserSession.objects.get_or_create(user=user, session_key=request.session.session_key)
    audit.record(
        Actor.from_request(request),
        "login.succeeded",
        target=user.email,
        second_factor=second_factor.__class__.__name__ if second_factor else None,
    )


def record_second_factor_failure(actor: Actor, user: User) -> None:
    failures = lockout.register_failure(user.email)
    audit.record(
        actor, "login.2fa_failed", target=user.email, actor_label=user.email, failures=failures
    )


def end_sessions(user: User) -> int:
    """End every session of the user; returns how many there were."""
    engine = import_string(settings.SESSION_ENGINE + ".SessionStore")
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    for key in keys:
        engine(session_key=key).delete()
    UserSession.objects.filter(user=user).delete()
    return len(keys)


def set_user_active(actor: Actor, user: User, active: bool) -> None:
    """Staff admins enable or disable a user; disabling ends all the user's sessions at once."""
    require(actor, "users.manage")
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        ended = 0 if active else end_sessions(user)
        audit.record(
            actor,
            "user.enabled" if active else "user.disabled",
            target=user.email,
            sessions_ended=ended,
        )


def request_password_reset(actor: Actor, email: str, *, domain: str, use_https: bool) -> None:
    """Send a reset link when the address belongs to an active user; say nothing either way."""
    form = PasswordResetForm({"email": email})
    if form.is_valid():
        form.save(
            domain_override=domain,
            use_https=use_https,
            email_template_name="accounts/email/password_reset.txt",
            subject_template_name="accounts/email/password_reset_subject.txt",
        )
    audit.record(
        actor,
        "password.reset_requested",
        target=email.strip().lower(),
        actor_label=email.strip().lower(),
    )


def set_password(actor: Actor, user: User, password: str) -> None:
    """Set a new password (after a reset link or from the profile); other sessions end."""
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        end_sessions(user)
        lockout.reset(user.email)
        audit.record(actor, "password.changed", target=user.email)


# --- Two-factor authentication --------------------------------------------------------------------


def start_totp_enrollment(actor: Actor):
    """An unconfirmed TOTP device for the actor; replaces an earlier unconfirmed one."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = actor.user
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)


def confirm_totp(actor: Actor, device, token: str) -> list[str]:
    """Confirm a TOTP device with a first code; returns ten fresh recovery codes (shown once)."""
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    if device.user_id != actor.user.pk or device.confirmed:
        raise PermissionDenied
    if not device.verify_token(token.strip()):
        raise ValidationError({"token": _("The code is wrong or expired. Try the next one.")})
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        StaticDevice.objects.filter(user=actor.user).delete()
        static = StaticDevice.objects.create(user=actor.user, name="Recovery codes")
        codes = [StaticToken.random_token() for _ in range(10)]
        StaticToken.objects.bulk_create(StaticToken(device=static, token=c) for c in codes)
        audit.record(actor, "2fa.enabled", target=actor.user.email)
    return codes


def has_second_factor(user: User) -> bool:
    from django_otp import user_has_device

    return user_has_device(user, confirmed=True)


def verify_second_factor(user: User, token: str):
    """The device that accepts this TOTP or recovery code, or None. A code works only once."""
    from django_otp import match_token

    token = token.strip().replace(" ", "")
    if not token or len(token) > 16:
        return None
    return match_token(user, token)


def disable_totp(actor: Actor) -> None:
    """Customers may turn 2FA off again; staff may not (it is mandatory for them)."""
    from django_otp import devices_for_user

    user = actor.user
    if user.is_staff:
        audit.record(actor, "authz.denied", target="2fa.disable")
        raise PermissionDenied(_("Two-factor authentication is mandatory for staff."))
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=None):
            device.delete()
        audit.record(actor, "2fa.disabled", target=user.email)


# --- Profile and customers ------------------------------------------------------------------------


def _apply(instance, data: dict, allowed: tuple[str, ...]) -> dict:
    """Set the allowed fields that changed, validate, and return {field: [old, new]}."""
    changes = {}
    for field, value in data.items():
        if field not in allowed:
            raise ValidationError({field: _("This field cannot be changed here.")})
        old = getattr(instance, field)
        if old != value:
            changes[field] = [old, value]
            setattr(instance, field, value)
    instance.full_clean()
    return changes


def update_profile(actor: Actor, **data) -> User:
    """A user rectifies their own name or language."""
    user = actor.user
    with transaction.atomic():
        changes = _apply(user, data, PROFILE_FIELDS)
        if changes:
            user.save(update_fields=list(changes))
            audit.record(actor, "profile.updated", target=user.email, fields=sorted(changes))
    return user


def create_customer(actor: Actor, *, owner_email: str = "", **data) -> Customer:
    """Staff admins create a customer, optionally with its first owner (invited by e-mail)."""
    require(actor, "customer.create")
    with transaction.atomic():
        customer = Customer(**{f: v for f, v in data.items() if f in CUSTOMER_FIELDS})
        unknown = set(data) - set(CUSTOMER_FIELDS)
        if unknown:
            raise ValidationError({f: _("Unknown field.") for f in unknown})
        customer.full_clean()
        customer.save()
        audit.record(actor, "customer.created", customer=customer, target=customer.name)
        if owner_email:
            _add_member(actor, customer, owner_email, Role.OWNER)
    return customer


def update_customer(actor: Actor, customer: Customer, **data) -> Customer:
    require(actor, "customer.edit", customer)
    with transaction.atomic():
        changes = _apply(customer, data, CUSTOMER_FIELDS)
        if changes:
            customer.save()
            audit.record(
                actor,
                "customer.updated",
                customer=customer,
                target=customer.name,
                fields=sorted(changes),
            )
    return customer


# --- Members --------------------------------------------------------------------------------------


def _add_member(actor: Actor, customer: Customer, email: str, role: str) -> Membership:
    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    invited = user is None
    if invited:
        user = User(email=email, language=customer.language)
        user.full_clean(exclude=["password"])
        user.set_unusable_password()
        user.save()
    if Membership.objects.filter(user=user, customer=customer).exists():
        raise ValidationError({"email": _("%(email)s is already a member.") % {"email": email}})
    membership = Membership.objects.create(user=user, customer=customer, role=role)
    audit.record(actor, "member.added", customer=customer, target=email, role=role, invited=invited)
    if invited:
        from accounts.tasks import send_invitation

        transaction.on_commit(lambda: send_invitation.delay(user.pk))
    return membership


def send_invitation(user_id: int) -> None:
    """E-mail an invited user a link to choose a password (the password-reset mechanism)."""
    user = User.objects.get(pk=user_id)
    context = {
        "user": user,
        "panel_url": settings.HAVN_PANEL_URL,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
    }
    with translation.override(user.language):
        subject = render_to_string("accounts/email/invitation_subject.txt", context).strip()
        body = render_to_string("accounts/email/invitation.txt", context)
    send_mail(subject, body, None, [user.email])


def ensure_customer_active(customer: Customer) -> None:
    """Refuse anything new (resources, members, keys, paid orders) for a customer that is not
    active: suspended, or closing in its grace period."""
    if customer.status != Customer.Status.ACTIVE:
        raise ValidationError(
            _("The customer account is %(status)s: no new resources can be created.")
            % {"status": customer.get_status_display().lower()}
        )


def add_member(actor: Actor, customer: Customer, email: str, role: str) -> Membership:
    require(actor, "members.manage", customer)
    ensure_customer_active(customer)
    staff_user = User.objects.filter(email__iexact=email.strip(), staff_role__gt="").exists()
    if staff_user and role_of(actor.user, customer) is None:
        # A member reads the customer's content without a grant: staff become members only when
        # the customer's own owners or administrators add them, never through staff powers.
        audit.record(actor, "authz.denied", customer=customer, target="members.add_staff")
        raise PermissionDenied(
            _("Staff are added to a customer only by its own owners or administrators.")
        )
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    with transaction.atomic():
        return _add_member(actor, customer, email, role)


def _owners_left(customer: Customer, without: Membership) -> int:
    return customer.memberships.filter(role=Role.OWNER).exclude(pk=without.pk).count()


def change_member_role(actor: Actor, membership: Membership, role: str) -> Membership:
    require(actor, "members.manage", membership.customer)
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if (
            membership.role == Role.OWNER
            and role != Role.OWNER
            and not _owners_left(membership.customer, membership)
        ):
            raise ValidationError({"role": _("A customer must keep at least one owner.")})
        old, membership.role = membership.role, role
        membership.save(update_fields=["role"])
        audit.record(
            actor,
            "member.role_changed",
            customer=membership.customer,
            target=membership.user.email,
            old=old,
            new=role,
        )
    return membership


def remove_member(actor: Actor, membership: Membership) -> None:
    require(actor, "members.manage", membership.customer)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == Role.OWNER and not _owners_left(membership.customer, membership):
            raise ValidationError(_("A customer must keep at least one owner."))
        membership.delete()
        ApiKey.objects.filter(
            customer=membership.customer, created_by=membership.user, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        audit.record(
            actor, "member.removed", customer=membership.customer, target=membership.user.email
        )


# --- API keys -------------------------------------------------------------------------------------


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# How long a rotated key keeps working beside its successor.
ROTATION_GRACE = timedelta(hours=24)


def _clean_scopes(scopes) -> list[str]:
    scopes = sorted(set(scopes or []))
    unknown = [s for s in scopes if s not in ApiKey.Scope.values]
    if unknown:
        raise ValidationError({"scopes": _("Unknown scopes: %s.") % ", ".join(unknown)})
    return scopes


def _clean_networks(networks) -> list[str]:
    """CIDRs (a bare address is one host), normalised; a clear error names a bad entry."""
    cleaned = []
    for entry in networks or []:
        try:
            cleaned.append(str(ipaddress.ip_network(str(entry).strip(), strict=False)))
        except ValueError:
            raise ValidationError(
                {"allowed_ips": _("%s is not an IP address or network.") % entry}
            ) from None
    return sorted(set(cleaned))


def _new_key(actor: Actor, customer: Customer, **fields) -> tuple[ApiKey, str]:
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = ApiKey(
        customer=customer,
        created_by=actor.user,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        **fields,
    )
    key.full_clean()
    key.save()
    return key, f"havn_{prefix}_{secret}"


def _require_key_manager(actor: Actor, customer: Customer | None, key: ApiKey | None = None):
    """A customer's keys are managed by its owners, admins and technical members; a staff key
    only by the staff member who made it."""
    if customer is not None:
        require(actor, "apikeys.manage", customer)
        return
    require(actor, "apikeys.staff")
    if key is not None and key.created_by_id != actor.user.pk:
        audit.record(actor, "authz.denied", target="apikeys.staff")
        raise PermissionDenied(_("A staff key is managed only by the staff member who made it."))


def _staff_key_expiry(expires_at: datetime | None) -> datetime:
    """A staff key always expires, at most HAVN_STAFF_KEY_MAX_DAYS from now (the default)."""
    latest = timezone.now() + timedelta(days=settings.HAVN_STAFF_KEY_MAX_DAYS)
    if expires_at is None:
        return latest
    if expires_at > latest:
        raise ValidationError(
            {
                "expires_at": _("A staff key must expire within %(days)d days.")
                % {"days": settings.HAVN_STAFF_KEY_MAX_DAYS}
            }
        )
    return expires_at


def create_api_key(
    actor: Actor,
    customer: Customer | None,
    *,
    name: str,
    access: str = ApiKey.Access.READ,
    expires_at: datetime | None = None,
    scopes: list[str] | None = None,
    allowed_ips: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with its token, which is shown once and never stored.

    ``scopes`` (ApiKey.Scope values) narrows the key to those resource families, ``allowed_ips``
    (CIDRs) to those client addresses; empty means no such limit. Without ``customer`` it is the
    acting staff member's own staff key, which always expires (`_staff_key_expiry`).
    """
    _require_key_manager(actor, customer)
    if customer is not None:
        ensure_customer_active(customer)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("The expiry must be in the future.")})
    if customer is None:
        expires_at = _staff_key_expiry(expires_at)
    scopes, allowed_ips = _clean_scopes(scopes), _clean_networks(allowed_ips)
    with transaction.atomic():
        key, token = _new_key(
            actor,
            customer,
            name=name,
            access=access,
            expires_at=expires_at,
            scopes=scopes,
            allowed_ips=allowed_ips,
        )
        audit.record(
            actor,
            "apikey.created",
            customer=customer,
            target=key.prefix,
            name=name,
            access=access,
            scopes=scopes,
            allowed_ips=allowed_ips,
        )
    return key, token


def rotate_api_key(
    actor: Actor, key: ApiKey, *, grace: timedelta = ROTATION_GRACE
) -> tuple[ApiKey, str]:
    """A successor with the same settings; the old key keeps working for ``grace``, then expires.

    Returns the successor and its token (shown once). A key is rotated once: rotate the successor
    next time.
    """
    _require_key_manager(actor, key.customer, key)
    now = timezone.now()
    with transaction.atomic():
        old = ApiKey.objects.select_for_update().get(pk=key.pk)
        if not old.is_usable(now):
            raise ValidationError(_("Only a usable key can be rotated."))
        if ApiKey.objects.filter(rotated_from=old).exists():
            raise ValidationError(_("This key has already been rotated."))
        successor, token = _new_key(
            actor,
            old.customer,
            name=old.name,
            access=old.access,
            expires_at=old.expires_at,
            scopes=old.scopes,
            allowed_ips=old.allowed_ips,
            rotated_from=old,
        )
        old.expires_at = min(filter(None, [old.expires_at, now + grace]))
        old.save(update_fields=["expires_at"])
        audit.record(
            actor,
            "apikey.rotated",
            customer=old.customer,
            target=old.prefix,
            successor=successor.prefix,
            old_expires_at=old.expires_at.isoformat(),
        )
    return successor, token


def revoke_api_key(actor: Actor, key: ApiKey) -> None:
    _require_key_manager(actor, key.customer, key)
    with transaction.atomic():
        if ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        ):
            audit.record(actor, "apikey.revoked", customer=key.customer, target=key.prefix)


def authenticate_api_key(token: str) -> ApiKey | None:
    """The usable key for a ``havn_<prefix>_<secret>`` token, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "havn":
        return None
    # One query: the key, its customer and creator, and whether the creator is still a member.
    member = Membership.objects.filter(user=OuterRef("created_by"), customer=OuterRef("customer"))
    key = (
        ApiKey.objects.select_related("customer", "created_by")
        .annotate(creator_is_member=Exists(member))
        .filter(prefix=parts[1])
        .first()
    )
    if key is None or not secrets.compare_digest(key.secret_hash, hash_secret(parts[2])):
        return None
    if not key.is_usable() or not key.created_by.is_active:
        return None
    if key.is_staff_key:
        if not key.created_by.staff_role:  # no longer staff: the key stops with the role
            return None
    elif not key.creator_is_member:
        return None
    now = timezone.now()
    # Record the last use at most once a minute, so that busy keys don't write every request.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
