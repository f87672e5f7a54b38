// tests/peers/pdsnet.mjs - the test network: a PLC directory (in memory) and the reference ATProto PDS
// (@atproto/pds: SQLite + disk blobstore) in one node process, bound to 127.0.0.1 only. Started by
// tests/peers/start-pds from the install directory that tests/peers/install-pds fills (node >= 22).
//
// Env (all optional):
//   PLC_PORT (2582)  PDS_PORT (2583)  PDS_DATA (a fresh temporary directory)
//   PLC_LEGACY_DOC=1   serve @did-plc/server's legacy DID-document format instead of Multikey documents
//   PDSNET_READY_FILE  written with {plcUrl,pdsUrl,pdsDid,dataDir,pid} once both servers listen
// Stops cleanly on SIGTERM / SIGINT.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import http from 'node:http'
import { once } from 'node:events'

const PLC_PORT = parseInt(process.env.PLC_PORT || '2582', 10)
const PDS_PORT = parseInt(process.env.PDS_PORT || '2583', 10)
const HOST = '127.0.0.1'

// Express' app.listen(port) binds to every interface.  Force loopback by
// wrapping listen() (after PDS.create, so the xrpc-server websocket 'upgrade'
// hook it installs on app.listen is kept).
const bindLoopback = (app) => {
  const orig = app.listen
  app.listen = (port, ...rest) => orig.call(app, port, HOST, ...rest)
}

const dataDir =
  process.env.PDS_DATA || fs.mkdtempSync(path.join(os.tmpdir(), 'pdsnet-'))
fs.mkdirSync(path.join(dataDir, 'blobs'), { recursive: true })

const t0 = Date.now()

// ---- PLC directory, in-memory (same thing @atproto/dev-env's TestPlc does)
const plcMod = await import('@did-plc/server')
const plc = plcMod.default ?? plcMod
const plcLibMod = await import('@did-plc/lib')
const plcLib = plcLibMod.default ?? plcLibMod
const plcServer = plc.PlcServer.create({
  db: plc.Database.mock(),
  port: PLC_PORT,
})
// @did-plc/server 0.0.1 (the only version on npm) renders DID documents in
// the LEGACY form: verificationMethod type EcdsaSecp256k1VerificationKey2019,
// id "#atproto", publicKeyMultibase = base58btc(65-byte UNCOMPRESSED point)
// without multicodec prefix.  The live PLC directory (did-method-plc main)
// renders "Multikey" docs: id "<did>#atproto", publicKeyMultibase = the
// did:key suffix (zQ3sh..., multicodec 0xe7 0x01 + 33-byte compressed key),
// @context incl. https://w3id.org/security/multikey/v1.  By default we serve
// the modern form for GET /<did>; PLC_LEGACY_DOC=1 keeps the package's output.
const legacyDoc = process.env.PLC_LEGACY_DOC === '1'
const modernDoc = (data) => {
  const context = [
    'https://www.w3.org/ns/did/v1',
    'https://w3id.org/security/multikey/v1',
  ]
  const verificationMethod = []
  for (const [id, key] of Object.entries(data.verificationMethods)) {
    const mb = key.replace(/^did:key:/, '')
    const c = mb.startsWith('zQ3s')
      ? 'https://w3id.org/security/suites/secp256k1-2019/v1'
      : mb.startsWith('zDn')
        ? 'https://w3id.org/security/suites/ecdsa-2019/v1'
        : null
    if (c && !context.includes(c)) context.push(c)
    verificationMethod.push({
      id: `${data.did}#${id}`,
      type: 'Multikey',
      controller: data.did,
      publicKeyMultibase: mb,
    })
  }
  const service = Object.entries(data.services).map(([id, sv]) => ({
    id: `#${id}`,
    type: sv.type,
    serviceEndpoint: sv.endpoint,
  }))
  return {
    '@context': context,
    id: data.did,
    alsoKnownAs: data.alsoKnownAs,
    verificationMethod,
    service,
  }
}
const plcHttp = http.createServer(async (req, res) => {
  const m =
    !legacyDoc &&
    req.method === 'GET' &&
    decodeURIComponent(req.url.split('?')[0]).match(/^\/(did:plc:[a-z2-7]{24})$/)
  if (m) {
    try {
      const log = await plcServer.ctx.db.opsForDid(m[1])
      const data = log.length
        ? await plcLib.validateOperationLog(m[1], log)
        : null
      if (data) {
        res.writeHead(200, { 'Content-Type': 'application/did+ld+json' })
        res.end(JSON.stringify(modernDoc(data)))
        return
      }
    } catch (e) {
      // fall through to the package's own handler (404s etc.)
    }
  }
  plcServer.app(req, res)
})
plcHttp.listen(PLC_PORT, HOST)
await once(plcHttp, 'listening')
const plcUrl = `http://${HOST}:${PLC_PORT}`

// ---- PDS
const defaults = {
  PDS_PORT: String(PDS_PORT),
  // must be "localhost": any other hostname makes publicUrl https://HOSTNAME
  PDS_HOSTNAME: 'localhost',
  // NOT 127.0.0.1: the PDS's safeFetch (used by its DID resolver) rejects
  // IP-literal hosts with 'Invalid hostname'.  createAccount still works with
  // an IP (the PLC client uses plain fetch) but describeRepo etc. fail.
  PDS_DID_PLC_URL: `http://localhost:${PLC_PORT}`,
  PDS_DATA_DIRECTORY: dataDir,
  PDS_BLOBSTORE_DISK_LOCATION: path.join(dataDir, 'blobs'),
  PDS_JWT_SECRET: 'jwt-secret-for-tests-only',
  PDS_DPOP_SECRET:
    '0000000000000000000000000000000000000000000000000000000000000001',
  PDS_ADMIN_PASSWORD: 'admin-pass',
  // any valid 32-byte secp256k1 private key, hex
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX:
    '5d1f7a0c4b1e3f2a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b',
  PDS_SERVICE_HANDLE_DOMAINS: '.test',
  PDS_INVITE_REQUIRED: 'false',
  PDS_DEV_MODE: 'true',
  PDS_CRAWLERS: '',
  LOG_ENABLED: 'false',
}
for (const [k, v] of Object.entries(defaults)) {
  if (process.env[k] === undefined) process.env[k] = v
}

const { PDS, envToCfg, envToSecrets, readEnv } = await import('@atproto/pds')
const env = readEnv()
const cfg = envToCfg(env)
const secrets = envToSecrets(env)
const pds = await PDS.create(cfg, secrets)
bindLoopback(pds.app)
await pds.start()
const pdsUrl = `http://localhost:${PDS_PORT}`

const info = {
  plcUrl,
  pdsUrl,
  pdsDid: cfg.service.did,
  dataDir,
  pid: process.pid,
  startMs: Date.now() - t0,
}
console.log(JSON.stringify(info))
if (process.env.PDSNET_READY_FILE) {
  fs.writeFileSync(process.env.PDSNET_READY_FILE, JSON.stringify(info) + '\n')
}

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  try {
    await pds.destroy()
  } catch (e) {
    console.error('pds destroy', e)
  }
  plcHttp.closeAllConnections()
  plcHttp.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
