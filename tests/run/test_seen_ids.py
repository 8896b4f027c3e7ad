"""The ProfileId table (runner/run/seen.py): no repeat may pass unseen, whichever way
the ids come: ascending (no table at all), then not, then ascending again."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.run.seen import SeenIds


def feed(pages: list[list]) -> tuple[list[list[int]], SeenIds]:
    """Each page's suspected repeats, with `reread` giving back what was added."""
    added: list = []
    seen = SeenIds(expected=sum(map(len, pages)), reread=lambda: iter(list(added)))
    found = []
    for page in pages:
        found.append(seen.add_all(page))
        added.extend(page)
    return found, seen


def repeats(pages: list[list]) -> list[list[int]]:
    """The truth: indexes whose id (same value, same type) came before; no id
    (None) is never a repeat."""
    before: set = set()
    truth = []
    for page in pages:
        here = []
        for index, profile_id in enumerate(page):
            key = (type(profile_id), profile_id)
            if profile_id is not None and key in before:
                here.append(index)
            before.add(key)
        truth.append(here)
    return truth


def test_ascending_ids_need_no_table():
    found, seen = feed([list(range(1, 1001)), list(range(1001, 2001)), [2500, 10**30]])
    assert found == [[], [], []] and len(seen) == 2002
    assert len(seen._table) == 0  # no memory spent


def test_a_repeat_after_ascending_pages_is_caught():
    found, _ = feed([[1, 2, 3], [4, 5, 6], [7, 2, 8]])
    assert found == [[], [], [1]]


def test_a_page_that_starts_at_or_below_the_last_id_is_checked_against_all():
    found, _ = feed([[1, 2, 3], [3, 4]])
    assert found == [[], [0]]
    found, _ = feed([[10, 20], [15, 30], [20]])
    assert found == [[], [], [0]]


def test_a_repeat_inside_one_page_is_caught():
    assert feed([[1, 2, 2, 3]])[0] == [[2]]
    assert feed([[5, 6], [7, 7]])[0] == [[], [1]]


def test_other_kinds_of_id_leave_the_ascending_path():
    found = feed([[1, 2], ["3", "1"], [True, 1]])[0]
    assert found[:2] == [[], [1]]  # "1" is suspected (same text as 1); the caller compares types
    assert 1 in found[2]
    assert feed([[1, 2], [True]])[0] == [[], []]  # True is not the ProfileId 1
    assert feed([[1, 2], [None, None, 3]])[0] == [[], []]  # no id is no repeat


ids = st.one_of(st.integers(-5, 40), st.sampled_from(["1", "a", True, False, None, 2**64]))


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.lists(ids, max_size=8),
            st.lists(st.integers(0, 200), max_size=8, unique=True).map(sorted),
        ),
        max_size=8,
    )
)
def test_no_repeat_is_missed(pages):
    found, _ = feed(pages)
    for got, want in zip(found, repeats(pages), strict=True):
        assert set(want) <= set(got)  # a fingerprint match is only a suspicion: extra is fine
