// llamacpp_bench.mjs — llama.cpp's side of bench/llm_vs_llamacpp.sh: prompt and decode speed
// of a GGUF file through node-llama-cpp (tests/npm, pinned 3.21.1: llama.cpp's CPU build),
// measured the way `quant bench` measures: seeded random token ids, one warm-up round, then
// rounds of (prompt of P tokens in one batch, G greedy single-token steps), medians.
//   node bench/llamacpp_bench.mjs MODEL.gguf THREADS P G ROUNDS JSON_OUT
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [model, threads, P, G, rounds, out] = process.argv.slice(2);
// NODE_LLAMA_DIR: a directory whose node_modules holds node-llama-cpp (default tests/npm)
const require = createRequire(path.resolve(process.env.NODE_LLAMA_DIR || "tests/npm", "package.json"));
const { getLlama } = await import(require.resolve("node-llama-cpp"));
const llama = await getLlama({ gpu: false, logLevel: "error" });
const m = await llama.loadModel({ modelPath: model, useMmap: true });
const nP = +P, nG = +G, nth = +threads;
const ctx = await m.createContext({ contextSize: nP + nG, batchSize: nP, threads: nth, sequences: 1 });
const seq = ctx.getSequence();
let s = 12345;
const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648), s);
const prompt = Array.from({ length: nP }, () => 3 + (rnd() % 31000));
const pt = [], dt = [];
for (let r = -1; r < +rounds; r++) {
    await seq.clearHistory();
    const t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(prompt.slice(0, nP - 1));
    const t1 = performance.now();
    // the last prompt token starts generation; its batch is counted as the first decode step
    let n = 0;
    for await (const tok of seq.evaluate([prompt[nP - 1]], { temperature: 0 })) {
        if (++n >= nG) break;
    }
    const t2 = performance.now();
    if (r >= 0) { pt.push((t1 - t0) / 1e3); dt.push((t2 - t1) / 1e3); }
}
const med = (v) => { const a = [...v].sort((x, y) => x - y); return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2; };
const status = fs.readFileSync("/proc/self/status", "utf8");
const hwm = +/VmHWM:\s+(\d+)/.exec(status)[1] * 1024;
const res = { engine: "llama.cpp (node-llama-cpp 3.21.1)", model, threads: nth, prompt_tokens: nP, gen_tokens: nG,
    prompt_tokens_per_s: (nP - 1) / med(pt), decode_tokens_per_s: nG / med(dt), peak_rss_bytes: hwm,
    prompt_s: pt, decode_s: dt };
fs.writeFileSync(out, JSON.stringify(res, null, 1));
console.log(`llama.cpp ${path.basename(model)}: prompt ${res.prompt_tokens_per_s.toFixed(1)} tok/s, decode ${res.decode_tokens_per_s.toFixed(2)} tok/s, peak RSS ${(hwm / 2 ** 30).toFixed(3)} GiB`);
await ctx.dispose();
await m.dispose();
