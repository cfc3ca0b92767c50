"""``switchboard-bench pipeline --repeat``: several windows reported as the median one and the spread."""

from __future__ import annotations

from typing import Any

from switchboard_devenv.bench.cli import _repeated

NAMES = ("intake_response", "intake_to_routed", "intake_to_ack")


def _window(ack_p99: float, routed_p99: float, intake_p99: float, tag: str) -> dict[str, Any]:
    p99s = dict(zip(NAMES, (intake_p99, routed_p99, ack_p99), strict=True))
    return {"tag": tag, "latency": {name: {"p99_ms": p99} for name, p99 in p99s.items()}}


def test_one_window_is_reported_as_it_is() -> None:
    window = _window(900.0, 500.0, 100.0, "only")
    assert _repeated([window]) is window


def test_several_windows_report_the_median_window_by_acknowledgement_and_each_latencys_spread() -> None:
    windows = [
        _window(3700.0, 900.0, 150.0, "slow"),
        _window(750.0, 400.0, 300.0, "fast"),
        _window(970.0, 1200.0, 100.0, "middle"),
    ]
    report = _repeated(windows)
    assert report["tag"] == "middle"  # p99 acknowledgement 750 < 970 < 3700
    assert report["repeats"] == windows  # in the order they ran
    assert report["p99_spread_ms"] == {
        "intake_response": [100.0, 150.0, 300.0],
        "intake_to_routed": [400.0, 900.0, 1200.0],  # each latency's own order, not the median window's
        "intake_to_ack": [750.0, 970.0, 3700.0],
    }
    assert "repeats" not in windows[2]  # the windows themselves are left as they were


def test_an_even_number_of_windows_reports_the_lower_median() -> None:
    windows = [_window(float(p99), 1.0, 1.0, str(p99)) for p99 in (400, 100, 300, 200)]
    report = _repeated(windows)
    assert report["tag"] == "200"
    assert report["p99_spread_ms"]["intake_to_ack"] == [100.0, 200.0, 400.0]
