#!/usr/bin/python3
"""Alembic's own model comparison, as a user would run it: import a models module (SQLAlchemy
Table definitions) and diff it against a live database with compare_metadata.

    alembic_compare.py MODELS.py URL

Prints one line per difference (Alembic's diff tuples, repr'd) and exits 0. Type and server
default comparison are switched on (both off by default in Alembic 1.8), so Alembic gets the
same chance as the other tools to see type and default drift.
"""
import importlib.util
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine


def main():
    models, url = sys.argv[1], sys.argv[2]
    spec = importlib.util.spec_from_file_location("bench_models", models)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "compare_server_default": True,
                  "include_schemas": True,
                  "include_name": lambda name, type_, parent: type_ != "schema" or
                  name in (None, "mart")})
        diffs = compare_metadata(context, module.metadata)
    for diff in diffs:
        print(repr(diff))


if __name__ == "__main__":
    main()
