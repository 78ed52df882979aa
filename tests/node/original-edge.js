// The original design this project replaces, measured for the cost comparison: a Node.js
// Lambda@Edge viewer-request handler that, on every request, reads the private key from SSM
// Parameter Store (Lambda@Edge has no environment variables), verifies the Cognito token with
// aws-jwt-verify and signs with @aws-sdk/cloudfront-signer, which parses the PEM on every call.
//   node original-edge.js SSM_ENDPOINT PARAMETER_NAME JWKS_FILE TOKEN COUNT
// Prints JSON: init_ms (module load to ready) and the duration of each of COUNT invocations.
"use strict";
const t0 = process.hrtime.bigint();
const fs = require("node:fs");
const http = require("node:http");
const { JwtRsaVerifier } = require("aws-jwt-verify");
const { getSignedCookies } = require("@aws-sdk/cloudfront-signer");

const [ssmEndpoint, parameter, jwksFile, token, count] = process.argv.slice(2);

// SSM GetParameter over its JSON protocol. The emulator routes by the credential scope and does
// not check the signature; in AWS the SDK would add SigV4 (more CPU, not less).
function getParameter(name) {
  const body = JSON.stringify({ Name: name, WithDecryption: true });
  const url = new URL(ssmEndpoint);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, path: "/", method: "POST", agent: keepAlive,
      headers: {
        "content-type": "application/x-amz-json-1.1", "x-amz-target": "AmazonSSM.GetParameter",
        authorization: "AWS4-HMAC-SHA256 Credential=testing/20261128/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=0",
        "content-length": Buffer.byteLength(body),
      },
    }, (res) => {
      let data = "";
      res.on("data", (c) => (data += c));
      res.on("end", () => (res.statusCode === 200 ? resolve(JSON.parse(data).Parameter.Value) : reject(new Error(data))));
    });
    req.on("error", reject);
    req.end(body);
  });
}
const keepAlive = new http.Agent({ keepAlive: true });

const verifier = JwtRsaVerifier.create({
  issuer: "https://issuer.bench.invalid/pool", audience: null, jwksUri: "https://issuer.bench.invalid/pool/.well-known/jwks.json",
  customJwtCheck: ({ payload }) => {
    if (payload.token_use !== "access") throw new Error("token_use");
    if (payload.client_id !== "bench-client") throw new Error("client_id");
  },
});
verifier.cacheJwks(JSON.parse(fs.readFileSync(jwksFile, "utf8")));

async function handler(event) {
  const request = event.Records[0].cf.request;
  const auth = (request.headers.authorization || [{ value: "" }])[0].value.replace(/^Bearer /, "");
  const payload = await verifier.verify(auth);
  const privateKey = await getParameter(parameter);
  const expires = Math.min(payload.exp, Math.floor(Date.now() / 1000) + 3600);
  const cookies = getSignedCookies({
    url: "https://media.example.com/*", keyPairId: "KBENCH00000001", privateKey,
    policy: JSON.stringify({ Statement: [{ Resource: "https://media.example.com/*", Condition: { DateLessThan: { "AWS:EpochTime": expires } } }] }),
  });
  const exp = new Date(expires * 1000).toUTCString();
  return {
    status: "200",
    headers: {
      "set-cookie": Object.entries(cookies).map(([k, v]) => ({ key: "Set-Cookie", value: `${k}=${v}; Path=/; Expires=${exp}; Secure; HttpOnly; SameSite=Lax` })),
      "cache-control": [{ key: "Cache-Control", value: "no-store" }],
    },
  };
}

(async () => {
  const initMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const event = { Records: [{ cf: { request: { uri: "/cookie", method: "GET", headers: { authorization: [{ key: "Authorization", value: `Bearer ${token}` }] } } } }] };
  const durations = [];
  for (let i = 0; i < Number(count); i++) {
    const t = process.hrtime.bigint();
    const r = await handler(event);
    durations.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (r.status !== "200" || r.headers["set-cookie"].length !== 3) throw new Error("unexpected response");
  }
  console.log(JSON.stringify({ init_ms: initMs, durations_ms: durations }));
})().catch((e) => { console.error(e.message); process.exit(1); });
