"""Camera geometry shared by the simulator, the tracker's motion prior and the fusion: one camera model."""
from mars_core.geometry.camera_model import CameraIntrinsics, CameraExtrinsics, CameraModel, R_LINK_FROM_OPTICAL
from mars_core.geometry.rotations import rotation_from_rpy

__all__ = ["CameraIntrinsics", "CameraExtrinsics", "CameraModel", "R_LINK_FROM_OPTICAL", "rotation_from_rpy"]
