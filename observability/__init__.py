"""What the running process reports about itself: its Prometheus metrics (`observability.metrics`).
Imports nothing else of the project, so every package may record into it."""
