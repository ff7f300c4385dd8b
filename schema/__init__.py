"""Pure definitions and validation: region codes, ID numbers, catalog items (JSON and
CSV), document types, case transitions, the working-day calendar. No I/O and no imports
from the rest of Yimen."""
