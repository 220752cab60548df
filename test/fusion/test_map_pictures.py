"""The result pictures are readable (issue 17): map.png zooms to the flowers, shows visible markers, a labelled
path (one per run for a season) and a handful of legend entries; count_over_time.png names the bag and its
date. Checked on the figure objects (limits, artists, legend), not on pixels."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from fusion_synthetic import enu_config, feed, make_field, rig
from mars_fusion import FlowerMapper
from mars_fusion.exports.png_export import MIN_MARGIN_M, map_figure
from mars_fusion.snapshot import MapSnapshot

MAX_LEGEND_ENTRIES = 7


@pytest.fixture(scope="module")
def snapshot() -> MapSnapshot:
    field = make_field(n_flowers=12, gnss_sd=0.005, seed=11)
    mapper = FlowerMapper(enu_config(), field.rig)
    feed(mapper, field.messages)
    mapper.finalize()
    assert mapper.count() > 5
    return mapper.snapshot()


def _legend_labels(fig) -> list:
    legend = fig.axes[0].get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend is not None else []


def test_the_map_zooms_to_the_flowers_not_to_a_long_drive(snapshot):
    xy = snapshot.flowers.xyz[:, :2]
    long_drive = np.column_stack([np.linspace(-60.0, 60.0, 50), np.full(50, xy[:, 1].mean())])
    fig = map_figure(dataclasses.replace(snapshot, path_xy=long_drive))
    ax = fig.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    margin = max(0.05 * float(np.ptp(xy, axis=0).max()), MIN_MARGIN_M) + 1e-9
    assert x0 <= xy[:, 0].min() and x1 >= xy[:, 0].max() and y0 <= xy[:, 1].min() and y1 >= xy[:, 1].max()
    assert x0 >= xy[:, 0].min() - margin and x1 <= xy[:, 0].max() + margin
    assert y0 >= xy[:, 1].min() - margin and y1 <= xy[:, 1].max() + margin


def test_markers_are_visible_and_the_path_is_labelled_with_its_start(snapshot):
    fig = map_figure(snapshot)
    ax = fig.axes[0]
    sizes = np.concatenate([c.get_sizes() for c in ax.collections])
    assert sizes.size and sizes.min() >= 10
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(snapshot)
    labels = _legend_labels(fig)
    assert "robot path" in labels and any(label.startswith("flowers") for label in labels), labels
    assert any(t.get_text() == "start" for t in ax.texts)
    assert f"{len(snapshot)} flowers" in ax.get_title()


def test_many_plots_give_a_handful_of_legend_entries(snapshot):
    plots = np.array([f"plot{i % 20:02d}" for i in range(len(snapshot))])
    fig = map_figure(dataclasses.replace(snapshot, plot_ids=plots))
    labels = _legend_labels(fig)
    assert len(labels) <= MAX_LEGEND_ENTRIES, labels
    assert any("other plots" in label for label in labels), labels
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == len(snapshot)  # none dropped


def test_a_season_draws_one_path_per_run(snapshot):
    base = snapshot.path_xy
    runs = [(f"day{k}/bag", base + [0.0, 0.3 * k]) for k in range(4)]
    fig = map_figure(snapshot, paths=runs)
    path_lines = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) == len(base)]
    assert len(path_lines) == 4  # each run its own line: no jump from one run's end to the next one's start
    labels = _legend_labels(fig)
    assert "robot paths (4 runs)" in labels and len(labels) <= MAX_LEGEND_ENTRIES, labels
    two = _legend_labels(map_figure(snapshot, paths=runs[:2]))
    assert "day0/bag" in two and "day1/bag" in two


def test_an_empty_map_still_draws(snapshot):
    empty = dataclasses.replace(snapshot, flowers=snapshot.flowers.select(np.zeros(len(snapshot), bool)),
                                latitude=snapshot.latitude[:0], longitude=snapshot.longitude[:0],
                                altitude=snapshot.altitude[:0], plot_ids=snapshot.plot_ids[:0])
    fig = map_figure(empty)
    assert fig.axes[0].get_title() == "0 flowers"


def test_count_over_time_is_titled_with_the_bag_and_its_date(tmp_path):
    from mars_pipeline.bag_counting import CountReport
    from mars_pipeline.count_outputs import count_plot_figure
    from mars_pipeline.counting_pipeline import CountingPipeline

    pipeline = CountingPipeline(rig())
    start = 1_784_127_601_000_000_000  # 2026-07-15 15:00:01 UTC
    pipeline.first_stamp_ns = start
    pipeline.count_series = [(start + k * 1_000_000_000, k, {n: k for n in pipeline.trackers}) for k in range(5)]
    report = CountReport(Path("/data/2026-07-15/run1"), pipeline, "given")
    title = count_plot_figure(report).axes[0].get_title()
    assert "2026-07-15/run1" in title and "2026-07-15 15:00 UTC" in title, title
