"""What each customer role and staff role may do. The single table of permissions."""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from accounts.actor import Actor
from accounts.models import Membership, Role, User

ALL_ROLES = frozenset(Role.values)
STAFF = frozenset({User.StaffRole.SUPPORT, User.StaffRole.ADMIN})
STAFF_ADMIN = frozenset({User.StaffRole.ADMIN})

# permission: (customer roles that have it, staff roles that have it)
PERMISSIONS: dict[str, tuple[frozenset, frozenset]] = {
    "customer.view": (ALL_ROLES, STAFF),
    "customer.edit": (frozenset({Role.OWNER, Role.ADMIN, Role.BILLING}), STAFF_ADMIN),
    "customer.create": (frozenset(), STAFF_ADMIN),
    "members.view": (ALL_ROLES, STAFF),
    "members.manage": (frozenset({Role.OWNER, Role.ADMIN}), STAFF_ADMIN),
    "apikeys.view": (frozenset({Role.OWNER, Role.ADMIN, Role.TECHNICAL}), STAFF),
    "apikeys.manage": (frozenset({Role.OWNER, Role.ADMIN, Role.TECHNICAL}), frozenset()),
    "apikeys.staff": (frozenset(), STAFF),  # a staff member's own staff keys
    "audit.view": (frozenset({Role.OWNER, Role.ADMIN}), STAFF),
    "users.manage": (frozenset(), STAFF_ADMIN),
    "hosting.view": (ALL_ROLES, STAFF),
    "hosting.manage": (frozenset({Role.OWNER, Role.ADMIN, Role.TECHNICAL}), STAFF_ADMIN),
    "domains.manage": (frozenset({Role.OWNER, Role.ADMIN}), STAFF_ADMIN),
    "servers.view": (frozenset(), STAFF),
    "servers.manage": (frozenset(), STAFF_ADMIN),
    "billing.view": (frozenset({Role.OWNER, Role.ADMIN, Role.BILLING}), STAFF),
    "billing.pay": (frozenset({Role.OWNER, Role.ADMIN, Role.BILLING}), frozenset()),
    "billing.manage": (frozenset(), STAFF_ADMIN),
    "restores.view": (ALL_ROLES, STAFF),
    "restores.order": (frozenset({Role.OWNER, Role.ADMIN}), STAFF),
    "restores.waive": (frozenset(), STAFF),
    "recovery.run": (frozenset(), STAFF),
    # Support access by consent, consent records, restriction, the DPA and data-subject requests
    # (accounts/consent.py). Staff never grant support access or consent for a customer.
    "support.view": (frozenset({Role.OWNER, Role.ADMIN, Role.TECHNICAL}), STAFF),
    "support.grant": (frozenset({Role.OWNER, Role.ADMIN}), frozenset()),
    "support.revoke": (frozenset({Role.OWNER, Role.ADMIN}), STAFF),
    "rights.view": (ALL_ROLES, STAFF),
    "rights.restrict": (frozenset({Role.OWNER, Role.ADMIN}), STAFF),
    "consent.give": (frozenset({Role.OWNER, Role.ADMIN}), frozenset()),
    "consent.withdraw": (frozenset({Role.OWNER, Role.ADMIN}), STAFF),
    "dpa.accept": (frozenset({Role.OWNER, Role.ADMIN}), frozenset()),
    "dpa.publish": (frozenset(), STAFF_ADMIN),
    "requests.file": (ALL_ROLES, frozenset()),
    "requests.handle": (frozenset(), STAFF),
    "marketing.send": (frozenset(), STAFF_ADMIN),
    # Privacy (accounts/privacy/): exports, closure and its receipt; staff see the inventory,
    # retention report and closures. Closing also needs the owner's password (or staff admin).
    "privacy.view": (frozenset({Role.OWNER, Role.ADMIN}), STAFF),
    "privacy.export": (frozenset({Role.OWNER, Role.ADMIN}), frozenset()),
    "privacy.close": (frozenset({Role.OWNER}), STAFF_ADMIN),
    "privacy.staff": (frozenset(), STAFF),
}


def role_of(user, customer) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    if getattr(user, "api_customer_id", None) not in (None, customer.pk):
        return None
    return (
        Membership.objects.filter(user=user, customer=customer)
        .values_list("role", flat=True)
        .first()
    )


def has_perm(user, permission: str, customer=None) -> bool:
    customer_roles, staff_roles = PERMISSIONS[permission]
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    # An API key acts for its customer only, never with its creator's staff powers.
    if user.staff_role in staff_roles and getattr(user, "api_customer_id", None) is None:
        return True
    return customer is not None and role_of(user, customer) in customer_roles


def require(actor: Actor, permission: str, customer=None) -> None:
    """Raise PermissionDenied (and audit the denial) unless the actor holds the permission.

    Call it before opening the service's transaction, so that the denial's audit row stays.
    """
    if has_perm(actor.user, permission, customer):
        return
    from accounts.audit import record

    record(actor, "authz.denied", customer=customer, target=permission)
    raise PermissionDenied(_("You do not have permission to do that."))


def narrow_to_permission(queryset, user, permission: str, customer_path: str = "customer"):
    """``queryset`` (already ``visible_to(user)``) narrowed to the customers where ``user``
    holds ``permission``: a list view's counterpart of `has_perm`. Staff with the permission
    keep everything; anonymous callers get nothing."""
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    if has_perm(user, permission):
        return queryset
    roles = PERMISSIONS[permission][0]
    return queryset.filter(
        **{
            f"{customer_path}__memberships__user": user,
            f"{customer_path}__memberships__role__in": roles,
        }
    )
