"""The pure rules and estimators, without a server: accuracy on a generated survey as hard as
real ones, zone presence with hysteresis and dwell, navigation around an obstacle, geometry,
BLE ranging, tracking and heatmaps."""

from __future__ import annotations

import math
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from o2o_positioning.commands import register
from o2o_positioning.domain import ble, geometry, survey, tracking
from o2o_positioning.domain.analytics import heat_counts, render_png, summarise
from o2o_positioning.domain.navigation import route
from o2o_positioning.domain.presence import (
    Change,
    DwellReached,
    Entered,
    Exited,
    Presence,
    VisitClosed,
    end_visit,
    observe,
)
from o2o_positioning.domain.venue import FloorPlan, Venue, Zone, check_venue, check_zone
from o2o_positioning.evaluation import evaluate, evaluate_baseline

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def hard_survey() -> tuple[survey.Survey, survey.Survey]:
    """Three buildings of four floors, 360 APs; the test set months later with other phones."""
    site = survey.SiteSpec()
    return survey.generate(site, survey.TRAIN_CAPTURE, seed=1), survey.generate(site, survey.TEST_CAPTURE, seed=2)


def test_the_served_estimator_meets_the_accuracy_goal_and_beats_plain_knn(
    hard_survey: tuple[survey.Survey, survey.Survey],
) -> None:
    train, test = hard_survey
    served, plain = evaluate(train, test), evaluate_baseline(train, test)
    assert served.mean_error_m <= 6.5
    assert served.floor_hit_rate >= 0.94
    assert served.building_hit_rate >= 0.995
    # The survey is hard: plain weighted kNN does markedly worse on it.
    assert plain.mean_error_m > served.mean_error_m * 1.5
    assert plain.floor_hit_rate < served.floor_hit_rate


def test_the_evaluation_command_reads_survey_files_and_prints_one_json_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    register(commands)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    arguments = ["--train", str(train), "--test", str(test), "--buildings", "1", "--floors", "2"]
    args = parser.parse_args(["positioning", "generate-survey", *arguments])
    assert args.handler(args) == 0
    header = train.read_text().splitlines()[0].split(",")
    assert header[0] == "WAP001"
    assert {"LONGITUDE", "LATITUDE", "FLOOR", "BUILDINGID"} <= set(header)
    capsys.readouterr()
    args = parser.parse_args(["positioning", "evaluate", "--train", str(train), "--test", str(test)])
    assert args.handler(args) == 0
    scores = json.loads(capsys.readouterr().out.strip())
    assert set(scores) == {
        "mean_error_m",
        "median_error_m",
        "p90_error_m",
        "floor_hit_rate",
        "building_hit_rate",
        "fixes_per_s",
    }
    assert scores["mean_error_m"] < 6.5
    assert scores["fixes_per_s"] > 0


def test_unheard_access_points_are_zero_and_unknown_ones_are_ignored(
    hard_survey: tuple[survey.Survey, survey.Survey],
) -> None:
    train, test = hard_survey
    from o2o_positioning.domain.wifi import FingerprintModel

    model = FingerprintModel(train)
    scans = model.columns_of(test)[:50]
    # Half the heard APs of each scan go unheard: the fix degrades but stays in the building.
    rng = np.random.default_rng(0)
    dropped = np.where(rng.random(scans.shape) < 0.5, np.nan, scans)
    found = model.locate(dropped)
    assert np.mean(found.building == test.building[:50]) >= 0.95
    empty = model.locate(np.full((1, len(model.ap_ids)), np.nan, dtype=np.float32))
    assert empty.heard[0] == 0


# ---- zone presence ------------------------------------------------------------------------

ZONE_A = Zone("s", "a", "A", 0, ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)))
ZONE_B = Zone("s", "b", "B", 0, ((20.0, 0.0), (30.0, 0.0), (30.0, 10.0), (20.0, 10.0)))


def _walk(points: list[tuple[float, float]], thresholds: tuple[int, ...] = ()) -> tuple[Presence, list[Change]]:
    presence: Presence = Presence()
    seen: list[Change] = []
    for i, point in enumerate(points):
        presence, changes = observe(presence, [ZONE_A, ZONE_B], point, T0 + timedelta(seconds=i), lambda _z: thresholds)
        seen += changes
    return presence, seen


