// Reference rate: @aws-sdk/cloudfront-signer getSignedCookies with a custom policy, one core.
"use strict";
const crypto = require("node:crypto");
const { getSignedCookies } = require("@aws-sdk/cloudfront-signer");
const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const pem = privateKey.export({ type: "pkcs8", format: "pem" });
const seconds = Number(process.argv[2] || 5);
const start = process.hrtime.bigint();
let n = 0;
while (Number(process.hrtime.bigint() - start) / 1e9 < seconds) {
  getSignedCookies({
    url: "https://d111111abcdef8.cloudfront.net/*",
    keyPairId: "K2JCJMDEHXQW5F",
    privateKey: pem,
    dateLessThan: new Date((1795345200 + (n % 600)) * 1000).toISOString(),
    dateGreaterThan: new Date(1795341600 * 1000).toISOString(),
  });
  n++;
}
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
console.log(JSON.stringify({ reference: "@aws-sdk/cloudfront-signer", cookies_per_s: n / elapsed }));
