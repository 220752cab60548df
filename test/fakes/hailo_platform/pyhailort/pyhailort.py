"""FAKE of hailo_platform.pyhailort.pyhailort: the InferModel API classes, exceptions and enums."""
from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Optional


from hailo_platform import _fake_control as _fc

BBOX_PARAMS = 5


# ---- exceptions (same hierarchy and names as HailoRT) ----------------------------------------------------
class HailoRTException(Exception):
    pass


class HailoRTTimeout(HailoRTException):
    pass


class HailoRTStreamAborted(HailoRTException):
    pass


class HailoRTStreamAbortedByUser(HailoRTException):
    pass


class HailoRTInvalidOperationException(HailoRTException):
    pass


class HailoRTInvalidArgumentException(HailoRTException):
    pass


class HailoRTNotFoundException(HailoRTException):
    pass


class HailoRTInvalidHEFException(HailoRTException):
    pass


class HailoRTHEFNotCompatibleWithDevice(HailoRTException):
    pass


class HailoRTDriverOperationFailedException(HailoRTException):
    pass


class HailoCommunicationClosedException(HailoRTException):
    pass


# ---- enums ---------------------------------------------------------------------------------------------
class FormatType(enum.IntEnum):
    AUTO = 0
    UINT8 = 1
    UINT16 = 2
    FLOAT32 = 3


class FormatOrder(enum.IntEnum):
    AUTO = 0
    NHWC = 1
    NHCW = 2
    FCR = 3
    F8CR = 4
    NHW = 5
    NC = 6
    HAILO_NMS_BY_CLASS = 11
    NCHW = 12
    HAILO_NMS_WITH_BYTE_MASK = 13
    HAILO_NMS_BY_SCORE = 14


class HailoSchedulingAlgorithm(enum.IntEnum):
    NONE = 0
    ROUND_ROBIN = 1


@dataclass
class _Format:
    type: FormatType
    order: FormatOrder


@dataclass
class _QuantInfo:
    qp_zp: float
    qp_scale: float
    limvals_min: float
    limvals_max: float


@dataclass
class _NmsShape:
    number_of_classes: int
    max_bboxes_per_class: int


class VStreamInfo:
    """Mirrors _pyhailort.VStreamInfo: name, shape (H, W, C / NMS shape), format, quant_info, nms_shape."""

    def __init__(self, name: str, shape: tuple, fmt: _Format, quant: _QuantInfo,
                 nms_shape: Optional[_NmsShape] = None, network_name: str = "") -> None:
        self.name = name
        self.shape = shape
        self.format = fmt
        self.quant_info = quant
        self.nms_shape = nms_shape
        self.network_name = network_name

    def __repr__(self) -> str:
        return f"VStreamInfo({self.name!r})"


class HEF:
    """Python representation of a (fake) HEF file."""

    def __init__(self, hef_source):
        if isinstance(hef_source, str):
            self._desc = _fc.read_fake_hef(hef_source)
            self._path = hef_source
        elif isinstance(hef_source, bytes):
            self._desc = _fc.parse_fake_hef(hef_source, "<buffer>")
            self._path = None
        else:
            raise ValueError("HEF can only be created from a file path (str) or a buffer (bytes)")
        self._net = _fc.network_for(self._desc)

    @property
    def path(self):
        return self._path

    def get_network_group_names(self):
        return [self._desc["network_group"]]

    def get_input_vstream_infos(self, name=None):
        return [self._net.input_info]

    def get_output_vstream_infos(self, name=None):
        return list(self._net.output_infos)

    def get_all_vstream_infos(self, name=None):
        return [self._net.input_info] + list(self._net.output_infos)

    def get_sorted_output_names(self, network_group_name=None):
        return [i.name for i in self._net.output_infos]

    def get_original_names_from_vstream_name(self, vstream_name, network_group_name=None):
        if vstream_name not in self._net.originals:
            raise HailoRTNotFoundException("Item not found. See hailort.log for more information")
        return list(self._net.originals[vstream_name])

    def get_vstream_name_from_original_name(self, original_name, network_group_name=None):
        for vname, originals in self._net.originals.items():
            if original_name in originals:
                return vname
        raise HailoRTNotFoundException("Item not found. See hailort.log for more information")


class _VDeviceParams:
    def __init__(self) -> None:
        self.scheduling_algorithm = HailoSchedulingAlgorithm.ROUND_ROBIN
        self.device_count = 1
        self.group_id = "UNIQUE"
        self.multi_process_service = False