def test_a_fix_jittering_across_a_boundary_does_not_flap() -> None:
    # Inside, then alternating a metre either side of the edge at x = 10.
    _, seen = _walk([(5, 5), (5, 5), *[(9.0, 5.0), (11.0, 5.0)] * 10])
    assert [type(c) for c in seen] == [Entered]


def test_entry_needs_two_fixes_and_exit_needs_leaving_the_margin() -> None:
    presence, seen = _walk([(5, 5)])
    assert seen == []
    assert presence.zone_id == ""
    presence, seen = _walk([(5, 5), (5, 5), (15, 5), (15, 5), (25, 5), (25, 5)])
    kinds = [(type(c).__name__, getattr(c, "zone_id", "")) for c in seen]
    assert kinds == [("Entered", "a"), ("Exited", "a"), ("Entered", "b")]
    exited = next(c for c in seen if isinstance(c, Exited))
    # Dwell from the first fix inside to the first fix outside.
    assert exited.dwell_seconds == 2.0
    entered_b = [c for c in seen if isinstance(c, Entered)][1]
    assert entered_b.came_from == "a"


def test_dwell_thresholds_are_reported_once_each_while_in_the_zone() -> None:
    _, seen = _walk([(5, 5)] * 40, thresholds=(10, 30, 60))
    reached = [c for c in seen if isinstance(c, DwellReached)]
    assert [c.threshold_s for c in reached] == [10, 30]
    assert all(c.dwell_seconds >= c.threshold_s for c in reached)


def test_a_visit_ends_with_the_exit_from_its_zone() -> None:
    presence, _ = _walk([(5, 5), (5, 5), (5, 5)])
    cleared, changes = end_visit(presence)
    assert cleared == Presence()
    assert isinstance(changes[0], Exited)
    assert changes[0].dwell_seconds == 2.0
    assert isinstance(changes[1], VisitClosed)
    assert changes[1].zone_ids == ("a",)


def test_a_late_fix_never_moves_the_clock_back() -> None:
    presence, _ = _walk([(5, 5), (5, 5)])
    later, changes = observe(presence, [ZONE_A], (25, 5), T0 - timedelta(seconds=5), lambda _z: ())
    assert later == presence
    assert changes == []


# ---- venue rules ------------------------------------------------------------------------


def test_zones_must_be_simple_and_on_the_floor() -> None:
    venue = Venue("s", 0, (FloorPlan(0, "G", 40, 30),))
    bowtie = Zone("s", "z", "", 0, ((0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0)))
    assert "cross" in check_zone(bowtie, venue).items[0][1]
    outside = Zone("s", "z", "", 0, ((30.0, 0.0), (45.0, 0.0), (45.0, 10.0), (30.0, 10.0)))
    assert check_zone(outside, venue).items == [("zone.area.vertices", "must lie inside the floor (40 m x 30 m)")]
    elsewhere = Zone("s", "z", "", 3, ZONE_A.area)
    assert check_zone(elsewhere, venue).items[0][0] == "zone.floor"
    assert check_zone(ZONE_A, venue).items == []


def test_floors_need_a_size_and_distinct_numbers() -> None:
    venue = Venue("s", 0, (FloorPlan(0, "G", 0, 30), FloorPlan(0, "G", 10, 10)))
    paths = [path for path, _ in check_venue(venue).items]
    assert paths == ["venue.floors[0].width_m", "venue.floors[1].floor"]


def test_geometry() -> None:
    square = ZONE_A.area
    assert geometry.contains(square, (10, 5))
    assert not geometry.contains(square, (10.5, 5))
    assert geometry.within(square, (11, 5), 1.5)
    assert not geometry.within(square, (12, 5), 1.5)
    assert geometry.heading((0, 0), (0, 1)) == 0
    assert geometry.heading((0, 0), (1, 0)) == 90
    assert geometry.simplicity_problem(((0.0, 0.0), (1.0, 1.0))) == "must have at least 3 vertices"


# ---- navigation -------------------------------------------------------------------------


