// encode_hf.mjs DIR TEXT OUT — token ids of a UTF-8 text file by @huggingface/tokenizers (the
// JavaScript port of Hugging Face tokenizers, pinned in package.json), from DIR/tokenizer.json
// (+ DIR/tokenizer_config.json when present), without special tokens added; JSON list to OUT.
// Runs offline: the files are read locally.
import fs from "fs";
import path from "path";
import { Tokenizer } from "@huggingface/tokenizers";

const [dir, textPath, outPath] = process.argv.slice(2);
const read = (name) => {
  const p = path.join(dir, name);
  return fs.existsSync(p) ? JSON.parse(fs.readFileSync(p, "utf8")) : {};
};
const tok = new Tokenizer(read("tokenizer.json"), read("tokenizer_config.json"));
const text = fs.readFileSync(textPath, "utf8");
fs.writeFileSync(outPath, JSON.stringify(tok.encode(text, { add_special_tokens: false }).ids));
