// tests/vectors/firehose/record.mjs - record real com.atproto.sync.subscribeRepos frames from the reference
// PDS, with what the @atproto libraries decode them to, as known answers for tests/unit/test_firehose and
// tests/unit/test_car. Run by hand through ./record (which starts and stops the PDS); not used by the build.
//
// usage: node record.mjs PDS_URL OUTDIR   (node >= 22, from the directory tests/peers/install-pds fills)
//
// It subscribes to the firehose, then: creates an account; creates, updates and deletes an
// io.atcr.sailor.star and an io.atcr.tag record; uploads a blob and creates an io.atcr.manifest record that
// links it; applies three writes in one commit; changes the handle (#identity); deactivates and
// reactivates the account (#account). Then it asks for a cursor in the future (an error frame).
// Writes OUTDIR/frames.json: [{name, frame (base64 of the raw bytes), header, body, records}] where header and
// body are Frame.fromBytes' result in JSON form (lexToJson: {"$link"}, {"$bytes"}) and records maps each
// record CID of a commit to the record read from the commit's CAR (readCar + cborToLexRecord + lexToJson).
// Writes OUTDIR/cars.json: [{name, car (base64), roots, blocks}] for each #commit's and #sync's CAR and the repo's
// getRepo CAR, roots and block CIDs as readCar reports them.
import fs from 'node:fs'
import path from 'node:path'
import os from 'node:os'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const pdsUrl = process.argv[2]
const outDir = process.argv[3]
if (!pdsUrl || !outDir) {
  console.error('usage: node record.mjs PDS_URL OUTDIR')
  process.exit(2)
}
const peers = process.env.ATCR_PEERS_DIR || path.join(os.homedir(), '.cache/atcr/peers')
const req = createRequire(path.join(peers, 'x.js'))
const load = (m) => import(pathToFileURL(req.resolve(m)).href)
const WebSocket = req('ws')
const { Frame } = await load('@atproto/xrpc-server')
const { readCar, cborToLexRecord } = await load('@atproto/repo')
const { lexToJson } = await load('@atproto/lex-json')

const b64 = (u8) => Buffer.from(u8).toString('base64')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function xrpc(method, nsid, body, token, contentType = 'application/json') {
  const init = { method, headers: {} }
  if (token) init.headers.authorization = `Bearer ${token}`
  let url = `${pdsUrl}/xrpc/${nsid}`
  if (method === 'GET') {
    url += '?' + new URLSearchParams(body)
  } else if (body !== undefined) {
    init.headers['content-type'] = contentType
    init.body = contentType === 'application/json' ? JSON.stringify(body) : body
  }
  const res = await fetch(url, init)
  if (!res.ok) throw new Error(`${nsid}: ${res.status} ${await res.text()}`)
  const type = res.headers.get('content-type') || ''
  return type.startsWith('application/json') ? res.json() : new Uint8Array(await res.arrayBuffer())
}

// Collect frames in arrival order, each labelled with the step that caused it.
const wsBase = pdsUrl.replace(/^http/, 'ws')
const frames = []
let step = 'start'
const ws = new WebSocket(`${wsBase}/xrpc/com.atproto.sync.subscribeRepos`)
ws.on('message', (data) => frames.push({ step, bytes: new Uint8Array(data) }))
await new Promise((resolve, reject) => {
  ws.on('open', resolve)
  ws.on('error', reject)
})
// Let each step's frames arrive before the next step starts, so the labels are right.
async function at(name, fn) {
  step = name
  const before = frames.length
  const r = await fn()
  for (let i = 0; i < 50 && frames.length === before; i++) await sleep(100)
  await sleep(300)
  return r
}

const password = 'record-' + Math.random().toString(36).slice(2)
const acct = await at('create-account', () =>
  xrpc('POST', 'com.atproto.server.createAccount', {
    handle: 'fh-alice.test',
    email: 'fh-alice@example.test',
    password,
  }),
)
const did = acct.did
let token = acct.accessJwt
const now = () => new Date().toISOString()

const star = await at('star-create', () =>
  xrpc('POST', 'com.atproto.repo.createRecord', {
    repo: did,
    collection: 'io.atcr.sailor.star',
    record: { $type: 'io.atcr.sailor.star', subject: `at://${did}/io.atcr.repo.page/app`, createdAt: now() },
  }, token),
)
const starRkey = star.uri.split('/').pop()
await at('star-update', () =>
  xrpc('POST', 'com.atproto.repo.putRecord', {
    repo: did,
    collection: 'io.atcr.sailor.star',
    rkey: starRkey,
    record: { $type: 'io.atcr.sailor.star', subject: `at://${did}/io.atcr.repo.page/other`, createdAt: now() },
  }, token),
)
await at('star-delete', () =>
  xrpc('POST', 'com.atproto.repo.deleteRecord', { repo: did, collection: 'io.atcr.sailor.star', rkey: starRkey }, token),
)

