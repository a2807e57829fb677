"""Small typed functions over the named SQL: connection in, dataclasses out, no business rules."""
