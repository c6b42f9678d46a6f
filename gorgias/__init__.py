"""Gorgias helpdesk: webhook intake, customer resolution, note drafting and the REST client."""
