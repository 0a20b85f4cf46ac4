// gguf_tokenize.mjs MODEL.gguf TEXT OUT — the token ids llama.cpp itself (node-llama-cpp 3.21.1,
// CPU) gives a UTF-8 text file with the vocabulary in a GGUF file's metadata: plain text (no
// special tokens parsed, no BOS added); JSON list to OUT.
import fs from 'fs';
import {getLlama} from 'node-llama-cpp';

const [modelPath, textPath, outPath] = process.argv.slice(2);
const llama = await getLlama({gpu: false});
const model = await llama.loadModel({modelPath});
const ids = Array.from(model.tokenize(fs.readFileSync(textPath, 'utf8')));
fs.writeFileSync(outPath, JSON.stringify(ids));
console.log(`${ids.length} ids`);
