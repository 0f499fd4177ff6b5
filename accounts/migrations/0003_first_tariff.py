"""The first restore tariff (docs/billing.md). Øre, ex. VAT; later prices are new versions."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import migrations

FIRST_TARIFF = {
    "valid_from": datetime(2025, 1, 1, tzinfo=ZoneInfo("Europe/Copenhagen")),
    "currency": "DKK",
    "vat_rate": Decimal("25.00"),
    "fee_file": 29_500,  # 295 kr.
    "fee_webhotel": 49_500,  # 495 kr.
    "fee_database": 39_500,  # 395 kr.
    "fee_mailbox": 39_500,  # 395 kr.
    "fee_server": 249_500,  # 2.495 kr.
    "price_per_gb": 2_500,  # 25 kr. per started GB
}


def create_first_tariff(apps, schema_editor):
    TariffVersion = apps.get_model("accounts", "TariffVersion")
    if not TariffVersion.objects.exists():
        TariffVersion.objects.create(**FIRST_TARIFF)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_billing")]

    operations = [migrations.RunPython(create_first_tariff, migrations.RunPython.noop)]
