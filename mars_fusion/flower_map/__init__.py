"""The de-duplicated flower map: spatial hash grid, track association, consolidation."""
from mars_fusion.flower_map.flower_map import FlowerMap, FlowerTable
from mars_fusion.flower_map.grid_index import GridIndex
from mars_fusion.flower_map.ray_matching import ray_distances, simultaneous_pairs

__all__ = ["FlowerMap", "FlowerTable", "GridIndex", "ray_distances", "simultaneous_pairs"]
