"""The bottom layer: settings (checked once), the texts users read (templates and messages), names and
file names, and the local day. Everything else imports it; it imports nothing else of ours."""
