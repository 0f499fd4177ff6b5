"""What Havn holds about a customer and what happens to it: the data inventory (registry), the
export, the closure and purge, and the retention rules (docs/privacy.md)."""
