"""State changes a person or a schedule can cause, one function each: plain values and the acting
person in, the rule checked, the change, its audit event and its mails written in the caller's
transaction. The CLI and the flows call these; Prefect is never imported here.

(The reply intake, the reminder sweep and delivery still keep their steps in flows/.)"""
