// Reference signer: @aws-sdk/cloudfront-signer (and node:crypto for ECDSA checks).
// Reads a JSON array of cases from argv[2], writes a JSON array of results to stdout.
// Used by tests/it/conformance.rs; installed by scripts/test (npm ci in tests/node).
"use strict";
const fs = require("node:fs");
const crypto = require("node:crypto");
const { getSignedCookies, getSignedUrl } = require("@aws-sdk/cloudfront-signer");

const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const fromCf = (s) => Buffer.from(s.replace(/-/g, "+").replace(/_/g, "=").replace(/~/g, "/"), "base64");

const results = cases.map((c) => {
  const privateKey = fs.readFileSync(c.key, "utf8");
  const base = {
    keyPairId: c.key_id,
    privateKey,
    passphrase: c.passphrase || undefined,
    dateLessThan: new Date(c.dlt * 1000).toISOString(),
    algorithm: c.hash,
  };
  const out = { id: c.id };
  // ECDSA signatures are randomised: check ours with node:crypto instead of comparing bytes.
  if (c.ours_signature !== undefined) {
    const pub = crypto.createPublicKey(fs.readFileSync(c.pub, "utf8"));
    out.node_verifies = crypto.verify(c.hash === "SHA256" ? "sha256" : "sha1", Buffer.from(c.ours_policy, "utf8"), pub, fromCf(c.ours_signature));
  }
  if (c.alg !== "RSA_2048") return out;
  const independentPolicy = () =>
    JSON.stringify({ Statement: [{ Resource: c.policy_resource, Condition: { DateLessThan: { "AWS:EpochTime": c.dlt } } }] });
  const args = { ...base };
  if (c.dgt !== null) args.dateGreaterThan = new Date(c.dgt * 1000).toISOString();
  if (c.ip !== null) args.ipAddress = c.ip;
  // The npm builder makes a custom policy only for a start time or an address; a wildcard or
  // distinct resource without either is written here from the documented shape instead.
  const npmBuilds = !c.custom || c.dgt !== null || c.ip !== null;
  if (c.mode === "cookies") {
    if (npmBuilds && c.policy_resource === c.url) {
      out.cookies = getSignedCookies({ ...args, url: c.url });
    } else if (npmBuilds) {
      out.cookies = null; // npm cannot express "resource differs from url" with its builder
    } else {
      out.cookies = getSignedCookies({ ...base, policy: independentPolicy() });
    }
  } else {
    if (npmBuilds && c.policy_resource === c.url_as_requested) {
      out.url = getSignedUrl({ ...args, url: c.url });
    } else if (!npmBuilds) {
      out.url = getSignedUrl({ ...base, url: c.url, policy: independentPolicy() });
    } else {
      out.url = null;
    }
  }
  return out;
});
process.stdout.write(JSON.stringify(results));
