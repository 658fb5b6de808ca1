// read.mjs: reads Iceberg tables with icebird (JavaScript: metadata, Avro
// manifests, Parquet), an Iceberg reader that shares no code with iceberg-go,
// and prints what it read as one JSON document on stdout.
//
//   ICEBIRD_MODULES=DIR node read.mjs [--bucket NAME=DIR ...] TABLE[@RUN] ...
//
// ICEBIRD_MODULES is the node_modules folder icebird was installed into.
// TABLE is a table's folder (a local path) or s3://BUCKET/PREFIX/TABLE; a
// --bucket mapping reads that bucket's objects from a local folder (the S3
// test server's storage), since icebird fetches s3:// as public HTTPS. @RUN
// reads the snapshot whose summary's udesk.run is RUN instead of the current.
//
// Output: {"TABLE[@RUN]": {"current": SEQUENCE, "snapshots": [{"sequence",
// "summary"}], "columns": [names], "rows": [{column: value}]}}. Snapshots
// are named by sequence number: JSON.parse rounds 64-bit snapshot ids.
// Values are JSON: 64-bit integers and decimals as strings, timestamps as
// RFC 3339 in UTC with microseconds, lists as arrays, null as null.
import { readFileSync, writeFileSync, openSync, readSync, closeSync, fstatSync } from 'node:fs'
import { join } from 'node:path'

const modules = process.env.ICEBIRD_MODULES
if (!modules) throw new Error('set ICEBIRD_MODULES to the node_modules folder icebird is installed in')

// Two fixes to icebird 0.3.1, made in its installed source:
// - it inflates Avro "deflate" blocks with a gzip decoder that fails on
//   iceberg-go's manifests (raw deflate, as the Avro spec says): read them
//   with node's raw inflate instead;
// - it finds a Parquet column by the field's name made "compatible" with
//   ASCII letters and digits only, where Java Iceberg (and iceberg-go, and
//   PyIceberg) keep any Unicode letter or digit (Character.isLetter/isDigit):
//   a column named 单行文本字段 would read as missing.
function patch(file, prefix, broken, fixed) {
  const src = readFileSync(file, 'utf8')
  if (src.includes(broken)) {
    writeFileSync(file, prefix + src.replaceAll(broken, fixed))
  } else if (!src.includes(fixed)) {
    throw new Error(`${file}: neither icebird 0.3.1's code nor its fix (${broken}); another version?`)
  }
}
const src = join(modules, 'icebird', 'src')
patch(join(src, 'avro', 'avro.read.js'), "import { inflateRawSync } from 'node:zlib'\n",
  'data = gunzip(data)', 'data = new Uint8Array(inflateRawSync(data))')
patch(join(src, 'utils.js'), '', '/^[A-Za-z]$/.test(ch)', '/^\\p{L}$/u.test(ch)')
patch(join(src, 'utils.js'), '', '/^[0-9]$/.test(ch)', '/^\\p{Nd}$/u.test(ch)')
const { icebergMetadata, icebergRead } = await import(join(src, 'index.js'))

const buckets = new Map()
const tables = []
const args = process.argv.slice(2)
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--bucket') {
    const [name, dir] = args[++i].split(/=(.*)/s)
    buckets.set(name, dir)
  } else {
    tables.push(args[i])
  }
}

// localPath maps a URL icebird fetches to a file: file:// and absolute
// paths as they are, a bucket's public HTTPS URL into its mapped folder.
function localPath(url) {
  if (url.startsWith('file://')) return decodeURIComponent(new URL(url).pathname)
  if (url.startsWith('/')) return url
  const m = /^https:\/\/([^/.]+)\.s3\.amazonaws\.com\/(.*)$/s.exec(url)
  if (m && buckets.has(m[1])) return join(buckets.get(m[1]), decodeURIComponent(m[2]))
  throw new Error(`no local file for ${url} (a bucket not mapped with --bucket?)`)
}

// fetch of local files, with the Range requests hyparquet makes.
globalThis.fetch = async (url, init = {}) => {
  const path = localPath(String(url))
  let fd
  try {
    fd = openSync(path, 'r')
  } catch (e) {
    return new Response(String(e), { status: 404, statusText: 'Not Found' })
  }
  try {
    const size = fstatSync(fd).size
    const range = new Headers(init.headers).get('Range')
    let start = 0, end = size - 1, status = 200
    const m = range && /^bytes=(\d+)-(\d*)$/.exec(range)
    if (m) {
      start = Number(m[1])
      end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
      status = 206
    }
    const buf = Buffer.alloc(Math.max(0, end - start + 1))
    let off = 0
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, start + off)
      if (n === 0) break
      off += n
    }
    return new Response(buf, { status, headers: { 'Content-Length': String(buf.length) } })
  } finally {
    closeSync(fd)
  }
}

function jsonValue(v) {
  if (v === null || v === undefined) return null
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Date) return v.toISOString()
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8')
  if (Array.isArray(v)) return v.map(jsonValue)
  if (typeof v === 'object') {
    const o = {}
    for (const [k, x] of Object.entries(v)) o[k] = jsonValue(x)
    return o
  }
  return v
}

function tableURL(t) {
  return t.startsWith('s3://') ? t.replace(/\/+$/, '') : 'file://' + t.replace(/\/+$/, '')
}

const out = {}
for (const arg of tables) {
  const at = arg.lastIndexOf('@')
  const table = at > 0 ? arg.slice(0, at) : arg
  const run = at > 0 ? arg.slice(at + 1) : ''
  const tableUrl = tableURL(table)
  const metadata = await icebergMetadata({ tableUrl })
  const snapshots = (metadata.snapshots ?? []).map(s => ({
    sequence: s['sequence-number'],
    summary: s.summary ?? {},
  }))
  if (run) {
    const raw = (metadata.snapshots ?? []).filter(s => s.summary?.['udesk.run'] === run).pop()
    if (!raw) throw new Error(`${table}: no snapshot of run ${run}`)
    // icebird reads the current snapshot: make the run's current.
    metadata['current-snapshot-id'] = raw['snapshot-id']
    metadata['current-schema-id'] = raw['schema-id'] ?? metadata['current-schema-id']
  }
  const snap = metadata.snapshots?.find(s => s['snapshot-id'] === metadata['current-snapshot-id'])
  const schema = metadata.schemas.find(s => s['schema-id'] === metadata['current-schema-id'])
  let rows = []
  // icebird refuses a snapshot without data files; that is an empty table.
  if (snap && Number(snap.summary?.['total-data-files'] ?? 1) > 0) {
    rows = await icebergRead({ tableUrl, metadata })
  }
  out[arg] = {
    current: snap ? snap['sequence-number'] : null,
    snapshots,
    columns: schema.fields.map(f => f.name),
    rows: rows.map(jsonValue),
  }
}
process.stdout.write(JSON.stringify(out))
