"""Serving definitions: the catalog as its own step, checks in SQL over it, and a mart in SQL."""
