"""Command-line helpers that are not pipeline stages (`python -m app.tools.<name>`)."""
