"""Hosting's business operations, one function each (see docs/architecture.md, Services)."""
