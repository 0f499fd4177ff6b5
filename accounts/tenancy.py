"""The one tenancy filter: every customer-owned model's manager has ``visible_to(user)``.

A customer-owned model declares ``customer_path``, the ORM path from the model to ``Customer``
(``""`` for Customer itself). ``visible_to`` narrows to the customers the user is a member of; staff
see every row (metadata; reading content needs a support-access grant, a later issue). A request
authenticated with an API key carries ``user.api_customer_id`` and is narrowed to that one customer.
"""

from django.db import models


def visible_customer_filter(user, path: str) -> models.Q | None:
    """The Q object limiting ``path``'s customer to what ``user`` may see; None means everything."""
    prefix = f"{path}__" if path else ""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return models.Q(pk__in=[])
    api_customer_id = getattr(user, "api_customer_id", None)
    if api_customer_id is not None:
        return models.Q(**{f"{prefix}memberships__user": user, f"{prefix}pk": api_customer_id})
    if user.is_staff:
        return None
    return models.Q(**{f"{prefix}memberships__user": user})


class CustomerOwnedQuerySet(models.QuerySet):
    def visible_to(self, user):
        condition = visible_customer_filter(user, self.model.customer_path)
        if condition is None:
            return self.all()
        # A user has at most one membership per customer, so the join cannot duplicate rows.
        return self.filter(condition)


CustomerOwnedManager = models.Manager.from_queryset(CustomerOwnedQuerySet)
