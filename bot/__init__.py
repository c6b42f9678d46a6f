"""Slack: the Bolt app, its listeners, Block Kit views and the console renderer."""
