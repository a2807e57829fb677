"""Business rules and transactions, one module per feature. Never imports flask."""
