// tests/feeder/jetstream-feeder.mjs - a Jetstream v1 server for tests. It reads a PDS's firehose
// (com.atproto.sync.subscribeRepos, DAG-CBOR frames with CAR blocks), translates every event into
// Jetstream's JSON as it arrives, and serves it at ws://127.0.0.1:PORT/subscribe (wss:// with a
// certificate), so atcr-jetstream can be tested against a real PDS without the real Jetstream.
//
// usage: node jetstream-feeder.mjs --pds http://localhost:2583 --port 6008
//            [--tls-cert FILE --tls-key FILE] [--pidfile FILE] [--ping-ms N] [--live]
//
// Served like Jetstream (github.com/bluesky-social/jetstream):
//   {"did","time_us","kind":"commit","commit":{"rev","operation":"create|update|delete","collection",
//    "rkey","record","cid"}}  (record and cid only on create and update; record in atproto JSON)
//   {"did","time_us","kind":"identity","identity":{"did","handle","seq","time"}}
//   {"did","time_us","kind":"account","account":{"active","did","seq","status","time"}}
// Query: wantedCollections (repeatable; exact NSIDs or "prefix.*"; commits only: identity and account
// events always pass), wantedDids (repeatable), cursor (time_us: replay the in-memory log of
// everything seen since start from the first event with time_us >= cursor, then live; absent or in
// the future: live). time_us is strictly increasing. A client may send Jetstream's
// {"type":"options_update","payload":{"wantedCollections":[...],"wantedDids":[...]}}.
// Bad parameters get HTTP 400 before the upgrade.
//
// The firehose is read from its start (cursor 0: everything the PDS still holds) unless --live. The
// pidfile is written once both the listener and the firehose are up. --ping-ms sends a ping to every
// client that often and logs the pongs (how ws.sh checks that the client answers pings). Logs go to
// stderr only. SIGTERM or SIGINT: close every connection (1001) and exit 0.
//
// The packages (ws, @atproto/*) come from the test peers' install (tests/peers/install-pds):
// ATCR_PEERS_DIR, else ~/.cache/atcr/peers. Run it with the peers' node 22.
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const peers = process.env.ATCR_PEERS_DIR || path.join(os.homedir(), '.cache', 'atcr', 'peers')
const require = createRequire(path.join(peers, 'package.json'))
const load = (name) => import(pathToFileURL(require.resolve(name)).href)
const { WebSocket, WebSocketServer } = require('ws')
const { readCar, cborToLex } = await load('@atproto/repo')
const { decodeAll } = await load('@atproto/lex-cbor')
const { lexToJson } = await load('@atproto/lex-json')

const log = (...a) => console.error('jetstream-feeder:', ...a)

function parseArgs(argv) {
  const o = { pds: null, port: 0, tlsCert: null, tlsKey: null, pidfile: null, pingMs: 0, live: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--pds') o.pds = next()
    else if (a === '--port') o.port = parseInt(next(), 10)
    else if (a === '--tls-cert') o.tlsCert = next()
    else if (a === '--tls-key') o.tlsKey = next()
    else if (a === '--pidfile') o.pidfile = next()
    else if (a === '--ping-ms') o.pingMs = parseInt(next(), 10)
    else if (a === '--live') o.live = true
    else throw new Error(`unknown argument ${a}`)
  }
  if (!o.pds || !(o.port > 0 && o.port < 65536)) throw new Error('--pds URL and --port N are required')
  if (!o.tlsCert !== !o.tlsKey) throw new Error('--tls-cert and --tls-key go together')
  return o
}

let opts
try {
  opts = parseArgs(process.argv.slice(2))
} catch (e) {
  log(e.message)
  log('usage: jetstream-feeder.mjs --pds URL --port N [--tls-cert F --tls-key F] [--pidfile F] [--ping-ms N] [--live]')
  process.exit(2)
}

// ---- the event log: every Jetstream event seen since start, in time_us order

const events = [] // {timeUs, did, collection (commits only), json}
let lastTimeUs = 0
const nowUs = () => Math.floor((performance.timeOrigin + performance.now()) * 1000)
const nextTimeUs = () => {
  lastTimeUs = Math.max(nowUs(), lastTimeUs + 1)
  return lastTimeUs
}

