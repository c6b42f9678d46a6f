"""Everything that answers a question: tools, enrichment, cache, pseudonymous ids and the router."""
