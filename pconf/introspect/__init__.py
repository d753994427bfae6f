"""Field facts -> generated artefacts: the JSON Schema of cluster files (one per vLLM release) and the Markdown
field reference.

Everything is read from the attrs classes and their ``FieldInfo`` (``pconf.schema``), the release profiles
(``pconf.versions``), the rule registry (``pconf.rules``) and the hash factor lists (``pconf.hashing``);
nothing about a field is written twice. Outputs are deterministic (declaration order, stable key order, a
trailing newline), so the committed copies (``schemas/``, ``docs/reference.md``) can be checked to be current.
"""

from pconf.introspect.fields import View, views
from pconf.introspect.jsonschema import (
           DIALECT,
           IMPORT_PATH_PATTERN,
           field_schema,
           json_schema,
           schema_path,
           schema_text,
)
from pconf.introspect.reference import REFERENCE_PATH, field_check_rules, reference_markdown

#: The JSON Schema of the default release, as committed.
SCHEMA_PATH = schema_path()

__all__ = ["DIALECT", "IMPORT_PATH_PATTERN", "REFERENCE_PATH", "SCHEMA_PATH", "View", "field_check_rules",
           "field_schema", "json_schema", "reference_markdown", "schema_path", "schema_text", "views"]
