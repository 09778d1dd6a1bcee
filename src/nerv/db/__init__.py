"""Storage layer: connections, transactions and schema migrations."""
