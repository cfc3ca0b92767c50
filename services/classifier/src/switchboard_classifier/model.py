"""The trained model at serving time: a linear model over n-gram features, numpy only.

One weight matrix holds every head (type, not-a-request, topic, priority, anger): each feature has a
row, each label of each head a column. A message's scores are the sum of the rows of its features,
scaled by one over the square root of the number of its distinct features (as in training), plus the
bias; each head's slice of the scores goes through a softmax. Weights are stored as int8 with one
scale per column, which keeps the file small and changes no decision that matters.

The file (``models/ngram-linear.npz`` in this package, or ``CLASSIFIER_MODEL_PATH``) is a NumPy ``.npz``
archive without pickles: ``weights`` (int8, features x columns), ``scales`` and ``bias`` (float32,
per column), ``vocabulary`` (UTF-8, one feature per line, in row order) and ``metadata`` (UTF-8 JSON:
format, name, version, heads and their labels, the feature spec, how it was trained).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
import zipfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from switchboard_classifier.features import FeatureSpec, Featuriser

FORMAT = "switchboard-ngram-linear/1"
PACKAGED_MODEL = "ngram-linear.npz"
HEADS = ("type", "request", "topic", "priority", "anger")
"""The heads a model file must have, in column order."""
_OFFSET = 128
"""Added to every int8 weight when rows are packed (see :func:`_packed_rows`), so that each field is 0..255."""
_PACKED_LIMIT = 1 << 24
"""Features of one message below which packed 32-bit fields cannot overflow (255 per feature)."""


class ModelError(ValueError):
    """The model file cannot be read or is not a model this code can serve; the message says why."""


@dataclass(frozen=True, slots=True)
class Head:
    """One decision of the model: its labels and where their columns are."""

    name: str
    labels: tuple[str, ...]
    start: int

    @property
    def stop(self) -> int:
        return self.start + len(self.labels)


@dataclass(frozen=True, slots=True)
class HeadPrediction:
    """Probabilities of one head's labels for one message."""

    labels: tuple[str, ...]
    probabilities: tuple[float, ...]

    def __getitem__(self, label: str) -> float:
        return self.probabilities[self.labels.index(label)]

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.labels, self.probabilities, strict=True))

    def best(self) -> tuple[str, float]:
        index = max(range(len(self.labels)), key=self.probabilities.__getitem__)
        return self.labels[index], self.probabilities[index]


@dataclass(frozen=True, slots=True)
class Prediction:
    """Every head's probabilities for one message, and how many of its features the model knew."""

    heads: Mapping[str, HeadPrediction]
    known_features: int
    features: int

    def __getitem__(self, head: str) -> HeadPrediction:
        return self.heads[head]


@dataclass(frozen=True, slots=True)
class ModelArrays:
    """A model's contents, as the trainer produces them and the file stores them."""

    weights: npt.NDArray[np.int8]
    scales: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    vocabulary: Sequence[str]
    metadata: Mapping[str, Any]


class LinearModel:
    """A trained model file, loaded once; :meth:`predict` is pure and cheap."""

    def __init__(self, arrays: ModelArrays) -> None:
        metadata = arrays.metadata
        if metadata.get("format") != FORMAT:
            raise ModelError(f"unsupported model format {metadata.get('format')!r} (expected {FORMAT!r})")
        self.metadata = dict(metadata)
        self.name: str = str(metadata["name"])
        self.version: str = str(metadata["version"])
        self.digest: str = str(metadata["digest"])
        heads: dict[str, Head] = {}
        start = 0
        for name in HEADS:
            labels = tuple(metadata["heads"].get(name, ()))
            if len(labels) < 2:
                raise ModelError(f"model head {name!r} needs at least two labels, has {list(labels)}")
            heads[name] = Head(name, labels, start)
            start += len(labels)
        self.heads = heads
        columns = start
        weights = np.asarray(arrays.weights)
        if weights.ndim != 2 or weights.shape != (len(arrays.vocabulary), columns):
            raise ModelError(f"weights have shape {weights.shape}, expected ({len(arrays.vocabulary)}, {columns})")
        if arrays.scales.shape != (columns,) or arrays.bias.shape != (columns,):
            raise ModelError("scales and bias must have one value per column")
        # int8 rows summed in int32 never overflow for any realistic number of features per message
        self._weights = weights.astype(np.int8, copy=False)
        self._scales = np.asarray(arrays.scales, dtype=np.float64)
        self._bias = np.asarray(arrays.bias, dtype=np.float64)
        self._rows = {feature: row for row, feature in enumerate(arrays.vocabulary)}
        self.featuriser = Featuriser(FeatureSpec.from_dict(metadata["features"]))
        # The serving form of the same numbers (see _predict): each row packed into one integer, the
        # per-column scale and bias as floats, each head's slice of the columns.
        self._packed = _packed_rows(self._weights, arrays.vocabulary)
        self._packed_width = 4 * (columns + 1)
        self._unpack = struct.Struct(f"<{columns + 1}I").unpack
        self._column_terms = tuple(zip(self._scales.tolist(), self._bias.tolist(), strict=True))
        self._bias_list: list[float] = self._bias.tolist()
        self._head_slices = tuple((name, head.labels, head.start, head.stop) for name, head in heads.items())

    @property
    def label(self) -> str:
        """What goes into ``Classification.model``: name, version and content digest."""
        return f"{self.name}-{self.version}+{self.digest[:8]}"

    @property
    def size(self) -> int:
        """Number of features the model has weights for."""
        return len(self._rows)

    def predict(self, text: str) -> Prediction:
        """Every head's probabilities for ``text`` as written."""
        return self._predict(self.featuriser.features(text))

    def predict_normalised(self, normalised: str, *, shouting: bool) -> Prediction:
        """The same for text the rules already normalised (see ``Featuriser.features_of_normalised``)."""
        return self._predict(self.featuriser.feature_set_of_normalised(normalised, shouting=shouting))

    def _predict(self, features: Collection[str]) -> Prediction:
        """The prediction for distinct ``features``: integer sums of packed rows, then the same float steps.

        Equal, bit for bit, to :meth:`_predict_arrays` (the weight matrix summed with numpy): the column
        sums are exact integers either way, and each score is computed from them by the same float
        operations in the same order; the exponentials are numpy's, as there.
        """
        count = len(features)
        if count >= _PACKED_LIMIT:
            return self._predict_arrays(features)
        packed = sum(map(self._packed.get, features, repeat(0)))
        if packed:
            fields = self._unpack(packed.to_bytes(self._packed_width, "little"))
            known = fields[-1]
            offset = _OFFSET * known
            inverse = 1.0 / math.sqrt(count)
            scores = [
                (field - offset) * scale * inverse + bias
                for field, (scale, bias) in zip(fields, self._column_terms, strict=False)
            ]
        else:
            known = 0
            scores = self._bias_list
        return self._softmax(scores, known, count)

    def _predict_arrays(self, features: Collection[str]) -> Prediction:
        """:meth:`_predict` with the weight matrix: what it means, and its path for messages too big to pack."""
        rows = self._rows
        known = [row for row in map(rows.get, features) if row is not None]
        if known:
            summed = self._weights[known].sum(axis=0, dtype=np.int32)
            scores = summed * self._scales * (1.0 / math.sqrt(len(features))) + self._bias
        else:
            scores = self._bias
        return self._softmax(scores.tolist(), len(known), len(features))

    def _softmax(self, scores: list[float], known: int, count: int) -> Prediction:
        array = np.array(scores, dtype=np.float64)
        if max(scores) > 500.0 or min(scores) < -500.0:
            array = np.clip(array, -500.0, 500.0)
        # One exp for every head: scores are sums of bounded weights, far from overflowing a float64.
        exps: list[float] = np.exp(array).tolist()
        heads = {}
        for name, labels, start, stop in self._head_slices:
            part = exps[start:stop]
            total = sum(part)
            heads[name] = HeadPrediction(labels, tuple([e / total for e in part]))
        return Prediction(heads=heads, known_features=known, features=count)


