"""The data inventory: every app registers, in its ``privacy.py``, the categories of data it holds
about a customer, with an exporter and an eraser (docs/privacy.md).

The registry is the record of processing (the staff inventory page lists it), the source of the
export archive (every exporter's output goes into ``data.json``) and the purge plan (every eraser
runs in ``erase_order``). A test walks every model that reaches ``Customer`` and every other store
and fails where one is not covered by a category.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounts.models import AccountClosure as Purge
    from accounts.models import Customer

# The stores outside PostgreSQL a category can cover (the coverage test requires each one).
STORES = (
    "server-files",
    "server-databases",
    "server-mail",
    "dns",
    "registry",
    "media",
    "object-store",
    "logs",
)


@dataclass(frozen=True)
class Category:
    """One category of data about a customer.

    ``erase`` gets the ``AccountClosure`` being purged (``Purge``), whose ``now`` is the purge's
    clock. ``export(customer)`` returns something JSON-able (None means nothing to export; the
    category's docs say why). ``erase(customer, purge)`` must be idempotent: the purge reruns
    it after a crash.
    ``erase`` is None only for categories kept past the purge (the invoices, which their own
    retention rule deletes). Erasers run in ascending ``erase_order``: content on the servers
    before the keys that reach them, keys before rows, personal data last.
    """

    key: str
    label: str
    purpose: str
    legal_basis: str
    retention: str
    models: tuple = ()
    stores: tuple[str, ...] = ()
    export: Callable[[Customer], Any] | None = None
    erase: Callable[[Customer, Purge], None] | None = None
    erase_order: int = 100
    # The key of a rule in accounts/privacy/retention.py that governs this category, if any.
    retention_rule: str = ""


_categories: dict[str, Category] = {}


def register(category: Category) -> Category:
    """Add a category; registering the same key twice (a second ready()) replaces it."""
    unknown = set(category.stores) - set(STORES)
    if unknown:
        raise ValueError(f"Unknown stores {sorted(unknown)} in {category.key}.")
    _categories[category.key] = category
    return category


def categories() -> list[Category]:
    """Every registered category, in purge order (then by key)."""
    return sorted(_categories.values(), key=lambda c: (c.erase_order, c.key))


def get(key: str) -> Category:
    return _categories[key]
