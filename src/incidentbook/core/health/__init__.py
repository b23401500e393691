"""The workspace's health: ``verify`` (every projection against its events, and the features'
own checks) and ``stats`` (counters for ``stats`` and the Health view). Health sits above the
features: it imports them; none of them imports it."""
