"""`python -m reportchain.cli`: the same as the `reportchain` command."""

from reportchain.cli import app

app()
