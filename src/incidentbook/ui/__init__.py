"""The Textual app: thin over the core. Only this package imports textual."""
