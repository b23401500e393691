"""The Textual app: Pilot tests, snapshots and a real terminal (tmux)."""
