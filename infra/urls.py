from django.urls import include, path

from infra import errors

urlpatterns = [
    path("api/v1/", include("api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("hosting.urls")),
    path("", include("backups.urls")),
    path("", include("api.panel_urls")),
    path("", include("accounts.urls")),
]

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.not_found
handler500 = errors.server_error
