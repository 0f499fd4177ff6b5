"""``{% content_exports customer %}``: the content-download block of the customer's privacy page
(accounts renders the page; the block and its data belong to the backups app)."""

from django import template

from accounts.permissions import has_perm
from backups.models import ContentExport

register = template.Library()


@register.inclusion_tag("backups/content_export_block.html", takes_context=True)
def content_exports(context, customer):
    user = context["request"].user
    return {
        "customer": customer,
        "exports": ContentExport.objects.visible_to(user).filter(customer=customer)[:5],
        "can_export": has_perm(user, "privacy.export", customer),
        "csrf_token": context.get("csrf_token"),
    }
