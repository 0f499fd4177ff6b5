"""Which resource family (``ApiKey.Scope``) each part of the API belongs to: the one mapping.

A key with scopes may use only the URLs whose first path segment after ``/api/v1/`` maps to one of
its families. A segment missing here is refused for every scoped key (fail closed), and
tests/test_api_keys.py fails when an endpoint in the schema has no family.
"""

from accounts.models import ApiKey

Scope = ApiKey.Scope

FAMILIES: dict[str, str] = {
    # account
    "me": Scope.ACCOUNT,
    "customers": Scope.ACCOUNT,
    "memberships": Scope.ACCOUNT,
    "api-keys": Scope.ACCOUNT,
    "audit-events": Scope.ACCOUNT,
    # hosting
    "webhotels": Scope.HOSTING,
    "databases": Scope.HOSTING,
    "mail-domains": Scope.HOSTING,
    "mailboxes": Scope.HOSTING,
    "aliases": Scope.HOSTING,
    "operations": Scope.HOSTING,
    "certificates": Scope.HOSTING,
    "plans": Scope.HOSTING,
    "servers": Scope.HOSTING,
    # domains
    "domains": Scope.DOMAINS,
    "dns-records": Scope.DOMAINS,
    "identity-verifications": Scope.DOMAINS,
    # backups and restores
    "snapshots": Scope.BACKUPS,
    "backup-runs": Scope.BACKUPS,
    "restore-orders": Scope.RESTORES,
    "server-recoveries": Scope.RESTORES,
    # billing
    "invoices": Scope.BILLING,
    # privacy
    "exports": Scope.PRIVACY,
    "content-exports": Scope.PRIVACY,
    "closures": Scope.PRIVACY,
    "erasure-receipts": Scope.PRIVACY,
    "support-grants": Scope.PRIVACY,
    "consents": Scope.PRIVACY,
    "processing-restrictions": Scope.PRIVACY,
    "data-requests": Scope.PRIVACY,
    "dpa": Scope.PRIVACY,
    "dpa-acceptances": Scope.PRIVACY,
    "dpa-versions": Scope.PRIVACY,
    # webhooks
    "webhooks": Scope.WEBHOOKS,
}

# The schema and its rendering are public: no family, any key may read them.
UNSCOPED = frozenset({"schema", "docs"})

API_PREFIX = "/api/v1/"


def segment(path: str) -> str:
    """The first path segment after /api/v1/ ("" outside the API)."""
    if not path.startswith(API_PREFIX):
        return ""
    return path[len(API_PREFIX) :].split("/", 1)[0]


def family_of(path: str) -> str | None:
    """The resource family of an API path, or None when it has none (unknown or unscoped)."""
    return FAMILIES.get(segment(path))


def allows(key: ApiKey, path: str) -> bool:
    """Whether the key's scopes cover this path (a key without scopes covers every path)."""
    if not key.scopes or segment(path) in UNSCOPED:
        return True
    family = family_of(path)
    return family is not None and family in key.scopes
