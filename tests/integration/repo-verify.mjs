// repo-verify.mjs - checks a hold's repository CARs with the reference implementation (@atproto/repo
// from the test peers, tests/peers/install-pds), for tests/integration/repo.sh.
//
//   node repo-verify.mjs repo CAR DID DIDKEY
//       verifyRepoCar: the commit's did and signature (DIDKEY: did:key:...), the MST walked to every
//       record; the tree rebuilt by @atproto/repo from those records must have the commit's data root.
//       Prints {"rev", "data", "records": [{"uri", "cid"}]} sorted by uri.
//   node repo-verify.mjs record CAR DID DIDKEY COLLECTION RKEY [CID|null]
//       verifyRecords and verifyProofs on a com.atproto.sync.getRecord CAR: prints {"records": [...],
//       "verified": n, "unverified": n} for the claim that the record has CID (null: that it is absent).
// Exits 1 with the reason on stderr when a check fails.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const peers = process.env.ATCR_PEERS_DIR || join(process.env.HOME, '.cache/atcr/peers');
const repo = await import(pathToFileURL(join(peers, 'node_modules/@atproto/repo/dist/index.js')).href);
const { CID } = await import(pathToFileURL(join(peers, 'node_modules/multiformats/dist/src/cid.js')).href);

const [mode, carPath, did, didKey, ...rest] = process.argv.slice(2);
const car = new Uint8Array(readFileSync(carPath));

function fail(msg) {
  process.stderr.write(`repo-verify: ${msg}\n`);
  process.exit(1);
}

try {
  if (mode === 'repo') {
    const verified = await repo.verifyRepoCar(car, did, didKey);
    const { root, blocks } = await repo.readCarWithRoot(car);
    const commit = await new repo.MemoryBlockstore(blocks).readObj(root, repo.def.commit);
    // The reference builds its own tree from the same records: the roots must agree.
    let mst = await repo.MST.create(new repo.MemoryBlockstore());
    for (const c of verified.creates) mst = await mst.add(`${c.collection}/${c.rkey}`, c.cid);
    const rebuilt = (await mst.getPointer()).toString();
    if (rebuilt !== commit.data.toString())
      fail(`the reference's tree of these records has root ${rebuilt}, the commit says ${commit.data}`);
    const records = verified.creates
      .map((c) => ({ uri: `at://${did}/${c.collection}/${c.rkey}`, cid: c.cid.toString() }))
      .sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
    console.log(JSON.stringify({ rev: commit.rev, data: commit.data.toString(), records }));
  } else if (mode === 'record') {
    const [collection, rkey, claimed] = rest;
    const records = await repo.verifyRecords(car, did, didKey);
    const cid = !claimed || claimed === 'null' ? null : CID.parse(claimed);
    const { verified, unverified } = await repo.verifyProofs(car, [{ collection, rkey, cid }], did, didKey);
    console.log(JSON.stringify({
      records: records.map((r) => ({ uri: `at://${did}/${r.collection}/${r.rkey}` })),
      verified: verified.length,
      unverified: unverified.length,
    }));
  } else {
    fail(`unknown mode ${mode}`);
  }
} catch (e) {
  fail(e?.message || String(e));
}
