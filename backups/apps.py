from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"

    def ready(self):
        from accounts.billing import invoice_paid
        from backups import privacy  # noqa: F401 -- data inventory, closure receivers
        from backups.services import restores

        # A paid invoice starts the restore it was issued for.
        invoice_paid.connect(
            lambda sender, invoice, **kwargs: restores.invoice_paid(invoice),
            weak=False,
            dispatch_uid="backups.restore_on_payment",
        )
