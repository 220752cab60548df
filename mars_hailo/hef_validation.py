"""Check a .hef against what the camera node expects; reused by the camera node at start-up.

With HailoRT (`hailo_platform.HEF`) the streams are read from the HEF itself. Without it, the HEF header is
checked (magic, version, size, MD5 for v0 headers) and the streams come from the description that
`mars-hailo compile` writes next to the HEF (`<model>.hef.json`). The header layout follows HailoRT's
hef_internal.hpp (big-endian magic 0x01484546, version, proto size, reserved, MD5 in v0); only v0 is
checked byte for byte, later versions for magic and size (assumption, documented in the README section "Compile your model for the Hailo").
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from mars_camera.detectors.hailo_output_roles import (ROLES, ExpectedOutputs, OutputStream,  # noqa: F401 (ROLES)
                                                      assign_output_roles,
                                                      hailort_enum_name)
from mars_hailo.errors import HefValidationError, check_input_file

HEF_MAGIC = 0x01484546
HEF_HEADER_V0_SIZE = 32
KNOWN_HEF_VERSIONS = (0, 1, 2, 3)


@dataclass(frozen=True)
class StreamInfo:
    """One input or output stream as HailoRT describes it (shape HWC without batch)."""

    name: str
    shape: tuple[int, ...]
    format_type: str
    format_order: str
    role: str | None = None
    stride: int | None = None
    nms_classes: int | None = None
    nms_max_proposals: int | None = None
    original_names: tuple[str, ...] = ()  # the ONNX end node(s) this stream comes from

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "shape": list(self.shape), "format_type": self.format_type,
                "format_order": self.format_order, "role": self.role, "stride": self.stride,
                "nms_classes": self.nms_classes, "nms_max_proposals": self.nms_max_proposals,
                "original_names": list(self.original_names)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> "StreamInfo":
        """Parse the JSON form, naming the bad key."""
        try:
            return cls(str(d["name"]), tuple(int(v) for v in d["shape"]), str(d["format_type"]),
                       str(d["format_order"]), d.get("role"), d.get("stride"), d.get("nms_classes"),
                       d.get("nms_max_proposals"), tuple(str(n) for n in d.get("original_names", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise HefValidationError(f"{where}: bad stream entry {d!r}: {exc}") from exc


@dataclass(frozen=True)
class HefDescription:
    """Inputs, outputs and architecture of a HEF, and where this knowledge came from."""

    path: str
    source: str  # "hailort" or "description"
    hw_arch: str | None
    network_name: str | None
    inputs: tuple[StreamInfo, ...]
    outputs: tuple[StreamInfo, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the `<model>.hef.json` written by compile)."""
        return {"hef": Path(self.path).name, "hw_arch": self.hw_arch, "network_name": self.network_name,
                "inputs": [s.to_dict() for s in self.inputs], "outputs": [s.to_dict() for s in self.outputs],
                **self.extra}


@dataclass(frozen=True)
class HefExpectation:
    """What the camera node will expect of the HEF."""

    input_hw: tuple[int, int]
    num_classes: int
    nms: bool
    hw_arch: str | None = None
    feature_channels: int | None = None
    feature_stride: int = 8
    strides: tuple[int, ...] = (8, 16, 32)
    reg_max: int = 16
    input_format_type: str = "UINT8"
    feature_output_name: str | None = None
    # ONNX end node -> role ("box", "cls", "features"): tells streams of equal shape apart (e.g. YOLOv8n's
    # 64-channel stride-8 neck map and the 64-channel DFL box head) through HailoRT's original names.
    original_roles: tuple[tuple[str, str], ...] = ()
    # YOLOv5 raw heads: one anchor conv of na*(5+nc) channels per scale and no class conv.
    box_channels: int | None = None
    class_heads: bool = True


@dataclass(frozen=True)
class HefHeader:
    """The fixed part of a HEF file."""

    version: int
    proto_size: int
    file_size: int
    md5_ok: bool | None


@dataclass
class ValidationReport:
    """Result of validate_hef: problems (empty = ok), what was checked, and what could not be."""

    hef: str
    description: HefDescription | None
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    drift: dict[str, float] | None = None

    @property
    def ok(self) -> bool:
        """True when nothing checked was wrong."""
        return not self.problems

    def to_text(self) -> str:
        """Human-readable report."""
        lines = [f"HEF: {self.hef}: {'OK' if self.ok else 'PROBLEMS'}"]
        if self.description is not None:
            d = self.description
            lines.append(f"  source: {d.source}, arch: {d.hw_arch}, network: {d.network_name}")
            for s in d.inputs:
                lines.append(f"  input  {s.name}: {list(s.shape)} {s.format_type} {s.format_order}")
            for s in d.outputs:
                extra = f" classes={s.nms_classes} max/class={s.nms_max_proposals}" if s.nms_classes else ""
                lines.append(f"  output {s.name}: {list(s.shape)} {s.format_type} {s.format_order} "
                             f"role={s.role}{extra}")
        lines += [f"  ok: {c}" for c in self.checked]
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        lines += [f"  not checked: {u}" for u in self.unchecked]
        if self.drift:
            lines.append("  quantization drift: " + ", ".join(f"{k}={v:.4f}" for k, v in self.drift.items()))
        return "\n".join(lines)


