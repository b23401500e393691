"""The command line end to end: every command through the real click entry point and the
installed console script."""
