// gguf_ppl.mjs MODEL.gguf TEXT [--ctx 256] [--max-chunks N] [--gen N] [--prompt P] [--out FILE] [--ids-out FILE]
// llama.cpp itself (node-llama-cpp 3.21.1, CPU) as the referee for quant's GGUF files:
// perplexity by the llama.cpp protocol (`llama-perplexity`: the text tokenized by llama.cpp
// with BOS first when the vocabulary asks for it, cut into chunks of ctx tokens, each chunk's first token replaced by BOS,
// the negative log-likelihood of the tokens in the second half of each chunk), from the full
// next-token distributions llama.cpp returns (temperature 1, no top-k/top-p/min-p);
// then greedy text from a prompt.  Prints one JSON object (also to --out); --ids-out writes the ids
// llama.cpp gives the whole text (no BOS added) as a JSON list.
import fs from 'fs';
import {getLlama} from 'node-llama-cpp';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const [modelPath, textPath] = args;
const nCtx = Number(opt('--ctx', 256)), maxChunks = Number(opt('--max-chunks', 0));
const nGen = Number(opt('--gen', 0)), prompt = opt('--prompt', 'Once upon a time');

const llama = await getLlama({gpu: false});
const model = await llama.loadModel({modelPath});
const ctx = await model.createContext({contextSize: nCtx, batchSize: nCtx, sequences: 1, threads: 1});
const seq = ctx.getSequence();
const bos = model.tokens.bos;
const body = model.tokenize(fs.readFileSync(textPath, 'utf8'));
if (opt('--ids-out')) fs.writeFileSync(opt('--ids-out'), JSON.stringify(Array.from(body)));
const tokens = model.tokens.shouldPrependBosToken ? [bos, ...body] : body;
let nChunks = Math.floor(tokens.length / nCtx);
if (maxChunks > 0 && maxChunks < nChunks) nChunks = maxChunks;
const first = nCtx >> 1;
const raw = {temperature: 1, topK: 0, topP: 1, minP: 0};
let nll = 0, count = 0;
for (let c = 0; c < nChunks; c++) {
  const chunk = tokens.slice(c * nCtx, (c + 1) * nCtx);
  chunk[0] = bos;
  const items = chunk.map((t, j) => (j >= first && j < nCtx - 1 ? [t, {generateNext: {probabilities: true, options: raw}}] : t));
  await seq.clearHistory();
  const out = await seq.controlledEvaluate(items);
  for (let j = first; j < nCtx - 1; j++) {
    const p = out[j].next.probabilities.get(chunk[j + 1]) ?? 0;
    nll -= Math.log(p);
    count++;
  }
}
const res = {model: modelPath, tokens: tokens.length, ctx: nCtx, chunks: nChunks, scored: count, nll, ppl: Math.exp(nll / count)};
if (nGen > 0) {
  await seq.clearHistory();
  const gen = [];
  for await (const t of seq.evaluate([bos, ...model.tokenize(prompt)], {temperature: 0})) {
    gen.push(t);
    if (gen.length >= nGen || t === model.tokens.eos) break;
  }
  res.prompt = prompt;
  res.greedy_ids = gen;
  res.greedy = model.detokenize(gen);
}
const s = JSON.stringify(res);
if (opt('--out')) fs.writeFileSync(opt('--out'), s);
console.log(s);
