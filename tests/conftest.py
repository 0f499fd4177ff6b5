import importlib
import uuid

import pytest
from django.test import Client
from django.utils import timezone, translation

from accounts.models import Role, TariffVersion
from hosting import provisioning
from hosting.models import Operation, Server
from tests.factories import (
    PASSWORD,
    CustomerFactory,
    MembershipFactory,
    UserFactory,
    add_totp,
    totp_code,
)

FIRST_TARIFF = importlib.import_module("accounts.migrations.0003_first_tariff").FIRST_TARIFF

pytest_plugins = [
    "tests.fixtures.sshd",
    "tests.fixtures.s3",
    "tests.fixtures.browser",
    "tests.fixtures.worker",
    "tests.fixtures.backups",
]


@pytest.fixture
def customer_a(db):
    return CustomerFactory(name="Alfa ApS", kind="company", cvr="10150817")


@pytest.fixture
def customer_b(db):
    return CustomerFactory(name="Beta")


@pytest.fixture
def owner_a(customer_a):
    return MembershipFactory(customer=customer_a, role=Role.OWNER).user


@pytest.fixture
def owner_b(customer_b):
    return MembershipFactory(customer=customer_b, role=Role.OWNER).user


@pytest.fixture
def staff_admin(db):
    return UserFactory(staff_role="admin")


@pytest.fixture
def staff_support(db):
    return UserFactory(staff_role="support")


def login(client: Client, user, *, second_factor: bool | None = None) -> Client:
    """Log in through the real login pages (password, then a TOTP code when the user has 2FA)."""
    response = client.post("/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    if response["Location"].endswith("/login/2fa/"):
        device = user.totpdevice_set.get(confirmed=True)
        response = client.post("/login/2fa/", {"token": totp_code(device)})
        assert response.status_code == 302
    return client


@pytest.fixture
def logged_in():
    """A client logged in as the given user; staff get a TOTP device and pass it."""

    def make(user) -> Client:
        if user.is_staff and not user.totpdevice_set.exists():
            add_totp(user)
        return login(Client(), user)

    return make


@pytest.fixture(autouse=True)
def _english_outside_requests():
    """Service calls in tests speak English, so assertions can match messages; requests still
    negotiate their language (Danish by default) through LocaleMiddleware."""
    with translation.override("en"):
        yield


@pytest.fixture
def tariff(db):
    """The first restore tariff, as the data migration made it (a transactional test's flush may
    have removed the migrated row; then it is made again)."""
    return TariffVersion.objects.filter(valid_from=FIRST_TARIFF["valid_from"]).first() or (
        TariffVersion.objects.create(**FIRST_TARIFF)
    )


@pytest.fixture
def sandbox_server(db, sshd, settings):
    """A hosting server on the sshd fixture with the sandbox profile under its own folder."""
    settings.HAVN_SSH_KEY_FILE = str(sshd.client_key_path)
    root = sshd.root / f"server-{uuid.uuid4().hex[:8]}"
    return Server.objects.create(
        name=f"sandbox-{root.name}",
        address=sshd.host,
        ssh_port=sshd.port,
        ssh_user=sshd.user,
        host_key=sshd.host_key_line,
        host_key_confirmed_at=timezone.now(),
        transport=Server.Transport.SSH,
        profile=Server.Profile.SANDBOX,
        root=str(root),
    )


def drain() -> list[Operation]:
    """Run every pending operation as the Celery task would, including those that finishing
    others enqueues; returns them as they ended."""
    ran = []
    while pending := list(Operation.objects.filter(status="pending").order_by("pk")):
        for operation in pending:
            provisioning.execute(operation.pk)
            ran.append(Operation.objects.get(pk=operation.pk))
    return ran
