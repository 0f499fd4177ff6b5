from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView
from rest_framework.routers import SimpleRouter

from api.schema import SchemaView
from api.views import (
    accounts,
    backups,
    billing,
    consent,
    content,
    hosting,
    privacy,
    recoveries,
    restores,
    webhooks,
)

router = SimpleRouter(trailing_slash=False)
router.register("customers", accounts.CustomerViewSet, basename="customer")
router.register("memberships", accounts.MembershipViewSet, basename="membership")
router.register("api-keys", accounts.ApiKeyViewSet, basename="apikey")
router.register("audit-events", accounts.AuditEventViewSet, basename="auditevent")
router.register("webhotels", hosting.WebhotelViewSet, basename="webhotel")
router.register("databases", hosting.DatabaseViewSet, basename="database")
router.register("mail-domains", hosting.MailDomainViewSet, basename="maildomain")
router.register("mailboxes", hosting.MailboxViewSet, basename="mailbox")
router.register("aliases", hosting.AliasViewSet, basename="alias")
router.register("operations", hosting.OperationViewSet, basename="operation")
router.register("domains", hosting.DomainViewSet, basename="domain")
router.register("dns-records", hosting.DnsRecordViewSet, basename="dnsrecord")
router.register("certificates", hosting.CertificateViewSet, basename="certificate")
router.register(
    "identity-verifications", hosting.IdentityVerificationViewSet, basename="identityverification"
)
router.register("plans", hosting.PlanViewSet, basename="plan")
router.register("servers", hosting.ServerViewSet, basename="server")
router.register("snapshots", backups.SnapshotViewSet, basename="snapshot")
router.register("backup-runs", backups.BackupRunViewSet, basename="backuprun")
router.register("invoices", billing.InvoiceViewSet, basename="invoice")
router.register("restore-orders", restores.RestoreOrderViewSet, basename="restoreorder")
router.register("server-recoveries", recoveries.ServerRecoveryViewSet, basename="serverrecovery")
router.register("exports", privacy.DataExportViewSet, basename="dataexport")
router.register("content-exports", content.ContentExportViewSet, basename="contentexport")
router.register("closures", privacy.ClosureViewSet, basename="closure")
router.register("erasure-receipts", privacy.ErasureReceiptViewSet, basename="erasurereceipt")
router.register("webhooks", webhooks.WebhookViewSet, basename="webhook")
router.register("support-grants", consent.SupportGrantViewSet, basename="supportgrant")
router.register("consents", consent.ConsentViewSet, basename="consent")
router.register(
    "processing-restrictions", consent.RestrictionViewSet, basename="processingrestriction"
)
router.register("data-requests", consent.DataRequestViewSet, basename="datarequest")
router.register("dpa-acceptances", consent.DpaAcceptanceViewSet, basename="dpaacceptance")
router.register("dpa-versions", consent.DpaVersionViewSet, basename="dpaversion")

app_name = "api"

urlpatterns = [
    path("me", accounts.MeView.as_view(), name="me"),
    path("dpa", consent.DpaView.as_view(), name="dpa"),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SpectacularRedocView.as_view(url_name="api:schema"), name="docs"),
    path("", include(router.urls)),
]