const clients = new Set()

function record(did, kind, body, collection) {
  const timeUs = nextTimeUs()
  // Key order as Jetstream's Go structs marshal it.
  const json = JSON.stringify({ did, time_us: timeUs, kind, [kind]: body })
  const ev = { timeUs, did, collection, json }
  events.push(ev)
  for (const c of clients) if (c.live) deliver(c, ev)
}

// ---- filters

const NSID = /^[a-zA-Z]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)+$/
const NSID_PREFIX = /^[a-zA-Z]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*\.\*$/

function makeFilter(collections, dids) {
  for (const c of collections)
    if (!NSID.test(c) && !NSID_PREFIX.test(c)) throw new Error(`invalid collection: ${c}`)
  for (const d of dids) if (!/^did:[a-z]+:[a-zA-Z0-9._:%-]+$/.test(d)) throw new Error(`invalid did: ${d}`)
  if (collections.length > 100) throw new Error('too many wantedCollections (100 at most)')
  const exact = new Set(collections.filter((c) => !c.endsWith('.*')))
  const prefixes = collections.filter((c) => c.endsWith('.*')).map((c) => c.slice(0, -1))
  const didSet = new Set(dids)
  return (ev) => {
    if (didSet.size && !didSet.has(ev.did)) return false
    if (ev.collection === undefined || collections.length === 0) return true
    return exact.has(ev.collection) || prefixes.some((p) => ev.collection.startsWith(p))
  }
}

function deliver(c, ev) {
  if (c.ws.readyState === WebSocket.OPEN && c.filter(ev)) c.ws.send(ev.json)
}

// ---- the firehose

function firehoseUrl(cursor) {
  const u = new URL('/xrpc/com.atproto.sync.subscribeRepos', opts.pds)
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:'
  if (cursor !== null) u.searchParams.set('cursor', String(cursor))
  return u.toString()
}

async function translate(frame) {
  const [header, body] = [...decodeAll(new Uint8Array(frame))]
  if (header?.op === -1) {
    log('firehose error frame:', JSON.stringify(body))
    return
  }
  if (typeof body?.seq === 'number') lastSeq = body.seq
  switch (header?.t) {
    case '#commit': {
      const blocks = body.blocks?.length ? (await readCar(body.blocks)).blocks : null
      for (const op of body.ops ?? []) {
        const slash = op.path.indexOf('/')
        const collection = op.path.slice(0, slash), rkey = op.path.slice(slash + 1)
        const commit = { rev: body.rev, operation: op.action, collection, rkey }
        if (op.action !== 'delete') {
          const bytes = op.cid && blocks?.get(op.cid)
          if (!bytes) {
            log(`commit ${body.repo} ${op.path}: record block missing (tooBig?), skipped`)
            continue
          }
          commit.record = lexToJson(cborToLex(bytes))
          commit.cid = op.cid.toString()
        }
        record(body.repo, 'commit', commit, collection)
      }
      break
    }
    case '#identity': {
      const identity = { did: body.did }
      if (body.handle) identity.handle = body.handle
      identity.seq = body.seq
      identity.time = body.time
      record(body.did, 'identity', identity)
      break
    }
    case '#account': {
      const account = { active: body.active, did: body.did, seq: body.seq }
      if (body.status) account.status = body.status
      account.time = body.time
      record(body.did, 'account', account)
      break
    }
    default: // #sync, #info and others: Jetstream passes none of them on
      break
  }
}

let lastSeq = null
let firehose = null
let stopping = false
let firehoseReady

function connectFirehose() {
  const url = firehoseUrl(lastSeq !== null ? lastSeq : opts.live ? null : 0)
  const ws = new WebSocket(url)
  firehose = ws
  let chain = Promise.resolve() // frames are translated strictly in order
  ws.on('open', () => {
    log('firehose open:', url)
    firehoseReady?.()
  })
  ws.on('message', (data) => {
    chain = chain.then(() => translate(data)).catch((e) => log('frame skipped:', e.message))
  })
  ws.on('error', (e) => log('firehose error:', e.message))
  ws.on('close', (code) => {
    if (stopping) return
    log(`firehose closed (${code}); reconnecting in 1 s`)
    setTimeout(connectFirehose, 1000)
  })
}

