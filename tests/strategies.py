"""Hypothesis strategies shared by the fuzz tests of the readers."""

from __future__ import annotations

from hypothesis import strategies as st

# Any JSON value a hand-edited or hostile file may hold: NaN and infinities, integers far
# beyond 64 bits, and small nested lists and objects.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
