"""Governance (issue 10): org policies enforced on commits, pushes and merges; file scans; lifecycle and approvals; use cases; factsheets."""
