"""Reads a Hugging Face BERT directory: `config.json` and the weights.

The weights come as `model.safetensors` (read here with NumPy; no `safetensors` package
needed), as shards named by `model.safetensors.index.json` (or
`pytorch_model.bin.index.json`), or as `pytorch_model.bin` (needs PyTorch, imported only
then). `save_safetensors` writes the format too, so the tests can build HF directories.

Every problem with the input is a `ConversionError`: one line that names the file.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from bert_estimator.core.errors import UserError


class ConversionError(UserError):
    """The input cannot be converted; the message is one line and says why."""


# --------------------------------------------------------------------------------------
# safetensors, read and written with NumPy
# --------------------------------------------------------------------------------------

_ST_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # no NumPy bfloat16: read the bits, widen to float32
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


def _bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _float32_to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """Rounds float32 to bfloat16 (round to nearest even) and returns the 16-bit patterns."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return (rounded >> 16).astype(np.uint16)


def read_safetensors_header(path: str) -> tuple[dict, int]:
    """Returns ({name: {dtype, shape, data_offsets}}, offset of the data block)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ConversionError(f"{path} is not a safetensors file (shorter than 8 bytes)")
        header_len = int.from_bytes(prefix, "little")
        if header_len > size - 8:
            raise ConversionError(f"{path} is not a safetensors file (header length {header_len} "
                                  f"exceeds the file size {size})")
        try:
            header = json.loads(f.read(header_len).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConversionError(f"{path} is not a safetensors file (bad JSON header: {e})") from None
    if not isinstance(header, dict):
        raise ConversionError(f"{path} is not a safetensors file (header is not a JSON object)")
    header.pop("__metadata__", None)
    return header, 8 + header_len


def _read_tensor(f, path: str, name: str, info: dict, data_start: int, size: int) -> np.ndarray:
    """Reads one tensor described by its header entry `info` from the open file `f`."""
    dtype_name = info.get("dtype")
    if dtype_name not in _ST_DTYPES:
        raise ConversionError(f"{path}: tensor {name} has unsupported dtype {dtype_name}")
    dtype = _ST_DTYPES[dtype_name]
    shape = tuple(int(d) for d in info["shape"])
    begin, end = (int(o) for o in info["data_offsets"])
    expected = math.prod(shape) * dtype.itemsize
    if data_start + end > size:
        raise ConversionError(f"{path} is truncated: tensor {name} ends at byte {data_start + end} but the "
                              f"file has {size} bytes (an incomplete download or copy?)")
    if end - begin != expected:
        raise ConversionError(f"{path}: tensor {name} has {end - begin} bytes of data at "
                              f"[{begin}, {end}), expected {expected} for {dtype_name} {list(shape)}")
    f.seek(data_start + begin)
    array = np.frombuffer(f.read(end - begin), dtype=dtype).reshape(shape)
    if dtype_name == "BF16":
        return _bf16_bits_to_float32(array)
    if dtype_name == "F16":
        return array.astype(np.float32)
    return array.astype(dtype.newbyteorder("="), copy=True)


def load_safetensors(path: str) -> dict[str, np.ndarray]:
    """Reads every tensor of a safetensors file into NumPy arrays (copies).

    F16 and BF16 are widened to float32; F32, F64 and the integer types keep their dtype.
    """
    header, data_start = read_safetensors_header(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        return {name: _read_tensor(f, path, name, info, data_start, size) for name, info in header.items()}


def save_safetensors(path: str, tensors: dict[str, np.ndarray], dtypes: dict[str, str] | None = None,
                     metadata: dict[str, str] | None = None) -> None:
    """Writes `tensors` as a safetensors file. `dtypes` may name a safetensors dtype per
    tensor (e.g. "BF16", "F16"); by default float arrays are stored as F32 and integer
    arrays as I64. Used by the tests to build Hugging Face directories."""
    from bert_estimator.core.fileio import atomic_path  # imports TensorFlow: only when writing

    dtypes = dtypes or {}
    header: dict = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        dtype_name = dtypes.get(name) or ("I64" if np.issubdtype(array.dtype, np.integer) else "F32")
        if dtype_name == "BF16":
            data = _float32_to_bf16_bits(array).astype("<u2").tobytes()
        elif dtype_name in _ST_DTYPES:
            data = np.ascontiguousarray(array, dtype=_ST_DTYPES[dtype_name]).tobytes()
        else:
            raise ValueError(f"unsupported safetensors dtype {dtype_name}")
        header[name] = {"dtype": dtype_name, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)  # the data block starts 8-byte aligned
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(len(header_bytes).to_bytes(8, "little"))
        f.write(header_bytes)
        for data in blobs:
            f.write(data)


# --------------------------------------------------------------------------------------
# A Hugging Face directory
# --------------------------------------------------------------------------------------


def _load_torch_bin(path: str) -> dict[str, np.ndarray]:
    try:
        import torch  # optional: only pytorch_model.bin needs it
    except ImportError:
        raise ConversionError(f"{path} is a PyTorch pickle and PyTorch is not installed: install torch, "
                              "or provide model.safetensors instead") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any unpickling failure: one clear line
        raise ConversionError(f"could not read {path} with torch.load: {e}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    tensors = {}
    for name, value in state.items():
        if not hasattr(value, "numpy"):
            continue
        value = value.detach().cpu()
        tensors[name] = value.float().numpy() if value.is_floating_point() else value.numpy()
    return tensors


def _shards_of_index(hf_dir: str, index: str) -> list[str]:
    """The shard files named by the index file `index`, each checked to exist."""
    try:
        with open(index, encoding="utf-8") as f:
            weight_map = json.load(f)["weight_map"]
    except (OSError, ValueError, KeyError) as e:
        raise ConversionError(f"cannot read the shard index {index}: {e!r}") from None
    shards = [os.path.join(hf_dir, name) for name in sorted(set(weight_map.values()))]
    for shard in shards:
        if not os.path.isfile(shard):
            raise ConversionError(f"shard {shard} named in {index} is missing")
    return shards


def find_weights_files(hf_dir: str) -> list[str]:
    """The weights file(s) of `hf_dir`, safetensors preferred; ConversionError if none."""
    single = os.path.join(hf_dir, "model.safetensors")
    if os.path.isfile(single):
        return [single]
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = os.path.join(hf_dir, index_name)
        if os.path.isfile(index):
            return _shards_of_index(hf_dir, index)
    legacy = os.path.join(hf_dir, "pytorch_model.bin")
    if os.path.isfile(legacy):
        return [legacy]
    raise ConversionError(f"no weights in {hf_dir}: expected model.safetensors (or a sharded "
                          "model.safetensors.index.json, or pytorch_model.bin)")


def load_hf_weights(files: list[str]) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for path in files:
        tensors.update(load_safetensors(path) if path.endswith(".safetensors") else _load_torch_bin(path))
    return tensors


def load_hf_config(hf_dir: str) -> dict:
    path = os.path.join(hf_dir, "config.json")
    if not os.path.isfile(path):
        raise ConversionError(f"no config.json in {hf_dir}")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise ConversionError(f"cannot read {path}: {e}") from None
    if not isinstance(config, dict):
        raise ConversionError(f"{path} does not hold a JSON object")
    return config
