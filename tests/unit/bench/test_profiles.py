"""The profiles' configuration is checked before any cell runs, and the blind benchmark's budget sizing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.config.profiles import PROFILES, ProfileError, check_profile, size_schedule
from methods.presets import check_params
from methods.registry import METHODS


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_passes_its_own_check(name: str) -> None:
    check_profile(PROFILES[name])


def test_a_misspelt_option_handed_on_through_kwargs_is_caught() -> None:
    """N2V passes its network's options to its base class through ``**kwargs``; a typo there must stop the
    profile check, not a worker hours later."""
    check_params(METHODS, "n2v", {"steps": 3, "depth": 5, "percent": 1.5}, where="here")
    with pytest.raises(ValueError, match=r"here, method 'n2v': no keyword argument 'stepz'"):
        check_params(METHODS, "n2v", {"stepz": 3}, where="here")


def test_a_blind_budget_that_is_not_a_keyword_of_its_method_stops_the_profile() -> None:
    cpu = PROFILES["cpu"]
    blind = replace(cpu.blind, methods={**cpu.blind.methods, "ne2ne": {"stepz": 3}})
    with pytest.raises(ProfileError, match=r"profile 'cpu', blind benchmark, method 'ne2ne'.*'stepz'"):
        check_profile(replace(cpu, blind=blind))


def test_a_schedule_sized_to_a_budget_keeps_its_milestones_at_the_same_fractions() -> None:
    sized = size_schedule({"steps": 800, "milestones": (550, 720)}, seconds=360, step_seconds=1.8)
    assert sized == {"steps": 200, "milestones": (138, 180)}
    assert size_schedule({"steps": 10}, seconds=1, step_seconds=5) == {"steps": 1, "milestones": ()}


def test_the_cpu_blind_budget_gives_the_cheaper_step_more_steps() -> None:
    budget = PROFILES["cpu"].blind.methods
    assert budget["ne2ne"]["steps"] > budget["n2v"]["steps"] > budget["gan2gan"]["gan_steps"]
    assert budget["zs-n2n"]["steps"] > 0 and budget["gan2gan"]["g2g_steps"] > 0
