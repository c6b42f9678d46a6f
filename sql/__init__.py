"""Storage: connection pool, migrations, named queries and the embedded PostgreSQL."""
from sql.database import Database, connect_database
from sql.queries import query

__all__ = ["Database", "connect_database", "query"]
