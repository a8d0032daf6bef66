"""reportchain: the coordinator's CLI, settings, the texts users read, the unit roster and the demo."""
