"""Dispatch: correction tasks for linguists, leases, reviews and the audit trail."""
