"""State changes a person or a schedule can cause, one function each: plain values and the acting
person in, the rule checked, the change, its audit event and its mails written in the caller's
transaction. The CLI and the flows call these; Prefect is never imported here.

(Most of them still live in flows/ next to their Prefect wrappers — stages, drafts, decisions,
filing, the intake and the sweep; they move here one by one.)"""
