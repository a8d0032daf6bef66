"""The web console: the county board, every report's story, and (later) the actions, for the county
coordinator, unit clerks and read-only viewers, in Chinese, in a browser without JavaScript.

A front door like the CLI: it reads through `services/` and will change state only by calling a
service function; it never writes a table itself. `web.app.create_app(settings)` builds the ASGI app.
"""
