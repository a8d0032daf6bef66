"""Thin Prefect flows, one module per job a user or a schedule runs.

Each module holds the transactional step (a plain function taking a session, used by the CLI's
--dry-run and by tests) and the flow that runs it in its own transaction. Flows take IDs, never
sessions, and are idempotent: a second run changes nothing and sends nothing.
"""
