// The reference for the endpoint benchmark: the same /cookie built the way a Node team would,
// from aws-jwt-verify and @aws-sdk/cloudfront-signer, one worker per core (node:cluster).
//   node reference-endpoint.js PORT DIR
"use strict";
const cluster = require("node:cluster");
const http = require("node:http");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { JwtRsaVerifier } = require("aws-jwt-verify");
const { getSignedCookies } = require("@aws-sdk/cloudfront-signer");

const [port, dir] = process.argv.slice(2);
const workers = Number(process.env.WORKERS || os.availableParallelism());
if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  // aws-jwt-verify fetches JWKS only over https; preload it (cfcookie prefetches it at start-up).
  const verifier = JwtRsaVerifier.create({
    issuer: "https://issuer.bench.invalid/pool", audience: null, jwksUri: "https://issuer.bench.invalid/pool/.well-known/jwks.json",
    customJwtCheck: ({ payload }) => {
      if (payload.token_use !== "access") throw new Error("token_use");
      if (payload.client_id !== "bench-client") throw new Error("client_id");
    },
  });
  verifier.cacheJwks(JSON.parse(fs.readFileSync(path.join(dir, "jwks.json"), "utf8")));
  const privateKey = fs.readFileSync(path.join(dir, "cf-key.pem"), "utf8");
  http.createServer(async (req, res) => {
    if (req.url !== "/cookie") { res.writeHead(404); return res.end(); }
    try {
      const token = (req.headers.authorization || "").replace(/^Bearer /, "");
      const payload = await verifier.verify(token);
      const expires = Math.min(payload.exp, Math.floor(Date.now() / 1000) + 3600);
      const cookies = getSignedCookies({
        url: "https://media.example.com/*", keyPairId: "KBENCH00000001", privateKey,
        policy: JSON.stringify({ Statement: [{ Resource: "https://media.example.com/*", Condition: { DateLessThan: { "AWS:EpochTime": expires } } }] }),
      });
      const exp = new Date(expires * 1000).toUTCString();
      res.writeHead(200, {
        "content-type": "application/json", "cache-control": "no-store",
        "set-cookie": Object.entries(cookies).map(([k, v]) => `${k}=${v}; Path=/; Expires=${exp}; Secure; HttpOnly; SameSite=Lax`),
      });
      res.end(JSON.stringify({ expires, resource: "https://media.example.com/*" }));
    } catch (e) {
      if (process.env.DEBUG) console.error(e.message);
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "invalid_token" }));
    }
  }).listen(Number(port), "127.0.0.1");
}
