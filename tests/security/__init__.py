"""Attack tests: each one named for the attack it tries (README, security table)."""
