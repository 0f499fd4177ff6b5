"""The data inventory covers everything Havn holds about a customer (docs/privacy.md)."""

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models

from accounts.models import Customer
from accounts.privacy.registry import STORES, categories

# Models that reach a customer or a user only through staff: they hold no customer's data.
STAFF_ONLY = {
    "backups.ServerRecovery": "started_by is a staff user; the orders it made are restore orders",
    "accounts.RetentionAction": "counts of what a retention rule deleted, no customer",
}
# Tables of the libraries that hang off the user; the users category erases them with the user.
WITH_THE_USER = {
    "otp_totp.TOTPDevice",
    "otp_static.StaticDevice",
    "otp_static.StaticToken",
    "accounts.User_groups",
    "accounts.User_user_permissions",
}


def _reaches(model, targets, seen=None) -> bool:
    """Whether a chain of forward foreign keys (or a ``customer_path``) leads to a target."""
    if model in targets or getattr(model, "customer_path", None) is not None:
        return True
    seen = seen or set()
    seen.add(model)
    for field in model._meta.get_fields():
        forward = (field.many_to_one or field.one_to_one) and field.concrete
        target = field.related_model
        if forward and target and target not in seen and _reaches(target, targets, seen):
            return True
    return False


def _customer_models():
    targets = {Customer, get_user_model()}
    for model in apps.get_models(include_auto_created=True):
        if _reaches(model, targets):
            yield model


def test_every_model_that_reaches_a_customer_is_in_a_category():
    covered = {model for category in categories() for model in category.models}
    missing = []
    for model in _customer_models():
        label = model._meta.label
        if model in covered or label in STAFF_ONLY or label in WITH_THE_USER:
            continue
        missing.append(label)
    assert missing == [], f"not in the data inventory (accounts/privacy/registry.py): {missing}"


def test_the_walk_finds_models_through_chains_and_customer_paths():
    labels = {model._meta.label for model in _customer_models()}
    # DnsRecord → DnsZone → Domain → Customer; RestoreClaim → RestoreItem → RestoreOrder.
    assert {"hosting.DnsRecord", "backups.RestoreClaim", "otp_totp.TOTPDevice"} <= labels
    assert "hosting.Plan" not in labels and "hosting.Server" not in labels


def test_every_store_is_covered_and_every_category_is_complete():
    stores = {store for category in categories() for store in category.stores}
    assert stores == set(STORES)
    for category in categories():
        assert category.label and category.purpose and category.legal_basis and category.retention
        assert category.models or category.stores, category.key


def test_models_are_covered_once():
    seen = {}
    for category in categories():
        for model in category.models:
            assert model not in seen, f"{model} in {seen.get(model)} and {category.key}"
            seen[model] = category.key
            assert issubclass(model, models.Model)


@pytest.mark.django_db
def test_staff_see_the_inventory_and_customers_do_not(logged_in, staff_support, owner_a):
    page = logged_in(staff_support).get("/staff/privacy/inventory/")
    assert page.status_code == 200
    body = page.content.decode()
    for category in categories():
        assert category.key in body
    assert logged_in(owner_a).get("/staff/privacy/inventory/").status_code == 403
