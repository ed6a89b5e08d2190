"""Optional dependencies: a missing one is a start-up error that names the command installing it."""

import pytest

from tiercel.optional import installed, require


def test_a_missing_module_names_the_extra_that_installs_it():
    message = r"validating bodies needs tiercel_no_such_module, which is not installed: pip install 'tiercel\[nosuch\]'"
    with pytest.raises(ModuleNotFoundError, match=message) as caught:
        require("tiercel_no_such_module.sub", "nosuch", "validating bodies")
    assert caught.value.name == "tiercel_no_such_module"  # an ImportError as the import's own would be


def test_an_installed_module_is_returned():
    assert require("json", "json", "x").dumps([1]) == "[1]"
    assert installed("json") is not None
    assert installed("tiercel_no_such_module") is None
