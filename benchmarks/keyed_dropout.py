"""DistilCL's dropout masks for a transformers BertModel, so that a PyTorch run can draw exactly the
masks `distilcl train` draws (benchmarks/squad.py --keyed-dropout): a diagnostic that leaves float
rounding as the only difference between the engines' training.

DistilCL's masks (Sources/DistilCL/Backend/TrainingBackend.swift, `DropoutKey` and `DropoutPlan`):
element `index` of example `e` at site `s` is kept when the top 24 bits of word index % 4 of
Philox4x32-10(counter (index / 4, e low, e high, s), key (seed low, seed high)), times 2⁻²⁴, are
≥ p; kept elements are scaled by 1 / (1 − p). Sites: the embeddings 0; layer i's attention
probabilities 1 + 4i, attention projection 2 + 4i, FFN output 3 + 4i. Elements count within one
example: a hidden state of n tokens × H is t·H + c; head h's attention probability (i, j) is
(h·n + i)·n + j (n the example's real length). The example is the global draw number,
(epoch − 1)·N + the window's position in the epoch's order (N training windows).

Usage: `install(model, seed, p_hidden, p_attention)` once (the model loaded with
attn_implementation="eager"), then `set_batch(examples, lengths)` before each training forward.
Padded positions are never dropped (they reach no real position: their keys are masked).

Imports numpy and torch; run `python benchmarks/keyed_dropout.py` for Philox's known-answer test.
"""
import numpy as np

M32 = np.uint64(0xFFFFFFFF)


def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 (Salmon et al., SC'11) on uint64 arrays holding 32-bit words; the four output words."""
    c0, c1, c2, c3 = (np.asarray(x, dtype=np.uint64) for x in (c0, c1, c2, c3))
    k0, k1 = np.uint64(k0), np.uint64(k1)
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & M32, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & M32
        k0 = (k0 + np.uint64(0x9E3779B9)) & M32
        k1 = (k1 + np.uint64(0xBB67AE85)) & M32
    return c0, c1, c2, c3


def keep(seed, site, example, count, p):
    """`[count]` bool: whether elements 0 ..< count of `example`'s stream at `site` are kept."""
    groups = np.arange((count + 3) // 4, dtype=np.uint64)
    e = np.uint64(example)
    words = philox4x32(groups, np.full_like(groups, e & M32), np.full_like(groups, e >> np.uint64(32)),
                       np.full_like(groups, np.uint64(site)), seed & 0xFFFFFFFF, seed >> 32)
    stream = np.stack(words, axis=1).reshape(-1)[:count]
    # float(w >> 8) · 2⁻²⁴ ≥ p, exactly: both sides are exact in float64.
    return (stream >> np.uint64(8)).astype(np.float64) >= float(np.float32(p)) * 2.0 ** 24


class _Batch:
    examples, lengths = [], []


_batch = _Batch()


def set_batch(examples, lengths):
    """The next training forward's windows: their global draw numbers and real lengths (tokens)."""
    _batch.examples, _batch.lengths = [int(e) for e in examples], [int(n) for n in lengths]


def install(model, seed, p_hidden, p_attention):
    """Replaces the dropout of `model` (a BertFor… whose `.bert` runs eager attention) by DistilCL's."""
    import torch
    import transformers.models.bert.modeling_bert as mb

    class KeyedDropout(torch.nn.Module):
        """Dropout of a `[batch, tokens, hidden]` activation at one site."""
        def __init__(self, site, p):
            super().__init__()
            self.site, self.p = site, p

        def forward(self, x):
            if not self.training or self.p == 0:
                return x
            b, t, h = x.shape
            mask = np.ones((b, t, h), dtype=np.float32)
            for row, (e, n) in enumerate(zip(_batch.examples, _batch.lengths)):
                mask[row, :n] = keep(seed, self.site, e, n * h, self.p).reshape(n, h)
            scale = np.float32(1) / (np.float32(1) - np.float32(self.p))
            return x * (torch.from_numpy(mask) * torch.tensor(scale))

    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        """eager_attention_forward with the attention-probability dropout keyed as DistilCL's."""
        if scaling is None:
            scaling = query.size(-1) ** -0.5
        weights = torch.matmul(query, key.transpose(2, 3)) * scaling
        if attention_mask is not None:
            weights = weights + attention_mask
        weights = torch.nn.functional.softmax(weights, dim=-1)
        if module.training and dropout > 0:
            b, heads, t, _ = weights.shape
            mask = np.ones((b, heads, t, t), dtype=np.float32)
            for row, (e, n) in enumerate(zip(_batch.examples, _batch.lengths)):
                mask[row, :, :n, :n] = keep(seed, 1 + 4 * module.layer_idx, e, heads * n * n, dropout).reshape(heads, n, n)
            scale = np.float32(1) / (np.float32(1) - np.float32(dropout))
            weights = weights * (torch.from_numpy(mask) * torch.tensor(scale))
        out = torch.matmul(weights, value).transpose(1, 2).contiguous()
        return out, weights

    assert model.config._attn_implementation == "eager", "load the model with attn_implementation='eager'"
    assert model.config.hidden_dropout_prob == p_hidden and model.config.attention_probs_dropout_prob == p_attention
    mb.eager_attention_forward = attention
    model.bert.embeddings.dropout = KeyedDropout(0, p_hidden)
    for i, layer in enumerate(model.bert.encoder.layer):
        assert layer.attention.self.layer_idx == i
        layer.attention.output.dropout = KeyedDropout(2 + 4 * i, p_hidden)
        layer.output.dropout = KeyedDropout(3 + 4 * i, p_hidden)


if __name__ == "__main__":
    # Random123's known answers for Philox4x32-10.
    for counter, key, want in (((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
                               ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
                               ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
                                (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))):
        got = tuple(int(w[0]) for w in philox4x32(*[np.array([c], dtype=np.uint64) for c in counter], *key))
        assert got == want, (counter, key, [hex(g) for g in got])
    print("Philox4x32-10 known answers: ok")
