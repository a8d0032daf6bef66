"""Mail out (compose from templates, outbox, delivery backends) and, later, mail in. Knows nothing of Prefect."""
