"""The example family of ``docs/adding_a_family.md``: a new backbone that
costs only its own files."""
