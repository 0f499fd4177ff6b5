import factory
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Customer, Membership, Role, User

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.dk")
    full_name = factory.Faker("name", locale="da_DK")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Kunde {n}")
    address = "Vestergade 1"
    postal_code = "1456"
    city = "København K"
    phone = "+45 33 12 34 56"
    email = factory.Sequence(lambda n: f"kunde{n}@example.dk")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    customer = factory.SubFactory(CustomerFactory)
    role = Role.OWNER


def add_totp(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="test", confirmed=True)


def totp_code(device: TOTPDevice) -> str:
    """A code the device accepts now: the current step's, or the next one's when the current
    step's code was already used (a TOTP code is accepted only once)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    step = max(totp.t(), device.last_t + 1)
    totp.time = device.t0 + step * device.step
    return f"{totp.token():0{device.digits}d}"


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "hosting.Plan"

    name = factory.Sequence(lambda n: f"Plan {n}")
    disk_quota_mb = 10_000
    max_databases = 2
    max_mailboxes = 3
    price_dkk = "49.00"


class ServerFactory(factory.django.DjangoModelFactory):
    """A sandbox server on the local transport; tests that need SSH point it at the sshd fixture."""

    class Meta:
        model = "hosting.Server"

    name = factory.Sequence(lambda n: f"web{n}")
    address = "127.0.0.1"
    transport = "local"
    profile = "sandbox"
    root = factory.Sequence(lambda n: f"/tmp/havn-sandbox-{n}")


class WebhotelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "hosting.Webhotel"

    customer = factory.SubFactory(CustomerFactory)
    server = factory.SubFactory(ServerFactory)
    plan = factory.SubFactory(PlanFactory)
    primary_domain = factory.Sequence(lambda n: f"site{n}.dk")
    system_user = factory.Sequence(lambda n: f"wh{n:05d}")
    status = "active"
