"""Settings: nonsense limits are refused at construction with the name of the setting."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.support.stores import Store, make_limiter


@pytest.mark.parametrize(
    ("override", "name"),
    [
        ({"rate_count": 0}, "rate_count"),
        ({"rate_period": 0}, "rate_period"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"lease_seconds": 0}, "lease_seconds"),
        ({"skew": -0.1}, "skew"),
        ({"scope": ""}, "scope"),
    ],
)
def test_given_an_invalid_setting_then_value_error_names_it(
    store: Store, override: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        make_limiter(store.client, **override)


def test_window_is_rate_period_plus_skew(store: Store) -> None:
    assert make_limiter(store.client, rate_period=0.5, skew=0.05).window == pytest.approx(0.55)
