from django import template

from accounts.billing import format_kroner

register = template.Library()


@register.filter
def kroner(oere) -> str:
    """Øre as Danish kroner: ``{{ invoice.gross|kroner }}`` → "1.234,50 kr."."""
    return format_kroner(int(oere))