// ---- the Jetstream server

function refuse(socket, status, text) {
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text) + 1}\r\nConnection: close\r\n\r\n${text}\n`)
}

const server = opts.tlsCert
  ? https.createServer({ cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey) })
  : http.createServer()
server.on('request', (req, res) => {
  res.writeHead(req.url.startsWith('/subscribe') ? 426 : 404, { 'Content-Type': 'text/plain' })
  res.end(req.url.startsWith('/subscribe') ? 'a WebSocket upgrade is required\n' : 'not found\n')
})
const wss = new WebSocketServer({ noServer: true })
let nextId = 1

server.on('upgrade', (req, socket, head) => {
  const u = new URL(req.url, 'http://feeder')
  if (u.pathname !== '/subscribe') return refuse(socket, '404 Not Found', 'not found')
  let filter, cursor = null
  try {
    filter = makeFilter(u.searchParams.getAll('wantedCollections'), u.searchParams.getAll('wantedDids'))
    const cs = u.searchParams.get('cursor')
    if (cs !== null) {
      if (!/^-?[0-9]+$/.test(cs)) throw new Error(`invalid cursor: ${cs}`)
      cursor = Number(cs)
    }
  } catch (e) {
    log(`refused ${req.url}: ${e.message}`)
    return refuse(socket, '400 Bad Request', e.message)
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const c = { id: nextId++, ws, filter, live: false }
    clients.add(c)
    log(`client ${c.id} connected: ${req.url} (${req.headers['user-agent'] || 'no user agent'})`)
    // Replay then go live in one synchronous step: nothing is lost or sent twice in between.
    let replayed = 0
    if (cursor !== null && cursor <= nowUs()) {
      for (const ev of events) if (ev.timeUs >= cursor) { deliver(c, ev); replayed++ }
      log(`client ${c.id}: replayed from cursor ${cursor} (${replayed} events before filtering)`)
    }
    c.live = true
    ws.on('message', (data, isBinary) => {
      try {
        const m = JSON.parse(isBinary ? '' : data.toString())
        if (m.type !== 'options_update') throw new Error(`unknown message type ${m.type}`)
        c.filter = makeFilter(m.payload?.wantedCollections ?? [], m.payload?.wantedDids ?? [])
        log(`client ${c.id}: options updated`)
      } catch (e) {
        log(`client ${c.id}: bad message: ${e.message}`)
        ws.close(1008, 'bad subscriber message')
      }
    })
    ws.on('pong', () => log(`client ${c.id}: pong`))
    ws.on('error', (e) => log(`client ${c.id} error: ${e.message}`))
    ws.on('close', (code, reason) => {
      clients.delete(c)
      log(`client ${c.id} closed: ${code} ${reason.toString()}`)
    })
  })
})

if (opts.pingMs > 0)
  setInterval(() => {
    for (const c of clients) if (c.ws.readyState === WebSocket.OPEN) c.ws.ping('feeder')
  }, opts.pingMs).unref()

function stop(sig) {
  if (stopping) return
  stopping = true
  log(`${sig}: stopping`)
  firehose?.close()
  for (const c of clients) c.ws.close(1001, 'feeder stopping')
  server.close()
  if (opts.pidfile) fs.rmSync(opts.pidfile, { force: true })
  // Give the close frames a moment to leave, then go whatever remains.
  setTimeout(() => process.exit(0), 300).unref()
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))

const ready = new Promise((resolve) => { firehoseReady = resolve })
connectFirehose()
await new Promise((resolve, reject) => {
  server.once('error', reject)
  server.listen(opts.port, '127.0.0.1', resolve)
}).catch((e) => {
  log(`cannot listen on 127.0.0.1:${opts.port}: ${e.message}`)
  process.exit(1)
})
await ready
log(`listening on ${opts.tlsCert ? 'wss' : 'ws'}://127.0.0.1:${opts.port}/subscribe (firehose ${opts.pds})`)
if (opts.pidfile) fs.writeFileSync(opts.pidfile, `${process.pid}\n`)