const tag = (digest) => ({
  $type: 'io.atcr.tag',
  repository: 'team/app',
  tag: '1.0',
  manifest: `at://${did}/io.atcr.manifest/${digest}`,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  createdAt: now(),
  updatedAt: now(),
})
await at('tag-create', () =>
  xrpc('POST', 'com.atproto.repo.createRecord', {
    repo: did, collection: 'io.atcr.tag', rkey: 'team~app:1.0', record: tag('3kaaaaaaaaaa2'),
  }, token),
)
await at('tag-update', () =>
  xrpc('POST', 'com.atproto.repo.putRecord', {
    repo: did, collection: 'io.atcr.tag', rkey: 'team~app:1.0', record: tag('3kaaaaaaaaab2'),
  }, token),
)
await at('tag-delete', () =>
  xrpc('POST', 'com.atproto.repo.deleteRecord', { repo: did, collection: 'io.atcr.tag', rkey: 'team~app:1.0' }, token),
)

// A record with a blob link (a {"$link"} inside the record) and a byte-exact manifest.
const manifestBytes = new TextEncoder().encode(
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}',
)
const blob = await xrpc('POST', 'com.atproto.repo.uploadBlob', manifestBytes, token,
  'application/vnd.oci.image.manifest.v1+json')
await at('manifest-create', () =>
  xrpc('POST', 'com.atproto.repo.createRecord', {
    repo: did,
    collection: 'io.atcr.manifest',
    record: {
      $type: 'io.atcr.manifest',
      repository: 'team/app',
      digest: 'sha256:' + Buffer.from(new Uint8Array(32)).toString('hex'),
      holdDid: 'did:web:hold.example.test',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      schemaVersion: 2,
      manifestBlob: blob.blob,
      createdAt: now(),
    },
  }, token),
)

await at('apply-writes', () =>
  xrpc('POST', 'com.atproto.repo.applyWrites', {
    repo: did,
    writes: [
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'io.atcr.sailor.star', rkey: '3kaaaaaaaaac2',
        // bytes in a record ({"$bytes"} in JSON form), which no io.atcr record has yet
        value: { $type: 'io.atcr.sailor.star', subject: `at://${did}/io.atcr.repo.page/a`, createdAt: now(),
          nonce: { $bytes: 'AQIDBA' } } },
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'io.atcr.sailor.profile', rkey: 'self',
        value: { $type: 'io.atcr.sailor.profile', defaultHold: 'did:web:hold.example.test', createdAt: now() } },
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'io.atcr.repo.page', rkey: 'team~app',
        value: { $type: 'io.atcr.repo.page', repository: 'team/app', description: 'héllo ✓', createdAt: now() } },
    ],
  }, token),
)

await at('identity', () => xrpc('POST', 'com.atproto.identity.updateHandle', { handle: 'fh-alice2.test' }, token))
await at('account-deactivate', () => xrpc('POST', 'com.atproto.server.deactivateAccount', {}, token))
await at('account-activate', () => xrpc('POST', 'com.atproto.server.activateAccount', undefined, token))
ws.close()

const repoCar = await xrpc('GET', 'com.atproto.sync.getRepo', { did })

// A cursor far in the future: the PDS answers with an error frame.
const errFrame = await new Promise((resolve, reject) => {
  const w = new WebSocket(`${wsBase}/xrpc/com.atproto.sync.subscribeRepos?cursor=999999999`)
  w.on('message', (data) => { resolve(new Uint8Array(data)); w.close() })
  w.on('error', reject)
  setTimeout(() => reject(new Error('no error frame')), 10000)
})
frames.push({ step: 'future-cursor', bytes: errFrame })

const outFrames = []
const outCars = []
const seen = {}
for (const { step: s, bytes } of frames) {
  const f = Frame.fromBytes(bytes)
  const t = f.header.t ? f.header.t.replace('#', '') : 'error'
  seen[s] = (seen[s] || 0) + 1
  const name = `${s}-${seen[s]}-${t}`
  const entry = { name, frame: b64(bytes), header: lexToJson(f.header), body: lexToJson(f.body) }
  if (f.header.t === '#commit' || f.header.t === '#sync') {
    const car = await readCar(f.body.blocks)
    if (f.header.t === '#commit') {
      entry.records = {}
      for (const op of f.body.ops) {
        if (op.cid) entry.records[op.cid.toString()] = lexToJson(cborToLexRecord(car.blocks.get(op.cid)))
      }
    }
    outCars.push({
      name: `${name}-blocks`,
      car: b64(f.body.blocks),
      roots: car.roots.map(String),
      blocks: [...car.blocks.entries()].map((e) => e.cid.toString()),
    })
  }
  outFrames.push(entry)
}
const repo = await readCar(repoCar)
outCars.push({
  name: 'getRepo',
  car: b64(repoCar),
  roots: repo.roots.map(String),
  blocks: [...repo.blocks.entries()].map((e) => e.cid.toString()),
})

fs.writeFileSync(path.join(outDir, 'frames.json'), JSON.stringify(outFrames, null, 1) + '\n')
fs.writeFileSync(path.join(outDir, 'cars.json'), JSON.stringify(outCars, null, 1) + '\n')
console.log(`record.mjs: ${outFrames.length} frames (${outFrames.map((f) => f.name).join(', ')}), ${outCars.length} CARs`)
process.exit(0)
