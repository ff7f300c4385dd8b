"""The menu: which entry a page belongs to."""

from __future__ import annotations

from hypothesis import given, strategies as st

from yimen.node.web.nav import MENU, current


def test_a_page_belongs_to_its_folders_entry():
    assert current("/accept/T-DIBAO", MENU) == "/accept"
    assert current("/cases", MENU) == "/cases"
    assert current("/cases/440608100201-2026-000001/paper/receipt", MENU) == "/cases"
    assert current("/casework", MENU) == "/"  # a name that only starts like an entry's
    assert current("/", MENU) == "/"
    assert current("/x", []) == ""


@given(st.lists(st.sampled_from(["", "a", "ab", "b", "-"]), max_size=4))
def test_the_entry_found_is_the_pages_own_or_a_folder_of_it(parts):
    path = "/" + "/".join(parts)
    found = current(path, MENU)
    assert found in [e.path for e in MENU]
    assert path == found or path.startswith(found.rstrip("/") + "/")
