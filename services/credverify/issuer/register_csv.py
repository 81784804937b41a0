"""Moved to core/register_csv.py (the registrar pages read register exports too); importable from here
for the scripts that still name this path."""

from credverify.core.register_csv import CONDITION_SEPARATOR as CONDITION_SEPARATOR
from credverify.core.register_csv import OPTIONAL_COLUMNS as OPTIONAL_COLUMNS
from credverify.core.register_csv import REQUIRED_COLUMNS as REQUIRED_COLUMNS
