#!/usr/bin/env python3
"""The PyTorch peer of `deno task bench`: reads the SAME checkpoint directory (model.safetensors + config.json,
Hugging Face Llama layout) and runs a plain-torch Llama forward with a KV cache (no `transformers` package).

Commands (all print one JSON object on stdout):
  info                                   torch version, threads, device
  logits   --model DIR --ids 1,5,9 --out F    full-sequence logits [T, V] as little-endian float32 to F
  decode   --model DIR --batch B --tokens N   KV-cache decode tokens/s (greedy), prompt = BOS
  train    --model DIR --batch B --seq T --steps S   AdamW training tokens/s on random ids
  bandwidth --mb 256                     large-tensor copy bandwidth (GB/s, read + write counted)

Common: --device cpu|cuda (default cpu), --threads N (torch.set_num_threads; OPENBLAS_NUM_THREADS is the caller's).
Works with torch 1.13 (Debian python3-torch) and 2.x.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        buf = bytearray(data[base + b : base + e])
        t = torch.frombuffer(buf, dtype=dt) if e > b else torch.zeros(0, dtype=dt)
        out[name] = t.reshape(info["shape"]).to(torch.float32)
    return out


def load(model_dir, device):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") not in (None, "llama"):
        raise SystemExit(f"{model_dir}/config.json: model_type {cfg.get('model_type')!r} is not llama")
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    w = {k: v.to(device) for k, v in w.items()}
    return cfg, w


class Llama:
    """Llama forward over a weight dict (HF names, nn.Linear layout [out, in]), with an optional KV cache."""

    def __init__(self, cfg, w):
        self.w = w
        self.d = cfg["hidden_size"]
        self.h = cfg["num_attention_heads"]
        self.kvh = cfg.get("num_key_value_heads") or self.h
        self.hd = self.d // self.h
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg.get("rms_norm_eps", 1e-5)
        self.theta = cfg.get("rope_theta", 10000.0)
        self.ctx = cfg.get("max_position_embeddings", 512)
        dev = w["model.embed_tokens.weight"].device
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.float32, device=dev) / self.hd))
        pos = torch.arange(self.ctx, dtype=torch.float32, device=dev)
        freqs = torch.outer(pos, inv)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()
        self.lm_head = w.get("lm_head.weight", w["model.embed_tokens.weight"])

    def norm(self, x, wt):
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + self.eps) * wt

    @staticmethod
    def rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat([-x[..., half:], x[..., :half]], dim=-1)

    def rope(self, x, start):
        t = x.shape[2]
        cos = self.cos[start : start + t][None, None]
        sin = self.sin[start : start + t][None, None]
        return x * cos + self.rotate_half(x) * sin

    def forward(self, ids, cache=None, start=0):
        """ids [B, T] → logits [B, T, V]. cache: list of (k, v) buffers [B, H, ctx, hd] filled from `start`."""
        w = self.w
        b, t = ids.shape
        x = F.embedding(ids, w["model.embed_tokens.weight"])
        for i in range(self.layers):
            p = f"model.layers.{i}."
            hn = self.norm(x, w[p + "input_layernorm.weight"])
            q = F.linear(hn, w[p + "self_attn.q_proj.weight"]).view(b, t, self.h, self.hd).transpose(1, 2)
            k = F.linear(hn, w[p + "self_attn.k_proj.weight"]).view(b, t, self.kvh, self.hd).transpose(1, 2)
            v = F.linear(hn, w[p + "self_attn.v_proj.weight"]).view(b, t, self.kvh, self.hd).transpose(1, 2)
            q, k = self.rope(q, start), self.rope(k, start)
            if cache is not None:
                kc, vc = cache[i]
                kc[:, :, start : start + t] = k
                vc[:, :, start : start + t] = v
                k, v = kc[:, :, : start + t], vc[:, :, : start + t]
            if self.kvh != self.h:
                rep = self.h // self.kvh
                k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
            att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd)
            if t > 1:
                total = start + t
                mask = torch.ones(t, total, dtype=torch.bool, device=ids.device).tril(diagonal=start)
                att = att.masked_fill(~mask, float("-inf"))
            att = torch.softmax(att, dim=-1)
            o = torch.matmul(att, v).transpose(1, 2).reshape(b, t, self.d)
            x = x + F.linear(o, w[p + "self_attn.o_proj.weight"])
            hn = self.norm(x, w[p + "post_attention_layernorm.weight"])
            g = F.linear(hn, w[p + "mlp.gate_proj.weight"])
            u = F.linear(hn, w[p + "mlp.up_proj.weight"])
            x = x + F.linear(F.silu(g) * u, w[p + "mlp.down_proj.weight"])
        x = self.norm(x, w["model.norm.weight"])
        return F.linear(x, self.lm_head)

    def new_cache(self, batch):
        dev = self.lm_head.device
        return [
            (
                torch.zeros(batch, self.kvh, self.ctx, self.hd, device=dev),
                torch.zeros(batch, self.kvh, self.ctx, self.hd, device=dev),
            )
            for _ in range(self.layers)
        ]


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def cmd_info(a):
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "cuda": torch.cuda.is_available(),
        "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "python": sys.version.split()[0],
    }


def cmd_logits(a):
    cfg, w = load(a.model, a.device)
    m = Llama(cfg, w)
    ids = torch.tensor([[int(s) for s in a.ids.split(",")]], device=a.device)
    with torch.no_grad():
        full = m.forward(ids)[0]
        # the same logits through the KV cache, one token at a time: checks the cache path too
        cache = m.new_cache(1)
        steps = [m.forward(ids[:, i : i + 1], cache, i)[0, 0] for i in range(ids.shape[1])]
    inc = torch.stack(steps)
    flat = full.detach().cpu().flatten().tolist()
    data = struct.pack(f"<{len(flat)}f", *flat)
    with open(a.out, "wb") as f:
        f.write(data)
    return {"shape": list(full.shape), "cache_vs_full_max_abs_diff": float((inc - full).abs().max())}


def cmd_decode(a):
    cfg, w = load(a.model, a.device)
    m = Llama(cfg, w)
    n = min(a.tokens, m.ctx - 1)
    with torch.no_grad():
        # warm-up (allocations, thread pools, CUDA kernels)
        cache = m.new_cache(a.batch)
        tok = torch.full((a.batch, 1), 1, dtype=torch.long, device=a.device)
        for i in range(min(4, n)):
            tok = m.forward(tok, cache, i)[:, -1].argmax(-1, keepdim=True)
        sync(a.device)
        cache = m.new_cache(a.batch)
        tok = torch.full((a.batch, 1), 1, dtype=torch.long, device=a.device)
        t0 = time.perf_counter()
        for i in range(n):
            tok = m.forward(tok, cache, i)[:, -1].argmax(-1, keepdim=True)
        sync(a.device)
        dt = time.perf_counter() - t0
    return {"batch": a.batch, "tokens": n, "seconds": dt, "tokens_per_s": a.batch * n / dt, "ms_per_step": 1000 * dt / n}


def cmd_train(a):
    cfg, w = load(a.model, a.device)
    params = {k: torch.nn.Parameter(v.clone()) for k, v in w.items()}
    m = Llama(cfg, params)
    decay = [p for k, p in params.items() if not k.endswith("norm.weight")]
    no_decay = [p for k, p in params.items() if k.endswith("norm.weight")]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=3e-4, betas=(0.9, 0.95)
    )
    vocab = cfg["vocab_size"]
    g = torch.Generator().manual_seed(1)

    def step():
        x = torch.randint(4, vocab, (a.batch, a.seq + 1), generator=g).to(a.device)
        logits = m.forward(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()
        return float(loss)

    step()  # warm-up
    sync(a.device)
    t0 = time.perf_counter()
    losses = [step() for _ in range(a.steps)]
    sync(a.device)
    dt = time.perf_counter() - t0
    toks = a.batch * a.seq * a.steps
    return {"batch": a.batch, "seq": a.seq, "steps": a.steps, "seconds": dt, "tokens_per_s": toks / dt, "loss": losses[-1]}


def cmd_bandwidth(a):
    n = a.mb * (1 << 20) // 4
    src = torch.rand(n, device=a.device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    sync(a.device)
    best = float("inf")
    for _ in range(a.reps):
        t0 = time.perf_counter()
        dst.copy_(src)
        sync(a.device)
        best = min(best, time.perf_counter() - t0)
    return {"mb": a.mb, "best_seconds": best, "gb_per_s": 2 * n * 4 / best / 1e9}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["info", "logits", "decode", "train", "bandwidth"])
    ap.add_argument("--model")
    ap.add_argument("--ids", default="1")
    ap.add_argument("--out")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--mb", type=int, default=256)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    if a.command in ("logits", "decode", "train") and not a.model:
        raise SystemExit(f"{a.command}: --model DIR is required")
    if a.command == "logits" and not a.out:
        raise SystemExit("logits: --out FILE is required")
    res = {"info": cmd_info, "logits": cmd_logits, "decode": cmd_decode, "train": cmd_train, "bandwidth": cmd_bandwidth}[
        a.command
    ](a)
    res["torch"] = torch.__version__
    res["threads"] = torch.get_num_threads()
    res["device"] = a.device
    print(json.dumps(res))


if __name__ == "__main__":
    main()
