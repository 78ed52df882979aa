// Benchmark fixtures shared by cfcookie and the Node reference endpoint: an issuer key and its
// JWKS, a valid access token, and a CloudFront signing key.   node bench-setup.js DIR
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const dir = process.argv[2];
fs.mkdirSync(dir, { recursive: true });
const b64url = (b) => Buffer.from(b).toString("base64url");
const issuer = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...issuer.publicKey.export({ format: "jwk" }), kid: "bench-1", alg: "RS256", use: "sig" };
fs.writeFileSync(path.join(dir, "jwks.json"), JSON.stringify({ keys: [jwk] }));
const now = Math.floor(Date.now() / 1000);
const claims = { sub: "b1", iss: "https://issuer.bench.invalid/pool", client_id: "bench-client", token_use: "access",
  scope: "openid", iat: now, exp: now + 4 * 3600, username: "bench" };
const input = b64url(JSON.stringify({ alg: "RS256", kid: "bench-1", typ: "JWT" })) + "." + b64url(JSON.stringify(claims));
const token = input + "." + b64url(crypto.sign("RSA-SHA256", Buffer.from(input), issuer.privateKey));
fs.writeFileSync(path.join(dir, "token.txt"), token);
// TOKENS=N: N more tokens, each for its own user (sub), one a line, for per-user resources.
const many = [];
for (let i = 0; i < Number(process.env.TOKENS || 0); i++) {
  const c = { ...claims, sub: `user-${i}`, username: `user${i}` };
  const inp = b64url(JSON.stringify({ alg: "RS256", kid: "bench-1", typ: "JWT" })) + "." + b64url(JSON.stringify(c));
  many.push(inp + "." + b64url(crypto.sign("RSA-SHA256", Buffer.from(inp), issuer.privateKey)));
}
if (many.length) fs.writeFileSync(path.join(dir, "tokens.txt"), many.join("\n") + "\n");
const cf = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
fs.writeFileSync(path.join(dir, "cf-key.pem"), cf.privateKey.export({ type: "pkcs8", format: "pem" }));
console.log(JSON.stringify({ issuer: claims.iss, client_id: claims.client_id, key_pair_id: "KBENCH00000001" }));
