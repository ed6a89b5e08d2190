"""Optional dependencies: a missing one is a start-up error that names the command installing it."""

import pytest

from tiercel.optional import installed, require


def test_a_missing_module_names_the_extra_that_installs_it():
    with pytest.raises(RuntimeError, match=r"validating bodies needs tiercel_no_such_module, which is not installed: "
                       r"pip install 'tiercel\[nosuch\]'"):
        require("tiercel_no_such_module.sub", "nosuch", "validating bodies")


def test_an_installed_module_is_returned():
    assert require("json", "json", "x").dumps([1]) == "[1]"
    assert installed("json") is not None
    assert installed("tiercel_no_such_module") is None
