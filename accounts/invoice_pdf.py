"""Invoices and credit notes as PDF (fpdf2), in the language the customer had when it was issued.

Everything printed comes from the issued invoice itself (its seller and buyer snapshots, lines and
totals), so the same invoice always renders the same content. The PDF uses the standard Helvetica
font (Windows-1252: Danish letters included); a character outside it is printed as its base
letter (ł → l) or "?".
"""

import unicodedata

from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from accounts.billing import format_kroner
from accounts.models import Invoice

ENCODING = "windows-1252"


def _text(value) -> str:
    """``value`` as text the core font can print."""
    out = []
    for char in str(value):
        try:
            char.encode(ENCODING)
            out.append(char)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", char).encode(ENCODING, "ignore").decode(ENCODING)
            out.append(base or "?")
    return "".join(out)


def _date(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "DATE_FORMAT")


class _Document:
    def __init__(self, invoice: Invoice):
        self.invoice = invoice
        self.pdf = FPDF(format="A4")
        self.pdf.core_fonts_encoding = ENCODING
        self.pdf.set_margins(20, 20, 20)
        self.pdf.set_auto_page_break(True, margin=20)
        self.pdf.set_creator("Havn")
        self.pdf.add_page()

    def line(self, text="", *, size=10, style="", height=5, align="L"):
        self.pdf.set_font("Helvetica", style, size)
        self.pdf.multi_cell(
            0, height, _text(text), align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    def render(self) -> bytes:
        invoice = self.invoice
        title = _("Credit note") if invoice.is_credit_note else _("Invoice")
        self.pdf.set_title(_text(f"{title} {invoice.number}"))
        seller = invoice.seller
        self.line(seller.get("name", ""), size=14, style="B", height=7)
        for address_line in seller.get("address", []):
            self.line(address_line)
        self.line(_("CVR number: %(cvr)s") % {"cvr": seller.get("cvr", "")})
        self.line(seller.get("email", ""))
        self.pdf.ln(8)
        self.line(invoice.buyer_name, style="B")
        for address_line in invoice.buyer_address.splitlines():
            self.line(address_line)
        if invoice.buyer_cvr:
            self.line(_("CVR number: %(cvr)s") % {"cvr": invoice.buyer_cvr})
        self.pdf.ln(8)
        self.line(f"{title} {invoice.number}", size=18, style="B", height=9)
        self.line(_("Date: %(date)s") % {"date": _date(invoice.issued_at)})
        if invoice.is_credit_note:
            self.line(_("Credits invoice %(number)s") % {"number": invoice.credits.number})
            self.line(_("Reason: %(reason)s") % {"reason": invoice.reason})
        else:
            self.line(_("Due date: %(date)s") % {"date": _date(invoice.due_at)})
        self.line(_("Reference: %(reference)s") % {"reference": invoice.reference})
        self.pdf.ln(6)
        self.lines_table()
        self.pdf.ln(6)
        if not invoice.is_credit_note:
            self.line(
                _("Pay in the control panel or by bank transfer to %(bank)s, marked %(number)s.")
                % {"bank": seller.get("bank", ""), "number": invoice.number},
                size=9,
            )
        return bytes(self.pdf.output())

    def lines_table(self):
        invoice = self.invoice
        self.pdf.set_font("Helvetica", "", 10)
        with self.pdf.table(
            col_widths=(90, 20, 30, 30),
            text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
            borders_layout="HORIZONTAL_LINES",
            line_height=6,
        ) as table:
            table.row([_("Description"), _("Quantity"), _("Unit price"), _("Amount")])
            for line in invoice.lines.all():
                table.row(
                    [
                        _text(line.description),
                        str(line.quantity),
                        format_kroner(line.unit_price),
                        format_kroner(line.net),
                    ]
                )
            rate = formats.number_format(f"{invoice.vat_rate:f}".rstrip("0").rstrip("."))
            for label, amount in (
                (_("Net amount"), invoice.net),
                (_("VAT %(rate)s %%") % {"rate": rate}, invoice.vat),
                (_("Total %(currency)s") % {"currency": invoice.currency}, invoice.gross),
            ):
                row = table.row()
                row.cell(_text(label), colspan=3, align="RIGHT")
                row.cell(format_kroner(amount), align="RIGHT")


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice or credit note as a PDF document."""
    with translation.override(invoice.language):
        return _Document(invoice).render()
