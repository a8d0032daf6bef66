"""State changes a person or a schedule can cause, one function each: plain values and the acting
person in, the rule checked, the change, its audit event and its mails written in the caller's
transaction. The CLI and the flows call these; Prefect is never imported here.

(Delivery and its notices still keep their step in flows/delivery.py.)"""
