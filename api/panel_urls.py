"""The panel's webhook pages (the API itself is api/urls.py)."""

from django.urls import path

from api import views_panel as views

app_name = "webhooks"

urlpatterns = [
    path("customers/<int:customer_id>/webhooks/", views.webhooks_view, name="list"),
    path(
        "customers/<int:customer_id>/webhooks/<int:webhook_id>/",
        views.webhook_view,
        name="webhook",
    ),
    path(
        "customers/<int:customer_id>/webhooks/<int:webhook_id>/test/",
        views.webhook_test_view,
        name="test",
    ),
    path(
        "customers/<int:customer_id>/webhooks/<int:webhook_id>/delete/",
        views.webhook_delete_view,
        name="delete",
    ),
]
