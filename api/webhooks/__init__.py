"""Webhooks: customers' endpoints, signed deliveries with retries, and the delivery log."""
