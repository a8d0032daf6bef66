"""The history of reportchain's database schema, as Alembic revisions (versions/, one file per change).

models/db.py `upgrade_database` runs them (`reportchain init`, `reportchain db upgrade`); env.py is how
Alembic connects; a new revision is written with `.venv/bin/alembic revision --autogenerate -m "…"` from
the project root after changing models/tables.py, then read and corrected by hand (see README,
"Upgrading")."""
