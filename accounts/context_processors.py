from accounts.models import Customer


def panel(request):
    """The customers the logged-in user can switch between, for the navigation."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated or user.is_staff:
        return {}
    return {"my_customers": Customer.objects.visible_to(user).only("pk", "name")}
