"""Backups' business operations, one function each (see docs/architecture.md, Services)."""