def test_the_route_goes_around_an_obstacle() -> None:
    shelf = ((5.0, 0.0), (7.0, 0.0), (7.0, 16.0), (5.0, 16.0))
    plan = FloorPlan(0, "G", 20, 20, obstacles=(shelf,))
    target = Zone("s", "t", "", 0, ((10.0, 2.0), (14.0, 2.0), (14.0, 6.0), (10.0, 6.0)))
    found = route(plan, (2.0, 4.0), target)
    straight = math.dist((2.0, 4.0), (10.0, 4.0))
    assert found.distance_m > straight + 10
    # Every leg of the path stays clear of the shelf.
    for a, b in zip(found.path, found.path[1:], strict=False):
        for t in np.linspace(0, 1, 50):
            point = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
            assert not geometry.contains(shelf, point) or geometry.distance_to_boundary(shelf, point) < 0.3
    # First north, around the end of the shelf.
    assert found.heading_deg < 45 or found.heading_deg > 315
    assert found.steps[-1].instruction == "arrive"
    assert any(s.instruction in ("turn right", "turn left") for s in found.steps)


# ---- BLE, tracking, analytics -------------------------------------------------------------


def test_ble_ranging_and_least_squares() -> None:
    beacons = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (10.0, 10.0)]
    truth = (3.0, 4.0)
    ranged = []
    for b in beacons:
        d = math.dist(b, truth)
        rssi = -59.0 - 10 * ble.PATH_LOSS_EXPONENT * math.log10(d)
        ranged.append(ble.Ranged(b, ble.distance_m(rssi, -59.0)))
    fix = ble.locate(ranged)
    assert fix is not None
    assert math.dist(fix.position, truth) < 0.05


def test_the_kalman_track_smooths_noise() -> None:
    rng = np.random.default_rng(1)
    track = None
    raw_errors, smooth_errors = [], []
    for i in range(60):
        truth = (5 + 0.8 * i, 10.0)
        measured = (truth[0] + rng.normal(0, 3), truth[1] + rng.normal(0, 3))
        track = tracking.update(track, 1.0, 0, measured, 3.0)
        if i > 10:
            raw_errors.append(math.dist(measured, truth))
            smooth_errors.append(math.dist(track.position, truth))
    assert np.mean(smooth_errors) < 0.7 * np.mean(raw_errors)


def _textbook_update(track: tracking.Track, dt: float, point: tuple[float, float], accuracy: float) -> np.ndarray:
    """The constant-velocity Kalman step in its matrix form, the reference for the scalar one."""
    x = np.array(track.state[:4])
    p = np.array(track.state[4:]).reshape(4, 4)
    f = np.array([[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float64)
    g = np.array([[dt * dt / 2, 0], [0, dt * dt / 2], [dt, 0], [0, dt]])
    h = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float64)
    x, p = f @ x, f @ p @ f.T + g @ g.T * tracking.ACCELERATION_SD**2
    gain = p @ h.T @ np.linalg.inv(h @ p @ h.T + np.eye(2) * accuracy**2)
    x = x + gain @ (np.array(point) - h @ x)
    return np.concatenate([x, ((np.eye(4) - gain @ h) @ p).reshape(-1)])


def test_the_kalman_step_is_the_textbook_one() -> None:
    rng = np.random.default_rng(7)
    track = tracking.start(0, (10.0, 10.0), 4.0)
    for _ in range(200):
        dt, point, accuracy = float(rng.uniform(0.1, 5)), tuple(rng.uniform(0, 40, 2)), float(rng.uniform(1, 8))
        expected = _textbook_update(track, dt, point, accuracy)
        speed = math.hypot(expected[2], expected[3])
        if speed > tracking.MAX_SPEED_M_S:
            expected[2:4] *= tracking.MAX_SPEED_M_S / speed
        track = tracking.update(track, dt, 0, point, accuracy)
        assert np.allclose(track.state, expected, rtol=1e-9, atol=1e-9)


def test_heatmap_counts_and_png() -> None:
    counts = heat_counts(np.array([0.5, 0.6, 3.2]), np.array([0.5, 0.7, 1.1]), 4.0, 2.0, 1.0)
    assert counts.shape == (2, 4)
    assert counts[0, 0] == 2
    assert counts[1, 3] == 1
    png = render_png(counts)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (32, 16)
    idat = png[png.index(b"IDAT") + 4 : png.index(b"IEND") - 8]
    assert len(zlib.decompress(idat)) == height * (1 + width * 3)


def test_dwell_percentiles() -> None:
    summary = summarise([10.0, 20.0, 30.0, 40.0, 100.0])
    assert summary.visits == 5
    assert summary.p50_s == 30.0
    assert summary.p90_s == 76.0
    assert summary.mean_s == 40.0
    assert summarise([]).visits == 0
