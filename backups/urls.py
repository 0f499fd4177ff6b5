from django.urls import path

from backups import views

app_name = "backups"

CUSTOMER = "customers/<int:customer_id>/"
ITEM = f"{CUSTOMER}backups/<str:kind>/<int:item_id>/"

urlpatterns = [
    # A customer's snapshots per webhotel, database and mailbox; backups on demand.
    path(f"{CUSTOMER}backups/", views.overview_view, name="overview"),
    path(ITEM, views.item_view, name="item"),
    path(f"{ITEM}back-up-now/", views.back_up_now_view, name="back_up_now"),
    # Staff: the nightly runs.
    path("staff/backups/", views.tonight_view, name="tonight"),
    path(
        "staff/backups/servers/<int:server_id>/",
        views.server_history_view,
        name="server_history",
    ),
]
