"""Demo data for the zero-setup run: one staff admin, two customers and their users."""

import base64
import secrets

from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Customer, Membership, Role, User


def _user(email, full_name, password, **extra) -> User:
    user = User.objects.filter(email=email).first() or User(email=email)
    user.full_name = full_name
    for field, value in extra.items():
        setattr(user, field, value)
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def seed() -> list[str]:
    """Create (or reset) the demo users with fresh random passwords; returns lines to print."""
    passwords = {name: secrets.token_urlsafe(9) for name in ("staff", "owner", "agency")}
    staff = _user(
        "admin@havn.example", "Havn Admin", passwords["staff"], staff_role=User.StaffRole.ADMIN
    )
    TOTPDevice.objects.filter(user=staff).delete()
    totp = TOTPDevice.objects.create(user=staff, name="Demo", confirmed=True)
    StaticDevice.objects.filter(user=staff).delete()
    static = StaticDevice.objects.create(user=staff, name="Recovery codes")
    codes = [StaticToken.random_token() for _ in range(5)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=c) for c in codes)

    bager, _ = Customer.objects.get_or_create(
        name="Bageriet ApS",
        defaults={
            "kind": Customer.Kind.COMPANY,
            "cvr": "10150817",
            "address": "Havnegade 1",
            "postal_code": "5000",
            "city": "Odense",
            "email": "post@bageriet.example",
        },
    )
    hansen, _ = Customer.objects.get_or_create(
        name="Mette Hansen",
        defaults={
            "address": "Strandvejen 12",
            "postal_code": "8000",
            "city": "Aarhus C",
            "email": "mette@hansen.example",
        },
    )
    owner = _user("ejer@bageriet.example", "Bo Bager", passwords["owner"])
    agency = _user("web@bureau.example", "Webbureauet", passwords["agency"], language="en")
    for user, customer, role in [
        (owner, bager, Role.OWNER),
        (agency, bager, Role.TECHNICAL),
        (agency, hansen, Role.OWNER),
    ]:
        Membership.objects.update_or_create(user=user, customer=customer, defaults={"role": role})
    return [
        "Demo logins (passwords are new at every start):",
        f"  staff admin   admin@havn.example     {passwords['staff']}",
        f"                TOTP key {base64.b32encode(totp.bin_key).decode()} "
        f"(add it to an authenticator app) or a recovery code: {' '.join(codes)}",
        f"  owner         ejer@bageriet.example  {passwords['owner']}",
        f"  agency user   web@bureau.example     {passwords['agency']}  (two customers)",
    ]
