"""The receiver over real HTTP: a live uvicorn server, concurrent senders, the real
`incidentbook serve` and a real Prometheus Alertmanager."""