def description_path(hef: str | Path) -> Path:
    """Where compile writes the description of a HEF: `<model>.hef.json`."""
    return Path(str(hef) + ".json")


def read_hef_header(path: str | Path) -> HefHeader:
    """Check the HEF header (magic, version, sizes, MD5 for v0); raises HefValidationError naming the file."""
    p = Path(path)
    check_input_file(p, "HEF", HefValidationError, "a Hailo HEF")
    data = p.read_bytes()
    if len(data) < 16:
        raise HefValidationError(f"HEF {p}: {len(data)} bytes, too short for a HEF header")
    magic, version, proto_size, _ = struct.unpack(">IIII", data[:16])
    if magic != HEF_MAGIC:
        raise HefValidationError(f"HEF {p}: bad magic 0x{magic:08x} (expected 0x{HEF_MAGIC:08x}): not a HEF")
    if version not in KNOWN_HEF_VERSIONS:
        raise HefValidationError(f"HEF {p}: unknown header version {version}")
    md5_ok: bool | None = None
    if version == 0:
        if len(data) != HEF_HEADER_V0_SIZE + proto_size:
            raise HefValidationError(f"HEF {p}: header says {proto_size} payload bytes, file has "
                                     f"{len(data) - HEF_HEADER_V0_SIZE} (truncated or corrupted)")
        md5_ok = hashlib.md5(data[HEF_HEADER_V0_SIZE:]).digest() == data[16:32]
        if not md5_ok:
            raise HefValidationError(f"HEF {p}: MD5 of the payload does not match the header (corrupted)")
    elif proto_size > len(data):
        raise HefValidationError(f"HEF {p}: header says {proto_size} payload bytes, file has {len(data)}")
    return HefHeader(version, proto_size, len(data), md5_ok)


def hailort_hef_class() -> Any:
    """`hailo_platform.HEF` when HailoRT is installed, else None."""
    try:
        from hailo_platform import HEF  # lazy: only on machines with HailoRT
    except ImportError:
        return None
    return HEF


def description_from_hailort(hef: Any, path: str) -> HefDescription:
    """Describe a `hailo_platform.HEF` object (vstream infos: name, shape, format.type/.order, nms_shape)."""
    def originals(name: str) -> tuple[str, ...]:
        try:
            return tuple(str(n) for n in hef.get_original_names_from_vstream_name(name))
        except Exception:  # not every stream has original names (e.g. the NMS output)
            return ()

    def info(v: Any) -> StreamInfo:
        order = hailort_enum_name(v.format.order)
        nms = getattr(v, "nms_shape", None) if "NMS" in order.upper() else None
        return StreamInfo(str(v.name), tuple(int(x) for x in v.shape), hailort_enum_name(v.format.type), order,
                          nms_classes=int(nms.number_of_classes) if nms is not None else None,
                          nms_max_proposals=int(nms.max_bboxes_per_class) if nms is not None else None,
                          original_names=originals(str(v.name)))
    names = hef.get_network_group_names() if hasattr(hef, "get_network_group_names") else []
    return HefDescription(path, "hailort", None, names[0] if names else None,
                          tuple(info(v) for v in hef.get_input_vstream_infos()),
                          tuple(info(v) for v in hef.get_output_vstream_infos()))