class AsyncInferCompletionInfo:
    """Holds information about the async infer job."""

    def __init__(self, exception):
        self._exception = exception

    @property
    def exception(self):
        return self._exception


class AsyncInferJob:
    """Hailo asynchronous inference job wrapper."""

    MILLISECOND = (1 / 1000)

    def __init__(self, job):
        self._job = job

    def wait(self, timeout_ms):
        if not self._job.wait(timeout_ms / 1000.0):
            raise HailoRTTimeout("Received a timeout - hailort has failed because a timeout had occurred")


class InferModel:
    """Contains all the information needed to configure the network for inference."""

    class InferStream:
        def __init__(self, infer_stream):
            self._infer_stream = infer_stream

        @property
        def name(self):
            return self._infer_stream.name

        @property
        def shape(self):
            return self._infer_stream.user_shape()

        @property
        def format(self):
            return _Format(self._infer_stream.format_type, self._infer_stream.info.format.order)

        def set_format_type(self, type):
            self._infer_stream.format_type = FormatType(type)

        def set_format_order(self, order):
            self._infer_stream.info.format.order = FormatOrder(order)

        @property
        def quant_infos(self):
            return [self._infer_stream.info.quant_info]

        @property
        def is_nms(self):
            return self._infer_stream.info.nms_shape is not None

        def set_nms_score_threshold(self, threshold):
            self._infer_stream.nms_score_threshold = float(threshold)

        def set_nms_iou_threshold(self, threshold):
            self._infer_stream.nms_iou_threshold = float(threshold)

        def set_nms_max_proposals_per_class(self, max_proposals):
            self._infer_stream.nms_max_proposals = int(max_proposals)

    def __init__(self, infer_model, hef_path):
        self._infer_model = infer_model
        self._hef_path = hef_path
        self._hef = None

    @property
    def hef(self):
        if not self._hef:
            self._hef = HEF(self._hef_path)
        return self._hef

    def set_batch_size(self, batch_size):
        if batch_size < 1:
            raise HailoRTInvalidArgumentException("Invalid argument. See hailort.log for more information")
        self._infer_model.batch_size = batch_size

    def set_power_mode(self, power_mode):
        pass

    def configure(self):
        return ConfiguredInferModel(self._infer_model.configure(), self)

    @property
    def input_names(self):
        return [self._infer_model.input_stream.name]

    @property
    def output_names(self):
        return [s.name for s in self._infer_model.output_streams]

    @property
    def inputs(self):
        return [self.InferStream(self._infer_model.input_stream)]

    @property
    def outputs(self):
        return [self.InferStream(s) for s in self._infer_model.output_streams]

    def input(self, name=""):
        return self.InferStream(self._infer_model.find_input(name))

    def output(self, name=""):
        return self.InferStream(self._infer_model.find_output(name))


