"""The authors' kind of generator R(x+ | x-): an autoregressive encoder-decoder Transformer over
binned features.

Every scaled feature in [0, 1] is cut into ``bins`` bins with left edges b_k = k / bins. The target
for a value v is a soft one-hot over the edges, softmax_k(-(bins^2)(v - b_k)^2 / 2) (a Gaussian of
one bin's width around v), and the loss is the soft cross-entropy summed over features. The encoder
reads the d features of x-, the decoder predicts the d features of x+ in schema order, each from
x- (cross-attention) and the features of x+ already decided (causal self-attention).

Tokens. A feature's value enters as ``bin embedding + value * per-feature vector + feature
embedding``: the bin embedding makes "this bin" a sharp, cheap-to-learn signal (copying x-'s bin is
the most common answer), the scalar term keeps the ordering of bins and the precision inside a bin
that binning throws away, and the feature embedding says which column the token is. Decoder
position j (predicting feature j) carries x+_{j-1} (a learned start vector at j = 0) plus a query
embedding for feature j. Categorical features need nothing special: their scaled codes code/(n-1)
fall on bins like any value, and the recourse engine's projection snaps the decoded value onto a
valid code.

Sampling. The authors sample from softmax(logits * sharpen) (sharpen = 10, no added noise); here
the engine's ``temperature`` divides that, softmax(logits * sharpen / temperature), so temperature 1
is exactly the authors' sampling. A drawn bin decodes to its left edge, except the bin x-_j itself
falls in, which decodes to x-_j exactly: within-bin jitter would only add cost to a feature the
model chose to keep. Draws are inverse-CDF from uniforms taken from each applicant's own random
stream, so an applicant gets the same candidates alone or in any batch.
"""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np
import torch
from torch import nn

from genre.models.generators import row_draws
from genre.models.training import Partners, TrainingHistory, fit_pairs
from genre.settings import TransformerSettings

_FEEDFORWARD_FACTOR = 4


class _LayerKwargs(TypedDict):
    """The arguments every encoder and decoder layer is built with."""

    d_model: int
    nhead: int
    dim_feedforward: int
    dropout: float
    batch_first: bool
    norm_first: bool


def bin_edges(bins: int) -> torch.Tensor:
    """Left edges b_k = k / bins, k = 0 .. bins-1."""
    return torch.arange(bins, dtype=torch.float32) / bins


def soft_bin_targets(v: torch.Tensor, bins: int) -> torch.Tensor:
    """[...] values -> [..., bins] soft one-hot weights softmax_k(-(bins^2)(v - b_k)^2 / 2)."""
    edges = bin_edges(bins).to(v.device)
    return torch.softmax(-(bins**2) * (v[..., None] - edges) ** 2 / 2, dim=-1)


def bin_index(v: torch.Tensor, bins: int) -> torch.Tensor:
    """The edge nearest each value (where its soft target peaks), clamped to the valid bins."""
    return torch.round(v * bins).clamp(0, bins - 1).long()


