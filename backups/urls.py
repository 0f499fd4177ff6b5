from django.urls import path

from backups import content_views, metrics, restore_views, views

app_name = "backups"

CUSTOMER = "customers/<int:customer_id>/"
ITEM = f"{CUSTOMER}backups/<str:kind>/<int:item_id>/"
ORDER = f"{CUSTOMER}restores/<int:order_id>/"

urlpatterns = [
    # Prometheus scrape endpoint (token-protected; docs/operations.md).
    path("metrics", metrics.metrics_view, name="metrics"),
    # A customer's snapshots per webhotel, database and mailbox; backups on demand.
    path(f"{CUSTOMER}backups/", views.overview_view, name="overview"),
    path(ITEM, views.item_view, name="item"),
    path(f"{ITEM}back-up-now/", views.back_up_now_view, name="back_up_now"),
    # Paid restores: choose, quote, accept, pay, follow, download.
    path(
        f"{ITEM}snapshots/<str:snapshot_id>/restore/",
        restore_views.restore_view,
        name="restore",
    ),
    path(f"{CUSTOMER}restores/", restore_views.orders_view, name="orders"),
    path(ORDER, restore_views.order_view, name="order"),
    path(f"{ORDER}accept/", restore_views.accept_view, name="accept"),
    path(f"{ORDER}pay/", restore_views.pay_view, name="pay"),
    path(f"{ORDER}cancel/", restore_views.cancel_view, name="cancel"),
    path(f"{ORDER}waive/", restore_views.waive_view, name="waive"),
    path(f"{ORDER}download/", restore_views.link_view, name="link"),
    path("restores/download/<str:token>/", restore_views.download_view, name="download"),
    # The free download of the customer's live content (linked from the privacy page).
    path(f"{CUSTOMER}content-exports/", content_views.content_exports_view, name="content_exports"),
    path(
        f"{CUSTOMER}content-exports/<uuid:export_uuid>/link/",
        content_views.content_export_link_view,
        name="content_export_link",
    ),
    path(
        f"{CUSTOMER}content-exports/download/<str:token>/",
        content_views.content_export_download_view,
        name="content_export_download",
    ),
    # Staff: whole-server recovery.
    path("staff/recoveries/", restore_views.recoveries_view, name="recoveries"),
    path("staff/recoveries/<int:recovery_id>/", restore_views.recovery_view, name="recovery"),
    # Staff: the nightly runs.
    path("staff/backups/", views.tonight_view, name="tonight"),
    path(
        "staff/backups/servers/<int:server_id>/",
        views.server_history_view,
        name="server_history",
    ),
]