class ConfiguredInferModel:
    """Configured InferModel used to run (asynchronous) inference."""

    class Bindings:
        class InferStream:
            def __init__(self, stream, is_output):
                self._stream = stream
                self._is_output = is_output
                self._buffer = None

            @staticmethod
            def _validate_c_contiguous(buffer):
                if not buffer.flags.c_contiguous:
                    raise HailoRTException("Buffer must be C_CONTIGUOUS")

            def set_buffer(self, buffer):
                self._validate_c_contiguous(buffer)
                if buffer.nbytes != self._stream.frame_size():
                    raise HailoRTInvalidArgumentException("Invalid argument. See hailort.log for more information")
                self._buffer = buffer

            def get_buffer(self, tf_format=False):
                buffer = self._buffer
                if tf_format is None or not self._is_output or self._stream.info.nms_shape is None:
                    return buffer
                if tf_format:
                    raise HailoRTException("tf_format is not supported by the fake")
                return _fc.nms_raw_to_by_class(buffer, self._stream.info.nms_shape.number_of_classes)

        def __init__(self, model, input_names, output_names):
            self._model = model
            self._input_names = input_names
            self._output_names = output_names
            self._inputs = {}
            self._outputs = {}

        def input(self, name=""):
            if name == "" and len(self._input_names) == 1:
                name = self._input_names[0]
            if name not in self._inputs:
                self._inputs[name] = self.InferStream(self._model.find_input(name), False)
            return self._inputs[name]

        def output(self, name=""):
            if name == "" and len(self._output_names) == 1:
                name = self._output_names[0]
            if name not in self._outputs:
                self._outputs[name] = self.InferStream(self._model.find_output(name), True)
            return self._outputs[name]

        def get(self):
            return self

    def __init__(self, configured_infer_model, infer_model):
        self._configured_infer_model = configured_infer_model
        self._input_names = infer_model.input_names
        self._output_names = infer_model.output_names
        self._infer_model = infer_model
        self._buffer_guards = deque()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self._configured_infer_model = None

    def _cim(self):
        if self._configured_infer_model is None:
            raise HailoRTInvalidOperationException("Invalid operation. See hailort.log for more information")
        return self._configured_infer_model

    def create_bindings(self, input_buffers=None, output_buffers=None):
        bindings = self.Bindings(self._cim().model, self._input_names, self._output_names)
        if input_buffers:
            for input_name, buffer in input_buffers.items():
                bindings.input(input_name).set_buffer(buffer)
        if output_buffers:
            for output_name, buffer in output_buffers.items():
                bindings.output(output_name).set_buffer(buffer)
        return bindings

    def wait_for_async_ready(self, timeout_ms=1000, frames_count=1):
        self._cim().wait_ready(timeout_ms / 1000.0, frames_count)

    def run(self, bindings, timeout):
        job = self.run_async(bindings)
        job.wait(timeout)

    def run_async(self, bindings, callback=None):
        def callback_wrapper(exception):
            if callback:
                callback(completion_info=AsyncInferCompletionInfo(exception))

        for b in bindings:
            for name in self._output_names:
                if b.output(name).get_buffer(None) is None:
                    raise HailoRTInvalidOperationException("Invalid operation. See hailort.log for more information")
            if b.input().get_buffer(None) is None:
                raise HailoRTInvalidOperationException("Invalid operation. See hailort.log for more information")
        return AsyncInferJob(self._cim().submit(bindings, callback_wrapper))

    def set_scheduler_timeout(self, timeout_ms):
        pass

    def set_scheduler_threshold(self, threshold):
        pass

    def set_scheduler_priority(self, priority):
        pass

    def get_async_queue_size(self):
        return _fc.ASYNC_QUEUE_SIZE

    def shutdown(self):
        cim = self._configured_infer_model
        if cim is not None:
            cim.shutdown()


class VDevice(object):
    """Hailo virtual device representation."""

    def __init__(self, params=None, *, device_ids=None):
        self._vdevice = None
        self._params = params
        self._device_ids = device_ids
        self._loaded_network_groups = []
        self._open_vdevice()

    def _open_vdevice(self):
        if self._params is None:
            self._params = VDevice.create_params()
        self._vdevice = _fc.open_vdevice(self._params)

    def __enter__(self):
        return self

    def release(self):
        if self._vdevice is not None:
            _fc.release_vdevice(self._vdevice)
            self._vdevice = None

    def __exit__(self, *args):
        self.release()
        return False

    def __del__(self):
        self.release()

    @staticmethod
    def create_params():
        return _VDeviceParams()

    def get_physical_devices_ids(self):
        return ["0001:01:00.0"]

    def get_physical_devices(self):
        if self._vdevice is None:
            raise HailoRTInvalidOperationException("Invalid operation. See hailort.log for more information")
        return [_PhysicalDevice("0001:01:00.0")]


    def create_infer_model(self, hef_source, name=""):
        if self._vdevice is None:
            raise HailoRTInvalidOperationException("Invalid operation. See hailort.log for more information")
        hef = HEF(hef_source)
        return InferModel(_fc.FakeInferModel(self._vdevice, hef, hef._net), hef_source)


class _TemperatureInfo(object):
    """What Control.get_chip_temperature() returns: two on-die sensors (Celsius) and the sample count."""

    def __init__(self, ts0, ts1):
        self.ts0_temperature = ts0
        self.ts1_temperature = ts1
        self.sample_count = 1


class _PhysicalDeviceControl(object):
    def get_chip_temperature(self):
        return _TemperatureInfo(_fc.STATE.chip_temperature_c, _fc.STATE.chip_temperature_c - 1.5)


class _PhysicalDevice(object):
    """A physical device of a VDevice (HailoRT's Device): its id and its control channel."""

    def __init__(self, device_id):
        self.device_id = device_id
        self.control = _PhysicalDeviceControl()