class TransformerGenerator(nn.Module):
    # buffers (register_buffer), declared for the type checker
    edges: torch.Tensor
    causal: torch.Tensor

    def __init__(
        self,
        n_features: int,
        bins: int,
        width: int,
        heads: int,
        encoder_layers: int,
        decoder_layers: int,
        sharpen: float,
    ) -> None:
        super().__init__()
        self.config = {
            "n_features": n_features,
            "bins": bins,
            "width": width,
            "heads": heads,
            "encoder_layers": encoder_layers,
            "decoder_layers": decoder_layers,
            "sharpen": sharpen,
        }
        self.n_features, self.bins, self.sharpen = n_features, bins, sharpen
        self.register_buffer("edges", bin_edges(bins), persistent=False)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(n_features), persistent=False)
        self.bin_embedding = nn.Embedding(bins, width)
        self.value_weight = nn.Parameter(torch.randn(n_features, width) * 0.1)
        self.feature_embedding = nn.Parameter(torch.randn(n_features, width) * 0.1)
        self.query_embedding = nn.Parameter(torch.randn(n_features, width) * 0.1)
        self.start = nn.Parameter(torch.randn(width) * 0.1)

        def layer_kwargs() -> _LayerKwargs:
            return {
                "d_model": width,
                "nhead": heads,
                "dim_feedforward": _FEEDFORWARD_FACTOR * width,
                "dropout": 0.0,
                "batch_first": True,
                "norm_first": True,
            }

        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(**layer_kwargs()),
            encoder_layers,
            norm=nn.LayerNorm(width),
            enable_nested_tensor=False,
        )
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(**layer_kwargs()), decoder_layers, norm=nn.LayerNorm(width)
        )
        self.head = nn.Linear(width, bins)
        self.head_bias = nn.Parameter(torch.zeros(n_features, bins))

    # -- tokens ---------------------------------------------------------------------------------
    def value_tokens(self, values: torch.Tensor, features: slice) -> torch.Tensor:
        """[B, L] values of the features ``features`` -> [B, L, width] tokens."""
        return (
            self.bin_embedding(bin_index(values, self.bins))
            + values[..., None] * self.value_weight[features]
            + self.feature_embedding[features]
        )

    def encode(self, x_minus: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.value_tokens(x_minus, slice(None)))

    def decoder_tokens(self, x_plus_prefix: torch.Tensor) -> torch.Tensor:
        """[B, j] decided features of x+ -> [B, j+1, width] decoder inputs for positions 0..j."""
        j = x_plus_prefix.shape[1]
        start = self.start.expand(len(x_plus_prefix), 1, -1)
        tokens = torch.cat([start, self.value_tokens(x_plus_prefix, slice(0, j))], dim=1)
        return tokens + self.query_embedding[: j + 1]

    def decode(self, x_plus_prefix: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Logits [B, j+1, bins] for features 0..j given x+'s features 0..j-1."""
        length = x_plus_prefix.shape[1] + 1
        hidden = self.decoder(
            self.decoder_tokens(x_plus_prefix), memory, tgt_mask=self.causal[:length, :length], tgt_is_causal=True
        )
        return self.head(hidden) + self.head_bias[:length]

    # -- training -------------------------------------------------------------------------------
    def logits(self, x_plus: torch.Tensor, x_minus: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: [B, d, bins] logits for every feature of x+."""
        return self.decode(x_plus[:, :-1], self.encode(x_minus))

    def loss(self, x_plus: torch.Tensor, x_minus: torch.Tensor) -> torch.Tensor:
        """Soft cross-entropy against the binned targets, summed over features -> [B]."""
        log_p = torch.log_softmax(self.logits(x_plus, x_minus), dim=-1)
        return -(soft_bin_targets(x_plus, self.bins) * log_p).sum(dim=(1, 2))

    # -- sampling -------------------------------------------------------------------------------
    def propose(self, x: np.ndarray, n: int, temperature: float, seed: int) -> np.ndarray:
        """[N, d] scaled factuals -> [N, n, d] candidates, each applicant from its own stream."""
        return self.sample(x, row_draws(x, (n, self.n_features), seed, torch.rand, torch.float64).numpy(), temperature)

    @torch.no_grad()
    def sample(self, x_minus: np.ndarray, uniforms: np.ndarray, temperature: float) -> np.ndarray:
        """[N, d] factuals and [N, n, d] uniforms -> [N, n, d]: d decoding steps, each for all N*n
        rows at once, drawing bin k where the cumulative of softmax(logits * sharpen / temperature)
        first exceeds the uniform. A drawn bin decodes to its left edge, x-'s own bin to x- itself."""
        x = torch.from_numpy(np.asarray(x_minus, dtype=np.float32))
        n_rows, n = uniforms.shape[:2]
        u = torch.from_numpy(np.asarray(uniforms, dtype=np.float64)).reshape(n_rows * n, self.n_features)
        rep = x.repeat_interleave(n, dim=0)
        factual_bins = bin_index(rep, self.bins)
        decoder = _IncrementalDecoder(self, self.encode(x), n)
        out = torch.empty_like(rep)
        token = self.start.expand(len(rep), -1)
        scale = self.sharpen / temperature
        for j in range(self.n_features):
            logits = (self.head(decoder.step(token + self.query_embedding[j])) + self.head_bias[j]).double() * scale
            cumulative = torch.softmax(logits, dim=-1).cumsum(dim=-1)
            k = (
                torch.searchsorted(cumulative, u[:, j : j + 1].contiguous(), right=True)
                .squeeze(1)
                .clamp(max=self.bins - 1)
            )
            out[:, j] = torch.where(k == factual_bins[:, j], rep[:, j], self.edges[k])
            token = self.value_tokens(out[:, j : j + 1], slice(j, j + 1))[:, 0]
        return out.reshape(n_rows, n, self.n_features).numpy()


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[..., width] -> [..., heads, width / heads], the split nn.MultiheadAttention uses."""
    return x.reshape(*x.shape[:-1], heads, x.shape[-1] // heads)


def _softmax(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over a short last axis (torch's kernel is several times slower there on CPU)."""
    e = (scores - scores.amax(dim=-1, keepdim=True)).exp_()
    return e / e.sum(dim=-1, keepdim=True)


class _IncrementalDecoder:
    """The decoder one position at a time, for sampling: the same numbers as the model's causal
    ``decode`` at its last position (pre-norm layers, no dropout), but each step costs one position
    instead of the whole prefix. Self-attention keys and values of earlier positions are cached;
    cross-attention keys and values are computed once per applicant and shared by its n candidates
    rather than copied n times."""

    def __init__(self, model: TransformerGenerator, memory: torch.Tensor, n: int) -> None:
        self.model, self.n = model, n
        self.layers = list(model.decoder.layers)
        self.heads = self.layers[0].self_attn.num_heads
        self.width = width = memory.shape[-1]
        self.scale = 1.0 / math.sqrt(width // self.heads)
        rows, d = memory.shape[0] * n, model.n_features
        self.memory_kv = []
        for layer in self.layers:
            w, b = layer.multihead_attn.in_proj_weight, layer.multihead_attn.in_proj_bias
            k, v = nn.functional.linear(memory, w[width:], b[width:]).chunk(2, dim=-1)
            self.memory_kv.append(
                (_heads(k, self.heads).transpose(1, 2), _heads(v, self.heads).transpose(1, 2))
            )  # [N, h, d, hd]
        self.keys = [memory.new_empty(rows, self.heads, d, width // self.heads) for _ in self.layers]
        self.values = [torch.empty_like(k) for k in self.keys]
        self.position = 0

    def step(self, token: torch.Tensor) -> torch.Tensor:
        """[N*n, width] input token at the next position -> [N*n, width] decoder output there."""
        j, h, heads, width = self.position, token, self.heads, self.width
        for i, layer in enumerate(self.layers):
            attn = layer.self_attn
            q, k, v = nn.functional.linear(layer.norm1(h), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
            self.keys[i][:, :, j], self.values[i][:, :, j] = _heads(k, heads), _heads(v, heads)
            q = _heads(q * self.scale, heads)[:, :, None]  # [B, h, 1, hd]
            weights = _softmax(q @ self.keys[i][:, :, : j + 1].transpose(-1, -2))
            h = h + attn.out_proj((weights @ self.values[i][:, :, : j + 1]).reshape(len(h), width))

            cross = layer.multihead_attn
            q = (
                nn.functional.linear(layer.norm2(h), cross.in_proj_weight[:width], cross.in_proj_bias[:width])
                * self.scale
            )
            q = _heads(q, heads).reshape(-1, self.n, heads, width // heads).transpose(1, 2)  # [N, h, n, hd]
            mk, mv = self.memory_kv[i]
            mixed = _softmax(q @ mk.transpose(-1, -2)) @ mv  # [N, h, n, hd]
            h = h + cross.out_proj(mixed.transpose(1, 2).reshape(len(h), width))

            h = h + layer.linear2(layer.activation(layer.linear1(layer.norm3(h))))
        self.position += 1
        norm = self.model.decoder.norm
        assert norm is not None  # the decoder is built with norm=nn.LayerNorm(width)
        return norm(h)


def fit_transformer(
    x_sources: np.ndarray,
    x_targets: np.ndarray,
    q: Partners,
    cfg: TransformerSettings,
    show_progress: bool = True,
) -> tuple[TransformerGenerator, TrainingHistory]:
    """``q`` indexes rows of ``x_targets`` for each row of ``x_sources`` (all with a target)."""
    torch.manual_seed(cfg.seed)
    model = TransformerGenerator(
        n_features=int(np.asarray(x_sources).shape[1]),
        bins=cfg.bins,
        width=cfg.width,
        heads=cfg.heads,
        encoder_layers=cfg.encoder_layers,
        decoder_layers=cfg.decoder_layers,
        sharpen=cfg.sharpen,
    )
    return fit_pairs(model, model.loss, x_sources, x_targets, q, cfg, "train_generator", show_progress)