def _packed_rows(weights: npt.NDArray[np.int8], vocabulary: Sequence[str]) -> dict[str, int]:
    """Each feature's row as one integer: a 32-bit field per column (weight + 128), then a field holding 1.

    Summing the integers of a message's features sums every column at once (fields do not carry into
    each other below ``_PACKED_LIMIT`` features), and the last field counts the rows summed.
    """
    rows, columns = weights.shape
    table = np.ones((rows, columns + 1), dtype="<u4")
    table[:, :columns] = weights.astype(np.int32) + _OFFSET
    raw = table.tobytes()
    width = 4 * (columns + 1)
    from_bytes = int.from_bytes
    return {
        feature: from_bytes(raw[row * width : (row + 1) * width], "little") for row, feature in enumerate(vocabulary)
    }


def load_model(path: Path | None = None) -> LinearModel:
    """The model in ``path``, or the one packaged with the classifier; :class:`ModelError` when unusable."""
    where = str(path) if path is not None else f"(packaged {PACKAGED_MODEL})"
    try:
        if path is None:
            data = resources.files("switchboard_classifier").joinpath("models", PACKAGED_MODEL).read_bytes()
        else:
            data = Path(path).read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = ModelArrays(
                weights=archive["weights"],
                scales=archive["scales"],
                bias=archive["bias"],
                vocabulary=_lines(archive["vocabulary"]),
                metadata=json.loads(archive["metadata"].tobytes().decode("utf-8")),
            )
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read model {where}: {exc}") from exc
    try:
        return LinearModel(arrays)
    except (KeyError, TypeError) as exc:
        raise ModelError(f"invalid model {where}: missing or malformed {exc}") from exc
    except ModelError as exc:
        raise ModelError(f"invalid model {where}: {exc}") from None


def _lines(array: npt.NDArray[np.uint8]) -> list[str]:
    text = array.tobytes().decode("utf-8")
    return text.split("\n") if text else []


def content_digest(weights: npt.NDArray[np.int8], scales: npt.NDArray[np.float32], bias: npt.NDArray[np.float32],
                   vocabulary: Sequence[str], metadata: Mapping[str, Any]) -> str:  # fmt: skip
    """SHA-256 of a model's contents (metadata without its digest): the same model, the same digest."""
    digest = hashlib.sha256()
    for array in (weights, scales, bias):
        digest.update(str(array.dtype).encode() + str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update("\n".join(vocabulary).encode("utf-8"))
    digest.update(json.dumps({k: v for k, v in metadata.items() if k != "digest"}, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


def write_model(path: Path, arrays: ModelArrays) -> None:
    """Write a model file byte for byte reproducibly (fixed zip timestamps, fixed member order)."""
    members: dict[str, npt.NDArray[Any]] = {
        "weights": np.ascontiguousarray(arrays.weights, dtype=np.int8),
        "scales": np.ascontiguousarray(arrays.scales, dtype=np.float32),
        "bias": np.ascontiguousarray(arrays.bias, dtype=np.float32),
        "vocabulary": np.frombuffer("\n".join(arrays.vocabulary).encode("utf-8"), dtype=np.uint8),
        "metadata": np.frombuffer(
            json.dumps(dict(arrays.metadata), sort_keys=True, ensure_ascii=False, indent=1).encode("utf-8"),
            dtype=np.uint8,
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in members.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue(), compresslevel=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(buffer.getvalue())
    temporary.replace(path)
