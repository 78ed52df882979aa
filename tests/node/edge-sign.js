// Reference signer for tests/it/edge.rs: @aws-sdk/cloudfront-signer's getSignedUrl and
// getSignedCookies. Reads a JSON array of cases from argv[2] (see edge_stack.py's `sign` for
// the fields; RSA keys), writes [{"url": ...} | {"cookie": ...}] to stdout.
"use strict";
const fs = require("node:fs");
const { getSignedCookies, getSignedUrl } = require("@aws-sdk/cloudfront-signer");

const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = cases.map((c) => {
  const base = {
    keyPairId: c.key_id,
    privateKey: fs.readFileSync(c.key, "utf8"),
    algorithm: c.hash,
  };
  const policy = c.resource
    ? JSON.stringify({ Statement: [{ Resource: c.resource, Condition: { DateLessThan: { "AWS:EpochTime": c.expires } } }] })
    : undefined;
  const args = policy ? { ...base, policy } : { ...base, url: c.url, dateLessThan: new Date(c.expires * 1000).toISOString() };
  if (c.mode === "url") return { url: getSignedUrl({ ...args, url: c.url }) };
  const cookies = getSignedCookies(args);
  return { cookie: Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join("; ") };
});
process.stdout.write(JSON.stringify(out));
