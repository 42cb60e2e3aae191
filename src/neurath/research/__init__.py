"""The research environment (work in progress, issue 5): so far, the hash-chained audit log
that records every action of a research run."""

from neurath.research._audit import GENESIS, AuditEntry, AuditLog, AuditReport, verify_audit

__all__ = ["GENESIS", "AuditEntry", "AuditLog", "AuditReport", "verify_audit"]