def description_from_json(path: str | Path, hef_path: str | Path | None = None) -> HefDescription:
    """Load a HEF description JSON (written by compile next to the HEF)."""
    p = Path(path)
    if not p.is_file():
        raise HefValidationError(f"HEF description {p} does not exist; without HailoRT it is needed to check "
                                 "the streams (compile writes it next to the .hef)")
    try:
        d = json.loads(p.read_text())
        inputs = tuple(StreamInfo.from_dict(s, str(p)) for s in d["inputs"])
        outputs = tuple(StreamInfo.from_dict(s, str(p)) for s in d["outputs"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise HefValidationError(f"HEF description {p} is malformed: {exc}") from exc
    extra = {k: v for k, v in d.items() if k not in ("hef", "hw_arch", "network_name", "inputs", "outputs")}
    return HefDescription(str(hef_path or d.get("hef", "")), "description", d.get("hw_arch"),
                          d.get("network_name"), inputs, outputs, extra)


def describe_hef(path: str | Path, use_hailort: bool = True) -> HefDescription:
    """Describe a HEF with HailoRT when importable, else from its description JSON (header checked first)."""
    p = Path(path)
    check_input_file(p, "HEF", HefValidationError, "a Hailo HEF")
    hef_cls = hailort_hef_class() if use_hailort else None
    if hef_cls is None:
        read_hef_header(p)
    else:
        try:
            hef = hef_cls(str(p))  # HailoRT validates the file itself
        except Exception as exc:
            raise HefValidationError(f"HailoRT cannot read HEF {p}: {type(exc).__name__}: {exc}") from exc
        if hef is not None:
            desc = description_from_hailort(hef, str(p))
            side = description_path(p)
            if side.is_file():  # HailoRT does not expose the architecture; the compile record does
                rec = description_from_json(side, p)
                desc = HefDescription(desc.path, desc.source, rec.hw_arch, desc.network_name, desc.inputs,
                                      desc.outputs, rec.extra)
            return desc
    return description_from_json(description_path(p), p)


def assign_roles(outputs: Sequence[StreamInfo], exp: HefExpectation) -> list[StreamInfo]:
    """Role of each output (nms / box / cls / features) from its format and shape when not recorded.

    A role recorded in the description (compile writes them) is kept; the others come from the assignment the
    camera's Hailo backend uses too (mars_camera.detectors.hailo_output_roles).
    """
    expected = ExpectedOutputs(
        exp.input_hw[0], feature_names=frozenset([exp.feature_output_name] if exp.feature_output_name else []),
        feature_stride=exp.feature_stride, box_channels=exp.box_channels or 4 * exp.reg_max,
        num_classes=exp.num_classes, nms=exp.nms, original_roles=exp.original_roles)
    assigned = assign_output_roles([OutputStream(s.name, tuple(s.shape), s.format_order, s.original_names)
                                    for s in outputs], expected)
    out = []
    for s, a in zip(outputs, assigned):
        role, stride = (s.role, s.stride) if s.role is not None else (a.role, a.stride if a.stride is not None
                                                                       else s.stride)
        out.append(StreamInfo(s.name, s.shape, s.format_type, s.format_order, role, stride, s.nms_classes,
                              s.nms_max_proposals, s.original_names))
    return out


def check_description(desc: HefDescription, exp: HefExpectation, report: ValidationReport) -> None:
    """Compare a description with the expectation, appending to report.problems / checked / unchecked."""
    h, w = exp.input_hw
    if exp.hw_arch is not None:
        if desc.hw_arch is None:
            report.unchecked.append(f"architecture (expected {exp.hw_arch}; not recorded in this HEF's "
                                    "description; HailoRT reports a mismatch at configure time)")
        elif desc.hw_arch != exp.hw_arch:
            report.problems.append(f"compiled for {desc.hw_arch}, the camera has a {exp.hw_arch}: a {desc.hw_arch} "
                                   f"HEF does not run on a {exp.hw_arch}; recompile with hw_arch: {exp.hw_arch}")
        else:
            report.checked.append(f"architecture {desc.hw_arch}")
    if len(desc.inputs) != 1:
        report.problems.append(f"expected one input stream, found {[s.name for s in desc.inputs]}")
    else:
        i = desc.inputs[0]
        if tuple(i.shape) != (h, w, 3):
            report.problems.append(f"input {i.name} shape {list(i.shape)}, expected [{h}, {w}, 3] (HWC)"
                                   + _input_size_hint(desc, tuple(i.shape), (h, w)))
        else:
            report.checked.append(f"input {i.name} {h}x{w}x3")
        if i.format_type.upper() != exp.input_format_type:
            report.problems.append(f"input {i.name} format {i.format_type}, expected {exp.input_format_type}")
        if i.format_order.upper() not in ("NHWC", "HAILO_NHWC"):
            report.problems.append(f"input {i.name} order {i.format_order}, expected NHWC")
    outs = assign_roles(desc.outputs, exp)
    by_role: dict[str | None, list[StreamInfo]] = {}
    for s in outs:
        by_role.setdefault(s.role, []).append(s)
    if exp.nms:
        nms = by_role.get("nms", [])
        if len(nms) != 1:
            report.problems.append(f"expected one NMS output (HAILO_NMS_BY_CLASS), found {len(nms)}: the HEF "
                                   "was compiled " + ("with raw heads" if by_role.get("box") else "differently"))
        else:
            n = nms[0]
            if n.nms_classes is not None and n.nms_classes != exp.num_classes:
                report.problems.append(f"NMS output {n.name} has {n.nms_classes} classes, expected {exp.num_classes}")
            else:
                report.checked.append(f"NMS output {n.name} ({n.nms_classes} classes)")
        if by_role.get("box") or by_role.get("cls"):
            report.problems.append("raw head outputs present although NMS is expected")
    else:
        if by_role.get("nms"):
            report.problems.append("the HEF has NMS on chip but the camera expects raw heads")
        for stride in exp.strides:
            gh, gw = h // stride, w // stride
            heads = [("box", exp.box_channels or 4 * exp.reg_max)]
            if exp.class_heads:
                heads.append(("cls", exp.num_classes))
            for role, c in heads:
                hits = [s for s in by_role.get(role, []) if tuple(s.shape) == (gh, gw, c)]
                if len(hits) != 1:
                    report.problems.append(f"expected one {role} output of shape [{gh}, {gw}, {c}] (stride "
                                           f"{stride}), found {len(hits)}")
                else:
                    report.checked.append(f"{role} output stride {stride} {hits[0].name}")
    feats = by_role.get("features", [])
    if exp.feature_channels is not None or exp.feature_output_name is not None:
        fh, fw = h // exp.feature_stride, w // exp.feature_stride
        if len(feats) != 1:
            report.problems.append(f"expected one feature output at stride {exp.feature_stride} ([{fh}, {fw}, C]), "
                                   f"found {[s.name for s in feats]}")
        else:
            f = feats[0]
            if tuple(f.shape[:2]) != (fh, fw) or (exp.feature_channels is not None
                                                  and f.shape[2] != exp.feature_channels):
                report.problems.append(f"feature output {f.name} shape {list(f.shape)}, expected "
                                       f"[{fh}, {fw}, {exp.feature_channels or 'C'}]")
            else:
                report.checked.append(f"feature output {f.name} {list(f.shape)}")
    unknown = by_role.get(None, [])
    if unknown:
        report.problems.append(f"unexpected outputs {[s.name for s in unknown]} {[list(s.shape) for s in unknown]}")


def _input_size_hint(desc: HefDescription, shape: tuple[int, ...], want_hw: tuple[int, int]) -> str:
    """Why the HEF input differs (a compile resolution fallback, when recorded) and what to change."""
    if len(shape) != 3:
        return ""
    ih, iw = int(shape[0]), int(shape[1])
    onnx_hw = desc.extra.get("onnx_input_hw")
    why = ""
    if isinstance(onnx_hw, list) and len(onnx_hw) == 2 and (ih, iw) != tuple(onnx_hw):
        why = (f": the HEF was compiled at {ih}x{iw} instead of the ONNX's {onnx_hw[0]}x{onnx_hw[1]} "
               "(resolution fallback)")
    return (f"{why}; configure the camera with input_width={iw} input_height={ih}, or compile at "
            f"{want_hw[0]}x{want_hw[1]}" + (" (needs a model that fits the chip at that size)" if why else ""))


def validate_hef(path: str | Path, exp: HefExpectation, use_hailort: bool = True) -> ValidationReport:
    """Header + stream checks of a HEF against the expectation; never raises for a mismatch (see .problems)."""
    report = ValidationReport(str(path), None)
    try:
        if use_hailort and hailort_hef_class() is not None:
            report.checked.append("HEF read by HailoRT")
        else:
            header = read_hef_header(path)
            report.checked.append(f"header v{header.version}, {header.proto_size} payload bytes"
                                  + (", MD5 ok" if header.md5_ok else ""))
        desc = describe_hef(path, use_hailort)
    except HefValidationError as exc:
        report.problems.append(str(exc))
        return report
    report.description = desc
    check_description(desc, exp, report)
    return report


def expectation_from_description_extra(desc: HefDescription, hw_arch: str | None = None) -> HefExpectation | None:
    """The expectation recorded by compile (used when validating without an ONNX)."""
    e = desc.extra.get("expectation")
    if not e:
        return None
    return HefExpectation(tuple(e["input_hw"]), int(e["num_classes"]), bool(e["nms"]), hw_arch or desc.hw_arch,
                          e.get("feature_channels"), int(e.get("feature_stride", 8)),
                          tuple(e.get("strides", (8, 16, 32))), int(e.get("reg_max", 16)),
                          feature_output_name=e.get("feature_output_name"),
                          original_roles=tuple((str(k), str(v)) for k, v in e.get("original_roles", {}).items()),
                          box_channels=e.get("box_channels"), class_heads=bool(e.get("class_heads", True)))
