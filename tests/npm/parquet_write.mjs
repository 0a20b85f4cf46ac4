// parquet_write.mjs — Parquet files of a text dataset written by code nobody here wrote, the
// independent side of tests/integration/dataset.sh (quant's reader must give back the source).
//   node parquet_write.mjs SRC OUT.parquet [--writer arrow-rs|hyparquet] [--codec snappy|none]
//        [--pages v1|v2] [--dict on|off] [--row-group N] [--page-bytes N] [--dict-page-bytes N]
//        [--lines A:B]   (only source lines A..B-1: a shard)
//        [--encoding default] (arrow-rs: its own choice without a dictionary, DELTA_BYTE_ARRAY for v2)
//        hostile variants: [--strip 1] (rows without their "\n") [--null-row I] [--column NAME]
//        [--codec gzip]
// Rows are made from SRC as the `datasets` WikiText loading script makes them: one row per
// line, the line with its "\n", a whitespace-only line as "" — so the rows of wiki.test.raw are
// the Hub's wikitext-2-raw-v1 test split.
// Writers: arrow-rs (parquet-wasm 0.8.0, the Rust parquet crate; v1 or v2 pages, dictionary
// pages with fallback to PLAIN when the dictionary page limit is reached, as pyarrow does) and
// hyparquet-writer 0.17.0 (pure JavaScript; v2 pages, dictionary when it pays).
import fs from 'fs';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm';
import { parquetWriteBuffer } from 'hyparquet-writer';

const [src, out, ...rest] = process.argv.slice(2);
const opt = {};
for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, '')] = rest[i + 1];
const text = fs.readFileSync(src, 'utf8');
let lines = text.split(/(?<=\n)/); // keeps each "\n"
if (opt.lines) {
  const [a, b] = opt.lines.split(':').map(Number);
  lines = lines.slice(a, b);
}
let rows = lines.map(l => (l.trim() ? l : ''));
if (opt.strip) rows = rows.map(r => r.replace(/\n$/, ''));
if (opt['null-row']) rows[Number(opt['null-row'])] = null;
const column = opt.column || 'text';
const codecs = { snappy: 'SNAPPY', none: 'UNCOMPRESSED', gzip: 'GZIP' };
const codec = codecs[opt.codec || 'snappy'];
let bytes;
if ((opt.writer || 'arrow-rs') === 'arrow-rs') {
  const t = pw.Table.fromIPCStream(arrow.tableToIPC(arrow.tableFromArrays({ [column]: rows }), 'stream'));
  let b = new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression[codec])
    .setWriterVersion(opt.pages === 'v2' ? pw.WriterVersion.V2 : pw.WriterVersion.V1)
    .setDictionaryEnabled(opt.dict !== 'off');
  // the fallback when there is no dictionary (v2 would choose DELTA_BYTE_ARRAY): PLAIN, as pyarrow
  if (opt.encoding !== 'default') b = b.setEncoding(pw.Encoding.PLAIN);
  if (opt['row-group']) b = b.setMaxRowGroupSize(Number(opt['row-group']));
  if (opt['page-bytes']) b = b.setDataPageSizeLimit(Number(opt['page-bytes']));
  if (opt['dict-page-bytes']) b = b.setDictionaryPageSizeLimit(Number(opt['dict-page-bytes']));
  if (opt['page-bytes'] || opt['row-group']) b = b.setWriteBatchSize(64); // page limits are checked per batch
  bytes = pw.writeParquet(t, b.build());
} else {
  const col = { name: column, data: rows, type: 'STRING' };
  if (opt.dict === 'off') col.encoding = 'PLAIN';
  const o = { columnData: [col], codec };
  if (opt['row-group']) o.rowGroupSize = Number(opt['row-group']);
  if (opt['page-bytes']) o.pageSize = Number(opt['page-bytes']);
  bytes = new Uint8Array(parquetWriteBuffer(o));
}
fs.writeFileSync(out, bytes);
console.log(`${out}: ${rows.length} rows, ${bytes.length} bytes`);
