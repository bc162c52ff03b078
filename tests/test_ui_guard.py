"""`guard.guarded_fragment`: a fragment with its own page guard (AppTest, no server)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script():
    import streamlit as st

    from tal.ui.guard import guarded_fragment

    def fails(word):
        st.write(f"before {word}")
        raise RuntimeError(f"kaput {word}")

    def works(word):
        st.write(f"fine {word}")

    guarded_fragment(fails, "the failing part")("one")
    guarded_fragment(works, "the working part", run_every=60, no_fade="works")("two")
    st.write("after both")


def test_a_guarded_fragment_shows_its_error_and_the_page_goes_on():
    at = AppTest.from_function(_script, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [
        "Something went wrong while showing the failing part: RuntimeError: kaput one"]
    written = [m.value for m in at.markdown]
    assert "before one" in written and "fine two" in written and written[-1] == "after both"


def test_each_body_is_its_own_fragment():
    from tal.ui.guard import guarded_fragment

    def body():
        pass

    fragment = guarded_fragment(body, "x")
    assert (fragment.__module__, fragment.__qualname__) == (body.__module__, body.__qualname__)
