"""Fixtures shared by the services' tests."""

import pytest
import swarm_lab as lab_kit


@pytest.fixture(name="swarm_lab", scope="session")
def swarm_lab_fixture():
    """A swarm of two engines of their own (tests/swarm_lab.py), for the session."""
    lab = lab_kit.up()
    yield lab
    lab_kit.down()
