"""Change events: deploys, config changes, migrations; the deploy context of an incident."""
