"""The de-duplicated flower map: store, spatial hash grid, track matching, consolidation."""
from mars_fusion.flower_map.flower_map import FlowerMap
from mars_fusion.flower_map.flower_store import FlowerStore, FlowerTable
from mars_fusion.flower_map.grid_index import GridIndex
from mars_fusion.flower_map.ray_matching import ray_distances, simultaneous_pairs

__all__ = ["FlowerMap", "FlowerStore", "FlowerTable", "GridIndex", "ray_distances", "simultaneous_pairs"]
