"""What a report says: reading drafts into text (and, later, the content check, diffs and renderings)."""
