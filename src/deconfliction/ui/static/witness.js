// The map as a witness of the audit log (docs/audit.md), as `deconfliction audit witness` is
// on the command line: it keeps the last checkpoint it checked (in this browser, per party),
// checks that every later checkpoint extends it (the links up to it, recomputed from the hash
// kept, must land on its hash) and is signed by the service key it pinned on first use, and
// only then countersigns it with this browser's own Ed25519 key (registered for the party on
// first use: that needs a party admin's token). A checkpoint that does not extend what was kept
// is never signed: the map raises an alarm and keeps the old checkpoint.

const DB_NAME = "deconfliction-witness";
const MAX_LINKS = 10000; // the most /v1/audit/links gives at once
const KEPT_SIGNED = 50; // countersignatures remembered (newest last)
const GENESIS = "0".repeat(64); // the hash before the first entry

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (s) => new Uint8Array((s.match(/../g) || []).map((h) => parseInt(h, 16)));
const utf8 = (s) => new TextEncoder().encode(s);

async function sha256hex(text) {
  return hex(await crypto.subtle.digest("SHA-256", utf8(text)));
}

/** What the service signs for a checkpoint: canonical JSON of {seq, hash} (keys sorted). */
export function checkpointMessage(seq, hash) {
  return `{"hash":${JSON.stringify(hash)},"seq":${seq}}`;
}

/** Entry hashes from the one kept: sha256(prev_hash + content_hash), as audit/chain.py. */
export async function extend(hash, links) {
  let h = hash;
  for (const l of links) h = await sha256hex(h + l.content_hash);
  return h;
}

function pemBody(pem) {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function toPem(der) {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN PUBLIC KEY-----\n${b64.match(/.{1,64}/g).join("\n")}\n-----END PUBLIC KEY-----\n`;
}

// --- this browser's key, kept in IndexedDB (the private half cannot be exported) -------------
function idb() {
  return new Promise((done, fail) => {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onsuccess = () => done(open.result);
    open.onerror = () => fail(open.error);
  });
}

async function idbDo(mode, fn) {
  const db = await idb();
  return new Promise((done, fail) => {
    const tx = db.transaction("keys", mode);
    const req = fn(tx.objectStore("keys"));
    tx.oncomplete = () => { db.close(); done(req.result); };
    tx.onerror = () => { db.close(); fail(tx.error); };
  });
}

async function partyKey(party) {
  let pair = await idbDo("readonly", (s) => s.get(party));
  if (!pair) {
    pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    await idbDo("readwrite", (s) => s.put(pair, party));
  }
  const der = await crypto.subtle.exportKey("spki", pair.publicKey);
  return { pair, pem: toPem(der), keyId: hex(await crypto.subtle.digest("SHA-256", der)) };
}

// --- what was kept, per party ------------------------------------------------------------------
const keptKey = (party) => `deconfliction.witness.${party}`;

function loadKept(party) {
  try {
    return JSON.parse(localStorage.getItem(keptKey(party)) || "null");
  } catch {
    return null;
  }
}

function saveKept(party, kept) {
  localStorage.setItem(keptKey(party), JSON.stringify(kept));
}

async function newestCheckpoint(api, after) {
  let newest = null;
  for (let from = after; ; ) {
    const page = (await api(`/v1/audit/checkpoints?after=${from}`)).checkpoints;
    if (!page.length) return newest;
    newest = page[page.length - 1];
    if (page.length < 1000) return newest;
    from = newest.seq;
  }
}

/**
 * One round: check the newest checkpoint against what was kept and countersign it.
 * Returns {state: "ok"|"alarm"|"unsigned"|"off"|"none", seq, why}; an alarm is sticky (kept in
 * what was kept) until someone looks into it.
 */
export async function witnessOnce(api, party) {
  if (!globalThis.crypto || !crypto.subtle || !globalThis.indexedDB) {
    return { state: "off", why: "needs a secure context (https, or a loopback address)" };
  }
  const kept = loadKept(party) || {};
  if (kept.alarm) return { state: "alarm", seq: kept.seq, why: kept.alarm };
  const cp = await newestCheckpoint(api, kept.seq || 0);
  if (!cp) return kept.seq ? { state: kept.signed ? "ok" : "unsigned", seq: kept.seq } : { state: "none" };
  const chunks = [];
  const start = kept.seq || 0;
  for (let from = start; from < cp.seq; from += MAX_LINKS) {
    const to = Math.min(cp.seq, from + MAX_LINKS);
    const got = await api(`/v1/audit/links?after=${from}&to=${to}`);
    chunks.push(got);
  }
  const links = chunks.flatMap((c) => c.links);
  const serviceKey = chunks.length ? chunks[0].service_key : null;
  const alarm = (why) => {
    saveKept(party, { ...kept, alarm: why });
    return { state: "alarm", seq: cp.seq, why };
  };
  // the service's key: pinned on first use, the same ever after
  const pinned = kept.service || serviceKey;
  if (!pinned || cp.key_id !== pinned.key_id) {
    return alarm(`checkpoint ${cp.seq} is signed by another key than the one pinned`);
  }
  const service = await crypto.subtle.importKey("spki", pemBody(pinned.public_key_pem), { name: "Ed25519" }, false, ["verify"]);
  const msg = checkpointMessage(cp.seq, cp.hash);
  if (cp.message !== msg || !(await crypto.subtle.verify({ name: "Ed25519" }, service, unhex(cp.signature), utf8(msg)))) {
    return alarm(`checkpoint ${cp.seq}: the service's signature does not verify`);
  }
  // from the entry kept, or (first use) from the start of the log
  const seqs = links.map((l) => l.seq);
  const whole = seqs.length === cp.seq - start && seqs.every((s, i) => s === start + 1 + i);
  if (!whole || (await extend(kept.hash || GENESIS, links)) !== cp.hash) {
    const from = start ? `entry ${start} kept here` : "the start of the log";
    return alarm(`checkpoint ${cp.seq} does not extend ${from}: history was rewritten`);
  }
  const next = { seq: cp.seq, hash: cp.hash, service: pinned, signed: false, countersigned: kept.countersigned || [] };
  let why;
  try {
    const me = await partyKey(party);
    if (kept.keyId !== me.keyId) {
      await api("/v1/audit/keys", { method: "PUT", json: { public_key_pem: me.pem } });
    }
    next.keyId = me.keyId;
    const signature = hex(await crypto.subtle.sign({ name: "Ed25519" }, me.pair.privateKey, utf8(msg)));
    await api(`/v1/audit/checkpoints/${cp.seq}/countersignatures`, {
      method: "POST", json: { key_id: me.keyId, signature },
    });
    next.signed = true;
    next.countersigned = [...next.countersigned, { seq: cp.seq, hash: cp.hash, key_id: me.keyId, signature }].slice(-KEPT_SIGNED);
  } catch (e) {
    why = e.status === 403 ? "keyNeedsAdmin" : e.message;
  }
  saveKept(party, next);
  return { state: next.signed ? "ok" : "unsigned", seq: cp.seq, why };
}
