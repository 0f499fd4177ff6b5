"""The tenancy harness's registry: how to reach every panel URL and API endpoint with another
customer's objects. Adding a URL or an endpoint without an entry here fails the suite
(tests/test_tenancy.py), so each new one is checked for cross-customer access from day one."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import ApiKey, Customer, Membership, Role
from accounts.services import create_api_key
from tests.factories import CustomerFactory, MembershipFactory

# Strings that exist only in customer B's rows: no response to anyone of customer A may hold one.
FOREIGN_MARKERS = ("FOREIGN-CUSTOMER", "foreign-owner@beta.example", "FOREIGN-KEY")


@dataclass
class World:
    """Customer A with a member of every role and an API key; customer B with its own rows."""

    a: Customer
    b: Customer
    a_members: dict[str, object]  # role -> user
    b_membership: Membership
    b_key: ApiKey
    a_token: str

    @classmethod
    def build(cls) -> "World":
        from accounts.actor import Actor

        a = CustomerFactory(name="Own Customer")
        b = CustomerFactory(name="FOREIGN-CUSTOMER", email="billing@beta.example")
        a_members = {role: MembershipFactory(customer=a, role=role).user for role in Role.values}
        b_membership = MembershipFactory(
            customer=b, role=Role.OWNER, user__email="foreign-owner@beta.example"
        )
        b_key, _ = create_api_key(Actor(b_membership.user), b, name="FOREIGN-KEY")
        _a_key, a_token = create_api_key(
            Actor(a_members[Role.OWNER]), a, name="own key", access=ApiKey.Access.READ_WRITE
        )
        return cls(a, b, a_members, b_membership, b_key, a_token)

    def snapshot_b(self) -> tuple:
        """Customer B's rows, to prove that nothing a foreign caller did changed them."""
        return (
            tuple(Customer.objects.filter(pk=self.b.pk).values_list()),
            tuple(Membership.objects.filter(customer=self.b).values_list()),
            tuple(ApiKey.objects.filter(customer=self.b).values_list()),
        )


# --- The panel ------------------------------------------------------------------------------------

PUBLIC, OWN, CUSTOMER, STAFF = "public", "own", "customer", "staff"


@dataclass(frozen=True)
class PanelEntry:
    """``kind``: public (anyone), own (the logged-in user's own pages), customer (one customer's
    pages; ``kwargs`` gives the URL arguments that point at a customer's objects) or staff."""

    kind: str
    kwargs: Callable[[World, Customer], dict] = field(default=lambda world, customer: {})
    methods: tuple[str, ...] = ("get",)
    post_data: dict = field(default_factory=dict)


def _customer_kwargs(world, customer):
    return {"customer_id": customer.pk}


def _membership_kwargs(world, customer):
    membership = world.b_membership if customer == world.b else customer.memberships.first()
    return {"customer_id": customer.pk, "membership_id": membership.pk}


def _key_kwargs(world, customer):
    key = world.b_key if customer == world.b else customer.api_keys.first()
    return {"customer_id": customer.pk, "key_id": key.pk}


PANEL: dict[str, PanelEntry] = {
    "set_language": PanelEntry(PUBLIC, methods=("post",), post_data={"language": "en"}),
    "accounts:login": PanelEntry(PUBLIC),
    "accounts:login_2fa": PanelEntry(PUBLIC),
    "accounts:logout": PanelEntry(PUBLIC, methods=("post",)),
    "accounts:password_reset": PanelEntry(PUBLIC),
    "accounts:password_reset_confirm": PanelEntry(
        PUBLIC, kwargs=lambda world, customer: {"uidb64": "MQ", "token": "bad-token"}
    ),
    "accounts:dashboard": PanelEntry(OWN),
    "accounts:profile": PanelEntry(OWN),
    "accounts:twofactor": PanelEntry(OWN),
    "accounts:login_2fa_staff": PanelEntry(OWN),
    "accounts:twofactor_disable": PanelEntry(OWN, methods=("post",)),
    "accounts:customer": PanelEntry(
        CUSTOMER, _customer_kwargs, ("get", "post"), {"name": "Taken over"}
    ),
    "accounts:members": PanelEntry(
        CUSTOMER, _customer_kwargs, ("get", "post"), {"email": "x@example.dk", "role": "owner"}
    ),
    "accounts:member_update": PanelEntry(CUSTOMER, _membership_kwargs, ("post",), {"remove": "1"}),
    "accounts:apikeys": PanelEntry(
        CUSTOMER, _customer_kwargs, ("get", "post"), {"name": "stolen", "access": "read"}
    ),
    "accounts:apikey_revoke": PanelEntry(CUSTOMER, _key_kwargs, ("post",)),
    "accounts:audit": PanelEntry(CUSTOMER, _customer_kwargs),
    "accounts:staff_customers": PanelEntry(STAFF),
    "accounts:staff_customer_create": PanelEntry(STAFF, methods=("get", "post")),
    "accounts:staff_audit": PanelEntry(STAFF),
}


def panel_url_names(urlconf=None) -> set[str]:
    """Every named URL of the panel (the API is enumerated from its schema instead)."""
    names: set[str] = set()

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                names.add(name or f"<unnamed {pattern.pattern}>")

    walk(get_resolver(urlconf).url_patterns, None)
    return {name for name in names if not name.startswith("api:")}


# --- The API --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiEntry:
    """``params`` fills the path with customer B's objects; ``body`` is what a write sends."""

    params: Callable[[World], dict] = field(default=lambda world: {})
    body: Callable[[World], dict] = field(default=lambda world: {})


API: dict[str, ApiEntry] = {
    "/api/v1/me": ApiEntry(body=lambda w: {"full_name": "Changed"}),
    "/api/v1/customers": ApiEntry(
        body=lambda w: {
            "name": "New",
            "address": "Gade 1",
            "postal_code": "1000",
            "city": "København",
            "email": "new@example.dk",
        }
    ),
    "/api/v1/customers/{id}": ApiEntry(
        params=lambda w: {"id": w.b.pk}, body=lambda w: {"name": "Taken over"}
    ),
    "/api/v1/memberships": ApiEntry(
        body=lambda w: {"customer": w.b.pk, "email": "x@example.dk", "role": "owner"}
    ),
    "/api/v1/memberships/{id}": ApiEntry(
        params=lambda w: {"id": w.b_membership.pk}, body=lambda w: {"role": "billing"}
    ),
    "/api/v1/api-keys": ApiEntry(
        body=lambda w: {"customer": w.b.pk, "name": "stolen", "access": "read_write"}
    ),
    "/api/v1/api-keys/{id}": ApiEntry(params=lambda w: {"id": w.b_key.pk}),
}
