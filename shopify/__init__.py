"""A live Shopify store as an order source: the Admin GraphQL client, the incremental sync and the
order webhooks, all loading through the importer's staging path (discovery.importer)."""
