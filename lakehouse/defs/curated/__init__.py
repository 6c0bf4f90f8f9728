"""The curated star schema and marts.

One module per table or small family: each declares its tables' specs (`lib.spec.TableSpec`:
contract, key, grain, write policy, ...) next to their transforms, and the assets and checks
derived from them. The defs-folder loader finds the assets and checks, and the data dictionary
finds the specs, so adding a curated table is one module and its test.
"""
